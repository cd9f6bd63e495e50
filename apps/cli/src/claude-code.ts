// Finding and calling Claude Code's `claude` CLI, for `claudemesh install|uninstall` and doctor.
// The pure parts (where claude is, the argv of each call, reading what it prints) stand apart
// from the calls themselves, which go through execa, loaded only when a call is made. Every call
// is bounded (a hung claude never hangs the CLI), reads nothing from stdin and passes the
// environment through: claude keeps its config under $HOME (~/.claude.json) and in the project
// dir (.mcp.json), so the cwd matters too.
//
// What claude 2.1.x prints, and what is read from it (loosely: a line, a key, a word):
//   claude --version                   `2.1.328 (Claude Code)`
//   claude mcp get <name>, exit 0      `<name>:` then indented `Key: value` lines: `Scope: User
//                                      config (available in all your projects)`, `Status: ✔
//                                      Connected`, `Type: stdio`, `Command: /usr/bin/node`,
//                                      `Args: /x/cli.js mcp` (space-joined)
//   claude mcp get <name>, exit 1      `No MCP server named "<name>". …`
//   claude mcp add, exit 1             `MCP server <name> already exists in user config`
//   claude mcp remove, exit 1          `No MCP server named "<name>" in local scope`
import { findCommand } from "./find-command.js";
import { selfCommand } from "./self-command.js";

export const CLAUDE_ENV = "CLAUDEMESH_CLAUDE";
export const MCP_SCOPES = ["user", "project", "local"] as const;
export type McpScope = (typeof MCP_SCOPES)[number];

/** How long one claude call may take (`mcp get` starts the server to health-check it). */
export const CLAUDE_TIMEOUT_MS = 15_000;

export const CLAUDE_INSTALL_HINT = `install Claude Code (npm install -g @anthropic-ai/claude-code), or set ${CLAUDE_ENV} to its path`;

export type ClaudeLookup = { readonly path: string } | { readonly missing: string };

/** Where claude is: $CLAUDEMESH_CLAUDE when set (never a fallback to PATH then), else PATH. */
export function findClaude(env: NodeJS.ProcessEnv, cwd: string): ClaudeLookup {
  const override = env[CLAUDE_ENV];
  if (override !== undefined && override !== "") {
    const path = findCommand(override, env, cwd);
    return path !== undefined ? { path } : { missing: `${CLAUDE_ENV}=${override} is not an executable file` };
  }
  const path = findCommand("claude", env, cwd);
  return path !== undefined ? { path } : { missing: "no `claude` command on PATH" };
}

/** What Claude Code is to run: this CLI's `mcp` command, through the Node that runs it now. */
export function claudemeshServer(): string[] {
  const { node, cli } = selfCommand();
  return [node, cli, "mcp"];
}

// ── argv ────────────────────────────────────────────────────────────────────

export const versionArgs = (): string[] => ["--version"];

export const mcpGetArgs = (name: string): string[] => ["mcp", "get", name];

/** `mcp add --scope <s> <name> -- <command> <args…>`: after `--`, nothing is read as claude's option. */
export function mcpAddArgs(scope: McpScope, name: string, server: readonly string[]): string[] {
  return ["mcp", "add", "--scope", scope, name, "--", ...server];
}

export const mcpRemoveArgs = (scope: McpScope, name: string): string[] => ["mcp", "remove", "--scope", scope, name];

// ── reading what claude prints ──────────────────────────────────────────────

// biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes are what is removed
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

const plain = (text: string) => text.replace(ANSI, "");

/** The first non-empty line, trimmed ("" when there is none). */
export function firstLine(text: string): string {
  return (
    plain(text)
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l !== "") ?? ""
  );
}

export interface ClaudeVersion {
  /** `2.1.328`; undefined when the line does not start with a version. */
  readonly version: string | undefined;
  /** The line as claude printed it: `2.1.328 (Claude Code)`. */
  readonly text: string;
}

export function parseVersion(stdout: string): ClaudeVersion {
  const text = firstLine(stdout);
  return { version: /^v?(\d+\.\d+\.\d+\S*)/.exec(text)?.[1], text };
}

export type McpStatus = "connected" | "failed" | "pending" | "unknown";

export interface McpEntry {
  /** undefined when claude names a scope this code does not know. */
  readonly scope: McpScope | undefined;
  /** As claude says it: `User config (available in all your projects)`. */
  readonly scopeText: string;
  readonly status: McpStatus;
  /** As claude says it: `✔ Connected`, `✘ Failed to connect`. */
  readonly statusText: string;
  readonly command: string | undefined;
  /** The arguments, space-joined as claude prints them ("" for none). */
  readonly args: string;
}

export function parseScope(text: string): McpScope | undefined {
  const word = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase();
  return (MCP_SCOPES as readonly string[]).includes(word ?? "") ? (word as McpScope) : undefined;
}

export function parseStatus(text: string): McpStatus {
  if (/fail|error|✘|✗/i.test(text)) return "failed";
  if (/pending|⏸/i.test(text)) return "pending";
  if (/connected|✔|✓/i.test(text)) return "connected";
  return "unknown";
}

/** What `claude mcp get <name>` printed on success; undefined when it names neither a command nor a scope. */
export function parseMcpGet(stdout: string): McpEntry | undefined {
  const fields = new Map<string, string>();
  for (const line of plain(stdout).split("\n")) {
    const m = /^\s+([A-Za-z][A-Za-z ]*?):[ \t]*(.*)$/.exec(line);
    const key = m?.[1]?.toLowerCase();
    if (m !== null && key !== undefined && !fields.has(key)) fields.set(key, (m[2] ?? "").trim());
  }
  const scopeText = fields.get("scope") ?? "";
  const command = fields.get("command") || undefined;
  if (command === undefined && scopeText === "") return undefined;
  const statusText = fields.get("status") ?? "";
  return {
    scope: parseScope(scopeText),
    scopeText,
    status: parseStatus(statusText),
    statusText,
    command,
    args: fields.get("args") ?? "",
  };
}

/** The command line claude runs for this entry, as it prints it. */
export function entryCommand(entry: McpEntry): string {
  return [entry.command ?? "?", entry.args].filter((w) => w !== "").join(" ");
}

/** Does the entry run exactly these words? (Compared as claude prints them: space-joined.) */
export function runsCommand(entry: McpEntry, server: readonly string[]): boolean {
  const [command, ...args] = server;
  return entry.command === command && entry.args === args.join(" ");
}

/** The scope a failed `claude mcp add` says the server already exists in. */
export function existingScope(output: string): McpScope | undefined {
  const m = /already exists in (\w+)/i.exec(plain(output));
  return m?.[1] !== undefined ? parseScope(m[1]) : undefined;
}

/** Does the output of a failed get or remove say there is no such server? */
export function saysNoSuchServer(output: string): boolean {
  return /no (\S+ )?mcp server|not found/i.test(plain(output));
}

// ── calls ───────────────────────────────────────────────────────────────────

export interface Claude {
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly timeoutMs?: number;
}

export interface ClaudeRun {
  readonly ok: boolean;
  readonly exitCode: number | undefined;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** Why it failed, in one line (`""` when it did not). */
  readonly detail: string;
}

export async function runClaude(claude: Claude, args: readonly string[]): Promise<ClaudeRun> {
  const { execa } = await import("execa");
  const timeout = claude.timeoutMs ?? CLAUDE_TIMEOUT_MS;
  const result = await execa(claude.path, args, {
    cwd: claude.cwd,
    env: claude.env,
    extendEnv: false,
    reject: false,
    timeout,
    stdin: "ignore",
    encoding: "utf8",
  });
  const stdout = String(result.stdout ?? "");
  const stderr = String(result.stderr ?? "");
  const ok = !result.failed && result.exitCode === 0;
  const call = `claude ${args.join(" ")}`;
  const detail = ok
    ? ""
    : result.timedOut
      ? `${call}: no answer within ${timeout / 1000} s`
      : result.exitCode === undefined
        ? `${call}: ${firstLine(result.originalMessage ?? result.shortMessage ?? "") || "could not run"}`
        : firstLine(stderr) || firstLine(stdout) || `${call}: exit ${result.exitCode}`;
  return { ok, exitCode: result.exitCode, timedOut: result.timedOut, stdout, stderr, detail };
}

export type VersionOutcome = ({ readonly ok: true } & ClaudeVersion) | { readonly ok: false; readonly detail: string };

export async function claudeVersion(claude: Claude): Promise<VersionOutcome> {
  const run = await runClaude(claude, versionArgs());
  return run.ok ? { ok: true, ...parseVersion(run.stdout) } : { ok: false, detail: run.detail };
}

export type McpLookup =
  | { readonly kind: "present"; readonly entry: McpEntry | undefined }
  | { readonly kind: "absent" }
  | { readonly kind: "error"; readonly detail: string };

/** What a `claude mcp get` run says: present (parsed as far as possible), absent, or no answer. */
export function mcpLookup(run: ClaudeRun): McpLookup {
  if (run.ok) return { kind: "present", entry: parseMcpGet(run.stdout) };
  if (run.exitCode !== undefined && !run.timedOut && saysNoSuchServer(`${run.stderr}\n${run.stdout}`)) {
    return { kind: "absent" };
  }
  return { kind: "error", detail: run.detail };
}

/** The server Claude Code would use from the cwd (`claude mcp get` shows one scope only). */
export async function mcpGet(claude: Claude, name: string): Promise<McpLookup> {
  return mcpLookup(await runClaude(claude, mcpGetArgs(name)));
}

export function mcpAdd(claude: Claude, scope: McpScope, name: string, server: readonly string[]): Promise<ClaudeRun> {
  return runClaude(claude, mcpAddArgs(scope, name, server));
}

export function mcpRemove(claude: Claude, scope: McpScope, name: string): Promise<ClaudeRun> {
  return runClaude(claude, mcpRemoveArgs(scope, name));
}
