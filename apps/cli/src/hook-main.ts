// `claudemesh hook <Event>` as Claude Code runs it under `claudemesh launch`: the same command,
// through an entry of its own (dist/hook.cjs) that loads only the hook and its context, not the
// CLI's parsers and dispatcher. It runs on every prompt and tool call, where each module loaded
// costs every time (benchmark M5: ~7 ms of ~30 over `node -e 0`).
import { hookCommand } from "./commands/hook.js";
import { processContext } from "./context.js";

// A reader that went away (EPIPE) is the hook's own failure to report nothing: it exits 0.
process.stdout.on("error", () => {});

hookCommand(processContext(), process.argv[2] ?? "").then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Never exit 2 (Claude Code would block the prompt): a hook that broke says so and gets out of the way.
    process.stderr.write(`claudemesh hook: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
