// Doctor's Claude Code checks: is `claude` there (and which version), and is claudemesh installed
// as one of its MCP servers (`claudemesh install`). Neither is a failure: `claudemesh launch`
// wires the server into each session it starts, and runs programs other than claude too. Each
// claude call is bounded, so doctor answers even when claude hangs. `claude mcp get` health-checks
// the server it shows, so it starts `claudemesh mcp` (which answers without a daemon) for a moment;
// and claude, like any run of it, may write its own config under $HOME.
import {
  CLAUDE_ENV,
  CLAUDE_INSTALL_HINT,
  type Claude,
  claudeVersion,
  entryCommand,
  findClaude,
  type McpLookup,
  mcpGet,
  runsCommand,
  type VersionOutcome,
} from "../claude-code.js";
import { MCP_SERVER_NAME } from "../launch-wiring.js";
import type { Check } from "./checks.js";

export interface ClaudeCheckInput {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** The command `claudemesh install` registers (`<node> <cli> mcp`). */
  readonly mcpServer: readonly string[];
}

const VERSION_TIMEOUT_MS = 5_000;
const GET_TIMEOUT_MS = 10_000;

const ok = (name: string, finding: string): Check => ({ name, status: "ok", finding, fix: null });

/** The "claude" check, from what the lookup and `claude --version` said. Pure. */
export function claudeCheck(lookup: { path: string } | { missing: string }, version?: VersionOutcome): Check {
  if ("missing" in lookup) {
    const fix = lookup.missing.startsWith(CLAUDE_ENV)
      ? `point ${CLAUDE_ENV} at the claude binary, or unset it`
      : CLAUDE_INSTALL_HINT;
    return {
      name: "claude",
      status: "warn",
      finding: `Claude Code not found (${lookup.missing}): \`claudemesh install\` and \`claudemesh launch -- claude\` need it`,
      fix,
    };
  }
  if (version === undefined || !version.ok) {
    return {
      name: "claude",
      status: "warn",
      finding: `${lookup.path} does not run: ${version?.ok === false ? version.detail : "not asked"}`,
      fix: "reinstall Claude Code",
    };
  }
  return ok("claude", `${lookup.path}: ${version.text}`);
}

/** The "claude-mcp" check, from what `claude mcp get claudemesh` said. Pure. */
export function claudeMcpCheck(lookup: McpLookup | undefined, server: readonly string[]): Check {
  const name = "claude-mcp";
  if (lookup === undefined) return ok(name, "skipped: no claude to ask");
  if (lookup.kind === "error") {
    return {
      name,
      status: "warn",
      finding: `cannot ask Claude Code for its MCP servers: ${lookup.detail}`,
      fix: `claude mcp get ${MCP_SERVER_NAME}`,
    };
  }
  if (lookup.kind === "absent") {
    return ok(
      name,
      "claudemesh is not installed in Claude Code: `claudemesh launch` wires it into each session it starts " +
        "(`claudemesh install` would add it to every claude)",
    );
  }
  const entry = lookup.entry;
  if (entry === undefined) return ok(name, "installed in Claude Code (claude mcp get printed nothing readable)");
  const where = entry.scope !== undefined ? `${entry.scope} scope` : entry.scopeText || "an unknown scope";
  const reinstall = `claudemesh install${entry.scope !== undefined ? ` --scope ${entry.scope}` : ""}`;
  if (!runsCommand(entry, server)) {
    return {
      name,
      status: "warn",
      finding: `installed in Claude Code (${where}) with another command: ${entryCommand(entry)}`,
      fix: `${reinstall} (points it at this claudemesh)`,
    };
  }
  if (entry.status === "failed") {
    return {
      name,
      status: "warn",
      finding: `installed in Claude Code (${where}), but it cannot connect: ${entry.statusText}`,
      fix: `run \`${entryCommand(entry)}\` by hand to see why, or claude mcp get ${MCP_SERVER_NAME}`,
    };
  }
  const status = entry.statusText !== "" ? `; ${entry.statusText}` : "";
  return ok(name, `installed in Claude Code (${where}): ${entryCommand(entry)}${status}`);
}

export async function claudeChecks(input: ClaudeCheckInput): Promise<Check[]> {
  const lookup = findClaude(input.env, input.cwd);
  if ("missing" in lookup) return [claudeCheck(lookup), claudeMcpCheck(undefined, input.mcpServer)];
  const claude = (timeoutMs: number): Claude => ({ path: lookup.path, env: input.env, cwd: input.cwd, timeoutMs });
  const [version, registered] = await Promise.all([
    claudeVersion(claude(VERSION_TIMEOUT_MS)),
    mcpGet(claude(GET_TIMEOUT_MS), MCP_SERVER_NAME),
  ]);
  return [claudeCheck(lookup, version), claudeMcpCheck(registered, input.mcpServer)];
}
