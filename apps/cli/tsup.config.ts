import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string };

// One self-contained package: the CLI and the daemon it starts, with every dependency bundled,
// so `npm install -g claudemesh` needs nothing else. Commands are split into chunks loaded on
// demand: every CLI call is a fresh process and only pays for the code it runs.
export default defineConfig({
  entry: { cli: "src/cli.ts", daemon: "src/daemon-main.ts", hook: "src/hook-main.ts" },
  format: ["esm"],
  target: "node20",
  platform: "node",
  splitting: true,
  noExternal: [/.*/],
  sourcemap: false,
  clean: true,
  define: { __CLI_VERSION__: JSON.stringify(version), __DAEMON_VERSION__: JSON.stringify(version) },
  // Bundled CommonJS dependencies (commander, prom-client) call require() for Node built-ins.
  // Bundle the workspace packages from their TypeScript sources ("source" export condition), so
  // that each module can be dropped when unused: `sessions list` must not load the reaper.
  esbuildOptions(options) {
    options.conditions = ["source"];
  },
  banner: {
    js: 'import { createRequire as __cmCreateRequire } from "node:module"; const require = __cmCreateRequire(import.meta.url);',
  },
});
