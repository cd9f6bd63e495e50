// dist/daemon.js: the daemon program the CLI starts, shipped inside the claudemesh package.
import "@claudemesh/daemon/main";
