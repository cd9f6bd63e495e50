import { readFileSync } from "node:fs";
import { defineConfig, type Options } from "tsup";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string };

// One self-contained package: the CLI and the daemon it starts, with every dependency bundled,
// so `npm install -g claudemesh` needs nothing else. Commands are split into chunks loaded on
// demand: every CLI call is a fresh process and only pays for the code it runs.
const shared: Options = {
  target: "node20",
  platform: "node",
  noExternal: [/.*/],
  sourcemap: false,
  define: { __CLI_VERSION__: JSON.stringify(version), __DAEMON_VERSION__: JSON.stringify(version) },
  // Bundle the workspace packages from their TypeScript sources ("source" export condition), so
  // that each module can be dropped when unused: `sessions list` must not load the reaper.
  esbuildOptions(options) {
    options.conditions = ["source"];
  },
};

// Both builds write to dist/ at once: the package's build script empties it first, not tsup.
export default defineConfig([
  {
    ...shared,
    entry: { cli: "src/cli.ts", daemon: "src/daemon-main.ts" },
    format: ["esm"],
    splitting: true,
    // Bundled CommonJS dependencies (commander, prom-client) call require() for Node built-ins.
    banner: {
      js: 'import { createRequire as __cmCreateRequire } from "node:module"; const require = __cmCreateRequire(import.meta.url);',
    },
  },
  // The hook Claude Code runs on every prompt and tool call (launch wires it): one CommonJS file,
  // which Node loads faster than an ES module graph (M5: ~1.2× node -e 0 against ~1.35×).
  {
    ...shared,
    entry: { hook: "src/hook-main.ts" },
    format: ["cjs"],
    splitting: false,
    outExtension: () => ({ js: ".cjs" }),
  },
]);
