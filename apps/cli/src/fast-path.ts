// A parser for the few command lines that run all day (`sessions list`, `launch`, `--version`,
// ...), so that they do not pay for loading commander (~8 ms of a ~50 ms process). It accepts
// only exact, well-formed shapes and returns undefined for anything else (help, errors, rare
// commands, unusual spellings), which commander then parses. A test checks that both parsers
// agree on every shape this one accepts.
import type { LaunchOptions } from "./commands/launch.js";
import type { Invocation } from "./invocation.js";
import type { MessageMode } from "./launch-wiring.js";

type Values = Map<string, string[]>;

export const FAST_MESSAGE_MODES: readonly string[] = ["push", "pull", "off"];

/**
 * Reads `--flag` and `--opt value` / `--opt=value` options from `args`. Stops at `--` or at the
 * first positional; undefined on anything it does not know, short options included.
 */
function readOptions(
  args: readonly string[],
  flags: ReadonlySet<string>,
  valued: ReadonlySet<string>,
  repeatable: ReadonlySet<string> = new Set(),
): { values: Values; rest: string[] } | undefined {
  const values: Values = new Map();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") return { values, rest: args.slice(i + 1) };
    if (!arg.startsWith("-")) break;
    // Short options (`-h`, `-V`, ...) are commander's: `launch -h` asks for help, not for a
    // program named "-h".
    if (!arg.startsWith("--")) return undefined;
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    let value: string;
    if (flags.has(name) && eq < 0) value = "";
    else if (valued.has(name)) {
      if (eq >= 0) value = arg.slice(eq + 1);
      else {
        const next = args[i + 1];
        if (next === undefined || next.startsWith("-")) return undefined;
        value = next;
        i++;
      }
    } else return undefined;
    const seen = values.get(name);
    if (seen && !repeatable.has(name)) return undefined;
    values.set(name, [...(seen ?? []), value]);
  }
  return { values, rest: args.slice(i) };
}

const one = (values: Values, name: string) => values.get(name)?.[0];
const flag = (values: Values, name: string) => (values.has(name) ? { [name.slice(2)]: true } : {});

function onlyOptions(args: readonly string[], flags: string[], valued: string[] = []) {
  const parsed = readOptions(args, new Set(flags), new Set(valued));
  return parsed && parsed.rest.length === 0 ? parsed.values : undefined;
}

function launch(args: readonly string[]): Invocation | undefined {
  const parsed = readOptions(
    args,
    new Set(["--ask-permission"]),
    new Set(["--name", "--mesh", "--role", "--group", "--session-id", "--summary", "--inbound", "--message-mode"]),
    new Set(["--group"]),
  );
  if (parsed === undefined) return undefined;
  const { values, rest } = parsed;
  const messageMode = one(values, "--message-mode") as MessageMode | undefined;
  // An unknown mode is commander's to explain. The modes are spelled out, not imported from
  // launch-wiring: every command's start-up would load that module (a test checks both agree).
  if (messageMode !== undefined && !FAST_MESSAGE_MODES.includes(messageMode)) return undefined;
  const options: LaunchOptions = {
    group: values.get("--group") ?? [],
    ...(values.has("--name") && { name: one(values, "--name") }),
    ...(values.has("--mesh") && { mesh: one(values, "--mesh") }),
    ...(values.has("--role") && { role: one(values, "--role") }),
    ...(values.has("--session-id") && { sessionId: one(values, "--session-id") }),
    ...(values.has("--summary") && { summary: one(values, "--summary") }),
    ...(values.has("--inbound") && { inbound: one(values, "--inbound") }),
    ...(messageMode !== undefined && { messageMode }),
    ...(values.has("--ask-permission") && { askPermission: true }),
  };
  return { name: "launch", command: rest, options };
}

export function parseFast(argv: readonly string[]): Invocation | undefined {
  const [first, second, ...rest] = argv;
  if (argv.length === 1 && (first === "--version" || first === "-V")) return { name: "version" };
  if (first === "launch") return launch(argv.slice(1));
  // Claude Code runs `hook <Event>` on every prompt and tool call: the fast path is the point.
  if (first === "hook" && argv.length === 2 && second !== undefined && !second.startsWith("-")) {
    return { name: "hook", event: second };
  }
  if (first === "mcp" && argv.length === 1) return { name: "mcp" };
  if (first === "sessions" && (second === "list" || second === "ls")) {
    const values = onlyOptions(rest, ["--json"], ["--mesh"]);
    if (values === undefined) return undefined;
    const mesh = one(values, "--mesh");
    return { name: "sessions list", options: { ...(mesh !== undefined && { mesh }), ...flag(values, "--json") } };
  }
  if (first === "sessions" && second === "me") {
    const values = onlyOptions(rest, ["--json"]);
    return values && { name: "sessions me", options: flag(values, "--json") };
  }
  if (first === "daemon" && second === "status") {
    const values = onlyOptions(rest, ["--json"]);
    return values && { name: "daemon status", options: flag(values, "--json") };
  }
  return undefined;
}
