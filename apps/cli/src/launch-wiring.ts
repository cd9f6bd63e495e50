// What `claudemesh launch` adds to a `claude` command line so that the session it starts has the
// mesh inside: the claudemesh MCP server (inline --mcp-config), the hooks that surface messages
// (inline --settings), the session id shared by claudemesh and Claude Code (--session-id), the
// channel wake-ups (--dangerously-load-development-channels, push mode only) and the pre-allowed
// tools (--allowedTools). Pure: the caller hands in the paths and reads back argv and warnings.
//
// The user's own arguments always win and nothing they said is said twice. Ours go first, each in
// the `--flag=value` form: several of claude's options take many values (`--allowedTools
// <tools...>`), and a separate value would let them swallow the user's prompt that follows.
import { basename, dirname, join } from "node:path";
import { shellCommand } from "./self-command.js";

export const MESSAGE_MODES = ["push", "pull", "off"] as const;
export type MessageMode = (typeof MESSAGE_MODES)[number];

export const isMessageMode = (value: string): value is MessageMode =>
  (MESSAGE_MODES as readonly string[]).includes(value);

/** The MCP server's name in Claude Code: its tools are `mcp__claudemesh__mesh_*`. */
export const MCP_SERVER_NAME = "claudemesh";

/** The hook events `claudemesh hook` answers. */
export const HOOK_EVENTS = ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"] as const;

/** Seconds Claude Code gives a hook; ours answer in tens of milliseconds or give up after ~2 s. */
const HOOK_TIMEOUT_SECONDS = 10;

/** claude's subcommands: a command line that names one is not a session and gets no wiring. */
const CLAUDE_SUBCOMMANDS = new Set([
  "agents",
  "attach",
  "auth",
  "auto-mode",
  "config",
  "doctor",
  "gateway",
  "import",
  "install",
  "logs",
  "mcp",
  "migrate-installer",
  "plugin",
  "plugins",
  "purge",
  "respawn",
  "rm",
  "setup-token",
  "stop",
  "kill",
  "update",
  "upgrade",
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isClaude(program: string): boolean {
  return basename(program) === "claude";
}

/** Does the user's argv give this option (`--opt`, `--opt=v`, or one of its short forms)? */
function hasOption(args: readonly string[], ...names: string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    for (const name of names) {
      if (arg === name || (name.startsWith("--") && arg.startsWith(`${name}=`))) return true;
    }
  }
  return false;
}

/** The value the user gave an option, in either spelling. */
function optionValue(args: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") return undefined;
    for (const name of names) {
      if (arg === name) {
        const next = args[i + 1];
        return next !== undefined && !next.startsWith("-") ? next : undefined;
      }
      if (name.startsWith("--") && arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    }
  }
  return undefined;
}

/** Is this a claude command line that starts a session (not `claude mcp list`, `claude doctor`)? */
export function startsClaudeSession(argv: readonly string[]): boolean {
  if (argv.length === 0 || !isClaude(argv[0] as string)) return false;
  const first = argv[1];
  return first === undefined || !CLAUDE_SUBCOMMANDS.has(first);
}

/**
 * The session id the user's own claude arguments already fix: `--session-id <uuid>`, or
 * `--resume <uuid>` without `--fork-session` (the conversation keeps its id, so the claudemesh
 * session keeps its inbox). Undefined when they fix none.
 */
export function sessionIdFromClaudeArgs(args: readonly string[]): string | undefined {
  const own = optionValue(args, "--session-id");
  if (own !== undefined && UUID.test(own)) return own.toLowerCase();
  if (hasOption(args, "--fork-session")) return undefined;
  const resumed = optionValue(args, "--resume", "-r");
  return resumed !== undefined && UUID.test(resumed) ? resumed.toLowerCase() : undefined;
}

export interface WiringInput {
  /** `claude` and the user's arguments. */
  readonly argv: readonly string[];
  readonly mode: MessageMode;
  readonly askPermission: boolean;
  /** The claudemesh session id (a UUID when claude may share it). */
  readonly sessionId: string;
  /** How to run this CLI: absolute node and script paths. */
  readonly node: string;
  readonly cli: string;
  /** The session's environment, given to the MCP server explicitly: it acts as the session whatever claude passes on. */
  readonly serverEnv: Readonly<Record<string, string>>;
}

export interface Wiring {
  readonly argv: string[];
  readonly warnings: string[];
}

export function mcpConfig(input: Pick<WiringInput, "node" | "cli" | "serverEnv">): string {
  return JSON.stringify({
    mcpServers: {
      [MCP_SERVER_NAME]: { type: "stdio", command: input.node, args: [input.cli, "mcp"], env: input.serverEnv },
    },
  });
}

/**
 * `claudemesh hook` through its own entry beside the CLI's (dist/hook.cjs): the same command,
 * without the CLI's parsers, since it runs on every prompt and tool call.
 */
export function hookEntry(cli: string): string {
  return join(dirname(cli), "hook.cjs");
}

export function hookSettings(input: Pick<WiringInput, "node" | "cli">): string {
  const hooks = Object.fromEntries(
    HOOK_EVENTS.map((event) => [
      event,
      [
        {
          hooks: [
            {
              type: "command",
              command: shellCommand([input.node, hookEntry(input.cli), event]),
              timeout: HOOK_TIMEOUT_SECONDS,
            },
          ],
        },
      ],
    ]),
  );
  return JSON.stringify({ hooks });
}

/** The claude argv for a launched session. Programs other than a claude session come back as they are. */
export function wireClaude(input: WiringInput): Wiring {
  const [program, ...args] = input.argv;
  if (program === undefined || !startsClaudeSession(input.argv) || input.mode === "off") {
    return { argv: [...input.argv], warnings: [] };
  }
  const ours: string[] = [];
  const warnings: string[] = [];
  if (hasOption(args, "--mcp-config")) {
    warnings.push(
      "claudemesh's MCP server is not added next to your own --mcp-config: the mesh tools come from a claudemesh server installed in Claude Code (claudemesh install) or named in your config",
    );
  } else {
    ours.push(`--mcp-config=${mcpConfig(input)}`);
  }
  if (hasOption(args, "--settings")) {
    warnings.push(
      "your own --settings comes after claudemesh's and may replace its hooks (messages then reach claude through its tools only)",
    );
  }
  ours.push(`--settings=${hookSettings(input)}`);
  const resumes = hasOption(args, "--session-id", "--resume", "-r", "--continue", "-c");
  if (!resumes && UUID.test(input.sessionId)) ours.push(`--session-id=${input.sessionId}`);
  if (input.mode === "push" && !hasOption(args, "--dangerously-load-development-channels")) {
    ours.push(`--dangerously-load-development-channels=server:${MCP_SERVER_NAME}`);
  }
  if (!input.askPermission) ours.push(`--allowedTools=mcp__${MCP_SERVER_NAME}`);
  return { argv: [program, ...ours, ...args], warnings };
}
