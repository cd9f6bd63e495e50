// `claudemesh install|uninstall` against the real Claude Code CLI (tools/claude-code, pinned),
// each test with its own HOME (where claude keeps ~/.claude.json) and cwd (where a project's
// .mcp.json goes): what claude itself then lists, gets and health-checks is the proof.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnCaptured } from "@claudemesh/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI, type Result, type Sandbox, sandbox } from "../support/harness.js";

const CLAUDE = fileURLToPath(new URL("../../../../tools/claude-code/node_modules/.bin/claude", import.meta.url));
const ENSURE = fileURLToPath(new URL("../../../../tools/claude-code/ensure.mjs", import.meta.url));

beforeAll(() => {
  if (!existsSync(CLAUDE)) execFileSync(process.execPath, [ENSURE], { stdio: "inherit", timeout: 300_000 });
}, 300_000);

/** What `claudemesh install` registers: this Node and the built CLI, by absolute path. */
const SERVER = [process.execPath, realpathSync(CLI), "mcp"];
const SERVER_LINE = SERVER.join(" ");

function home(sb: Sandbox): string {
  const dir = join(sb.root, "h");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The environment of both claudemesh and claude here: the sandbox's HOME, no config dir of the developer's. */
function env(sb: Sandbox, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    HOME: home(sb),
    CLAUDE_CONFIG_DIR: undefined,
    XDG_CONFIG_HOME: undefined,
    CLAUDEMESH_CLAUDE: CLAUDE,
    ...extra,
  };
}

const cm = (sb: Sandbox, args: string[], extra: Record<string, string | undefined> = {}) =>
  sb.run(args, { env: env(sb, extra) });

/** The real claude, in the sandbox's HOME and work dir. */
function claude(sb: Sandbox, args: string[]): Promise<Result> {
  const full: NodeJS.ProcessEnv = { ...sb.env };
  for (const [key, value] of Object.entries(env(sb))) {
    if (value === undefined) delete full[key];
    else full[key] = value;
  }
  return spawnCaptured(CLAUDE, args, { env: full, cwd: sb.work, stdin: "ignore", timeoutMs: 60_000 }).closed;
}

/** The lines of `claude mcp list` about claudemesh. */
async function listed(sb: Sandbox): Promise<string[]> {
  const res = await claude(sb, ["mcp", "list"]);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split("\n").filter((l) => /^claudemesh\b/.test(l));
}

const isConnected = (line: string) => /[✓✔]\s*Connected/.test(line);

/** ~/.claude.json's user-scope servers. */
function userServers(sb: Sandbox): Record<string, { command: string; args: string[] }> {
  const file = join(home(sb), ".claude.json");
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, "utf8")) as { mcpServers?: Record<string, never> }).mcpServers ?? {};
}

/** PATH without claude, and CLAUDEMESH_CLAUDE naming a file that is not there. */
function noClaude(sb: Sandbox): Record<string, string> {
  const empty = join(sb.root, "empty-bin");
  mkdirSync(empty, { recursive: true });
  return { PATH: empty, CLAUDEMESH_CLAUDE: join(sb.root, "no-such-claude") };
}

describe("claudemesh install|uninstall", () => {
  it("install registers `<node> <cli> mcp` in user scope, and the real claude health-checks it as connected", async (context) => {
    const sb = sandbox(context);
    const res = await cm(sb, ["install"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe(
      `installed the claudemesh MCP server in Claude Code (user scope): ${SERVER_LINE}\n` +
        "its tools act only inside `claudemesh launch` sessions (outside one, each tool says it is not in a session)\n",
    );
    expect(userServers(sb).claudemesh).toMatchObject({ command: SERVER[0], args: SERVER.slice(1) });
    const lines = await listed(sb);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(SERVER_LINE);
    expect(isConnected(lines[0] as string), lines[0]).toBe(true);
    // No daemon was started by the health check (outside a session the server needs none).
    expect(await sb.daemonProcesses()).toEqual([]);
  });

  it("install twice: the second says it is already installed, and there is one entry", async (context) => {
    const sb = sandbox(context);
    expect((await cm(sb, ["install"])).code).toBe(0);
    const again = await cm(sb, ["install"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`claudemesh is already installed in Claude Code (user scope): ${SERVER_LINE}\n`);
    expect(await listed(sb)).toHaveLength(1);
    expect(Object.keys(userServers(sb))).toEqual(["claudemesh"]);
  });

  it("an entry that runs another command (an older install's path) is replaced", async (context) => {
    const sb = sandbox(context);
    const old = [
      "mcp",
      "add",
      "--scope",
      "user",
      "claudemesh",
      "--",
      process.execPath,
      "/old/claudemesh/cli.js",
      "mcp",
    ];
    expect((await claude(sb, old)).code).toBe(0);
    const res = await cm(sb, ["install"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(
      `replaced the claudemesh MCP server in Claude Code (user scope): it ran ${process.execPath} /old/claudemesh/cli.js mcp, now ${SERVER_LINE}\n`,
    );
    expect(userServers(sb).claudemesh).toMatchObject({ command: SERVER[0], args: SERVER.slice(1) });
    const get = await claude(sb, ["mcp", "get", "claudemesh"]);
    expect(get.stdout).toContain(`Args: ${SERVER.slice(1).join(" ")}\n`);
  });

  it("an entry of this scope hidden by another scope's is reinstalled, and the other one is pointed out", async (context) => {
    const sb = sandbox(context);
    expect((await cm(sb, ["install"])).code).toBe(0);
    const local = ["mcp", "add", "--scope", "local", "claudemesh", "--", process.execPath, "/local/cli.js", "mcp"];
    expect((await claude(sb, local)).code).toBe(0);
    const res = await cm(sb, ["install"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`reinstalled the claudemesh MCP server in Claude Code (user scope): ${SERVER_LINE}\n`);
    expect(res.stderr).toContain(`claudemesh server in local scope, running ${process.execPath} /local/cli.js mcp`);
    expect(userServers(sb).claudemesh).toMatchObject({ command: SERVER[0], args: SERVER.slice(1) });
  });

  it("--scope project writes .mcp.json in the cwd, and nothing in user scope", async (context) => {
    const sb = sandbox(context);
    const res = await cm(sb, ["install", "--scope", "project"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(
      `installed the claudemesh MCP server in Claude Code (project scope): ${SERVER_LINE}\n`,
    );
    const project = JSON.parse(sb.read(".mcp.json")) as { mcpServers: Record<string, unknown> };
    expect(project.mcpServers.claudemesh).toMatchObject({ command: SERVER[0], args: SERVER.slice(1) });
    expect(userServers(sb)).toEqual({});
    const get = await claude(sb, ["mcp", "get", "claudemesh"]);
    expect(get.stdout).toContain("Scope: Project config");
    expect((await cm(sb, ["install", "--scope", "project"])).stdout).toContain("already installed");

    // Uninstalling the default (user) scope leaves it and says where it is.
    const user = await cm(sb, ["uninstall"]);
    expect(user.code, user.stderr).toBe(0);
    expect(user.stdout).toBe("claudemesh is not installed in Claude Code (user scope): nothing to remove\n");
    expect(user.stderr).toContain("claudemesh uninstall --scope project");
    expect((await cm(sb, ["uninstall", "--scope", "project"])).code).toBe(0);
    expect((JSON.parse(sb.read(".mcp.json")) as { mcpServers: object }).mcpServers).toEqual({});
  });

  it("uninstall removes it (claude mcp get then fails); a second uninstall says so, exit 0", async (context) => {
    const sb = sandbox(context);
    expect((await cm(sb, ["install"])).code).toBe(0);
    const res = await cm(sb, ["uninstall"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe("removed the claudemesh MCP server from Claude Code (user scope)\n");
    const get = await claude(sb, ["mcp", "get", "claudemesh"]);
    expect(get.code).not.toBe(0);
    expect(get.stderr + get.stdout).toContain('No MCP server named "claudemesh"');
    expect(await listed(sb)).toEqual([]);
    const again = await cm(sb, ["uninstall"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("not installed");
  });

  it("--print prints the exact claude command and changes nothing, even without claude", async (context) => {
    const sb = sandbox(context);
    const res = await cm(sb, ["install", "--print"], noClaude(sb));
    expect(res).toMatchObject({ code: 0, stderr: "" });
    expect(res.stdout).toBe(`claude mcp add --scope user claudemesh -- ${SERVER_LINE}\n`);
    const project = await cm(sb, ["install", "--scope", "project", "--print"], noClaude(sb));
    expect(project.stdout).toBe(`claude mcp add --scope project claudemesh -- ${SERVER_LINE}\n`);
    const remove = await cm(sb, ["uninstall", "--scope", "local", "--print"], noClaude(sb));
    expect(remove).toMatchObject({ code: 0, stdout: "claude mcp remove --scope local claudemesh\n" });
    // With claude there, still nothing runs: no config written, nothing registered.
    expect((await cm(sb, ["install", "--print"])).code).toBe(0);
    expect(existsSync(join(home(sb), ".claude.json"))).toBe(false);
    expect(existsSync(sb.path(".mcp.json"))).toBe(false);

    // The printed command, run as it is, does what install does.
    const printed = res.stdout.trim().split(" ");
    expect(printed.slice(0, 1)).toEqual(["claude"]);
    expect((await claude(sb, printed.slice(1))).code).toBe(0);
    expect((await cm(sb, ["install"])).stdout).toContain("already installed");
  });

  it("without claude: a clear error naming how to install it and --print, exit 127", async (context) => {
    const sb = sandbox(context);
    const missing = noClaude(sb);
    const res = await cm(sb, ["install"], missing);
    expect(res.code).toBe(127);
    expect(res.stdout).toBe("");
    expect(res.stderr).toBe(
      `claudemesh: cannot find Claude Code (CLAUDEMESH_CLAUDE=${missing.CLAUDEMESH_CLAUDE} is not an executable file): ` +
        "install Claude Code (npm install -g @anthropic-ai/claude-code), or set CLAUDEMESH_CLAUDE to its path; " +
        "`claudemesh install --print` shows the claude command to run by hand\n",
    );
    const onPath = await cm(sb, ["install"], { PATH: missing.PATH, CLAUDEMESH_CLAUDE: undefined });
    expect(onPath.code).toBe(127);
    expect(onPath.stderr).toContain("cannot find Claude Code (no `claude` command on PATH)");
    const uninstall = await cm(sb, ["uninstall"], missing);
    expect(uninstall.code).toBe(127);
    expect(uninstall.stderr).toContain("`claudemesh uninstall --print`");
  });

  it("doctor shows claude and whether claudemesh is installed in it; without claude, a warning and exit 0", async (context) => {
    const sb = sandbox(context);
    const checks = (res: Result) =>
      new Map(
        res.stdout
          .trimEnd()
          .split("\n")
          .map((l) => l.split("\t"))
          .map(([status, name, finding, fix]) => [name, { status, finding, fix }]),
      );
    const before = checks(await cm(sb, ["doctor"]));
    expect(before.get("claude")).toEqual({ status: "ok", finding: `${CLAUDE}: 2.1.328 (Claude Code)`, fix: "-" });
    expect(before.get("claude-mcp")).toMatchObject({ status: "ok", fix: "-" });
    expect(before.get("claude-mcp")?.finding).toContain("not installed in Claude Code");

    expect((await cm(sb, ["install"])).code).toBe(0);
    const after = checks(await cm(sb, ["doctor"]));
    expect(after.get("claude-mcp")).toEqual({
      status: "ok",
      finding: `installed in Claude Code (user scope): ${SERVER_LINE}; ✔ Connected`,
      fix: "-",
    });

    const old = ["mcp", "add", "--scope", "local", "claudemesh", "--", process.execPath, "/gone/cli.js", "mcp"];
    expect((await claude(sb, old)).code).toBe(0);
    const stale = checks(await cm(sb, ["doctor"]));
    expect(stale.get("claude-mcp")).toEqual({
      status: "warn",
      finding: `installed in Claude Code (local scope) with another command: ${process.execPath} /gone/cli.js mcp`,
      fix: "claudemesh install --scope local (points it at this claudemesh)",
    });

    const res = await cm(sb, ["doctor"], { PATH: noClaude(sb).PATH, CLAUDEMESH_CLAUDE: undefined });
    expect(res.code).toBe(0);
    const without = checks(res);
    expect(without.get("claude")?.status).toBe("warn");
    expect(without.get("claude")?.fix).toContain("npm install -g @anthropic-ai/claude-code");
    expect(without.get("claude-mcp")).toEqual({ status: "ok", finding: "skipped: no claude to ask", fix: "-" });
  });
});
