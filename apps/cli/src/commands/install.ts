// `claudemesh install|uninstall [--scope user|project|local] [--print]`: register this CLI's MCP
// server (`<node> <cli> mcp`, absolute paths) with Claude Code through its own `claude mcp add`,
// and take it out again (`claude mcp remove`). Both are idempotent: an entry that already runs
// this very command is left alone, one that runs another (an older install's path) is replaced.
// `--print` shows the claude command and runs nothing, so it works without Claude Code.
import {
  CLAUDE_INSTALL_HINT,
  type Claude,
  claudemeshServer,
  entryCommand,
  existingScope,
  findClaude,
  type McpScope,
  mcpAdd,
  mcpAddArgs,
  mcpGet,
  mcpRemove,
  mcpRemoveArgs,
  runsCommand,
  saysNoSuchServer,
} from "../claude-code.js";
import { type CliContext, warn } from "../context.js";
import { CliError, EXIT } from "../exit-codes.js";
import type { InstallOptions } from "../invocation.js";
import { MCP_SERVER_NAME } from "../launch-wiring.js";
import { shellCommand } from "../self-command.js";

const NAME = MCP_SERVER_NAME;

function claudeFor(ctx: CliContext, print: string): Claude {
  const found = findClaude(ctx.env, ctx.cwd);
  if ("missing" in found) {
    throw new CliError(
      `cannot find Claude Code (${found.missing}): ${CLAUDE_INSTALL_HINT}; ` +
        `\`claudemesh ${print} --print\` shows the claude command to run by hand`,
      EXIT.commandNotFound,
    );
  }
  return { path: found.path, env: ctx.env, cwd: ctx.cwd };
}

const scopeWords = (scope: McpScope) => `${scope} scope`;

const AFTER_INSTALL =
  "its tools act only inside `claudemesh launch` sessions (outside one, each tool says it is not in a session)\n";

async function add(claude: Claude, scope: McpScope, server: readonly string[]): Promise<void> {
  const run = await mcpAdd(claude, scope, NAME, server);
  if (!run.ok) throw new CliError(`claude mcp add failed: ${run.detail}`);
}

async function remove(claude: Claude, scope: McpScope): Promise<void> {
  const run = await mcpRemove(claude, scope, NAME);
  if (!run.ok) throw new CliError(`claude mcp remove failed: ${run.detail}`);
}

export async function installCommand(ctx: CliContext, options: InstallOptions): Promise<number> {
  const { scope } = options;
  const server = claudemeshServer();
  const line = shellCommand(server);
  if (options.print) {
    ctx.stdout.write(`${shellCommand(["claude", ...mcpAddArgs(scope, NAME, server)])}\n`);
    return EXIT.ok;
  }
  const claude = claudeFor(ctx, "install");
  const before = await mcpGet(claude, NAME);
  if (before.kind === "error") throw new CliError(`cannot ask Claude Code for its MCP servers: ${before.detail}`);
  const shown = before.kind === "present" ? before.entry : undefined;

  if (shown !== undefined && shown.scope === scope) {
    if (runsCommand(shown, server)) {
      ctx.stdout.write(`claudemesh is already installed in Claude Code (${scopeWords(scope)}): ${line}\n`);
      ctx.stdout.write(AFTER_INSTALL);
      return EXIT.ok;
    }
    await remove(claude, scope);
    await add(claude, scope, server);
    ctx.stdout.write(
      `replaced the claudemesh MCP server in Claude Code (${scopeWords(scope)}): it ran ${entryCommand(shown)}, now ${line}\n`,
    );
    ctx.stdout.write(AFTER_INSTALL);
    return EXIT.ok;
  }

  // Not there, or `mcp get` showed another scope's entry, which may hide one in this scope.
  const run = await mcpAdd(claude, scope, NAME, server);
  if (run.ok) {
    ctx.stdout.write(`installed the claudemesh MCP server in Claude Code (${scopeWords(scope)}): ${line}\n`);
  } else if (existingScope(`${run.stderr}\n${run.stdout}`) === scope) {
    await remove(claude, scope);
    await add(claude, scope, server);
    ctx.stdout.write(`reinstalled the claudemesh MCP server in Claude Code (${scopeWords(scope)}): ${line}\n`);
  } else {
    throw new CliError(`claude mcp add failed: ${run.detail}`);
  }
  if (shown !== undefined && !runsCommand(shown, server)) {
    warn(
      ctx,
      `note: Claude Code also has a claudemesh server in ${shown.scope ?? shown.scopeText} scope, running ` +
        `${entryCommand(shown)}; \`claude mcp get claudemesh\` shows which one it uses here`,
    );
  }
  if (scope === "project") {
    warn(ctx, "note: .mcp.json is meant to be shared, and now holds this machine's node and claudemesh paths");
  }
  ctx.stdout.write(AFTER_INSTALL);
  return EXIT.ok;
}

export async function uninstallCommand(ctx: CliContext, options: InstallOptions): Promise<number> {
  const { scope } = options;
  if (options.print) {
    ctx.stdout.write(`${shellCommand(["claude", ...mcpRemoveArgs(scope, NAME)])}\n`);
    return EXIT.ok;
  }
  const claude = claudeFor(ctx, "uninstall");
  const run = await mcpRemove(claude, scope, NAME);
  if (run.ok) {
    ctx.stdout.write(`removed the claudemesh MCP server from Claude Code (${scopeWords(scope)})\n`);
    return EXIT.ok;
  }
  if (run.exitCode === undefined || run.timedOut || !saysNoSuchServer(`${run.stderr}\n${run.stdout}`)) {
    throw new CliError(`claude mcp remove failed: ${run.detail}`);
  }
  ctx.stdout.write(`claudemesh is not installed in Claude Code (${scopeWords(scope)}): nothing to remove\n`);
  // Installed in another scope? Say where, so that the user is not left wondering.
  const other = await mcpGet(claude, NAME);
  if (other.kind === "present" && other.entry?.scope !== undefined && other.entry.scope !== scope) {
    warn(
      ctx,
      `note: it is installed in ${scopeWords(other.entry.scope)}: claudemesh uninstall --scope ${other.entry.scope}`,
    );
  }
  return EXIT.ok;
}
