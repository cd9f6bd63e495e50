// The pure parts of talking to Claude Code's `claude`: where it is, the argv of each call, and
// reading what it prints (the fixtures are what claude 2.1.328 printed, verbatim); and doctor's
// Claude Code checks built from them.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeDir } from "@claudemesh/testkit";
import { afterAll, describe, expect, it } from "vitest";
import {
  type ClaudeRun,
  entryCommand,
  existingScope,
  findClaude,
  mcpAddArgs,
  mcpGetArgs,
  mcpLookup,
  mcpRemoveArgs,
  parseMcpGet,
  parseScope,
  parseStatus,
  parseVersion,
  runsCommand,
  saysNoSuchServer,
  versionArgs,
} from "../../src/claude-code.js";
import { claudeCheck, claudeMcpCheck } from "../../src/doctor/claude-checks.js";

const GET_CONNECTED = `claudemesh:
  Scope: User config (available in all your projects)
  Status: ✔ Connected
  Type: stdio
  Command: /usr/bin/node
  Args: /work/main/apps/cli/dist/cli.js mcp
  Environment:

To remove this server, run: claude mcp remove claudemesh -s user
`;

const GET_FAILED = `claudemesh:
  Scope: Local config (private to you in this project)
  Status: ✘ Failed to connect
  Issue: CONNECTION_CLOSED: Connection closed
  Type: stdio
  Command: /usr/bin/node
  Args: /l/cli.js mcp
  Environment:

To remove this server, run: claude mcp remove claudemesh -s local
`;

const GET_PENDING = `claudemesh:
  Scope: Project config (shared via .mcp.json)
  Status: ⏸ Pending approval (run \`claude\` to approve)
  Type: stdio
  Command: /usr/bin/node
  Args: /x y/cli.js mcp
  Environment:

To remove this server, run: claude mcp remove claudemesh -s project
`;

const GET_ABSENT = 'No MCP server named "claudemesh". Run `claude mcp add` to add one.\n';
const SERVER = ["/usr/bin/node", "/work/main/apps/cli/dist/cli.js", "mcp"];

const run = (over: Partial<ClaudeRun>): ClaudeRun => ({
  ok: false,
  exitCode: 1,
  timedOut: false,
  stdout: "",
  stderr: "",
  detail: "",
  ...over,
});

describe("finding claude", () => {
  const root = makeTempDir("cmcc-");
  afterAll(() => removeDir(root));
  const bin = join(root, "bin");
  mkdirSync(bin);
  const claude = join(bin, "claude");
  writeFileSync(claude, "#!/bin/sh\n");
  chmodSync(claude, 0o755);
  const plainFile = join(root, "not-executable");
  writeFileSync(plainFile, "");

  it("CLAUDEMESH_CLAUDE wins over PATH, and never falls back to it", () => {
    expect(findClaude({ CLAUDEMESH_CLAUDE: claude, PATH: "" }, root)).toEqual({ path: claude });
    expect(findClaude({ CLAUDEMESH_CLAUDE: join(root, "missing"), PATH: bin }, root)).toEqual({
      missing: `CLAUDEMESH_CLAUDE=${join(root, "missing")} is not an executable file`,
    });
    expect(findClaude({ CLAUDEMESH_CLAUDE: plainFile, PATH: bin }, root)).toHaveProperty("missing");
  });

  it("otherwise PATH; an empty CLAUDEMESH_CLAUDE counts as unset", () => {
    expect(findClaude({ PATH: `${root}:${bin}` }, root)).toEqual({ path: claude });
    expect(findClaude({ CLAUDEMESH_CLAUDE: "", PATH: bin }, root)).toEqual({ path: claude });
    expect(findClaude({ PATH: root }, root)).toEqual({ missing: "no `claude` command on PATH" });
  });
});

describe("claude argv", () => {
  it("add: the scope, the name, then the server after `--` (its own flags stay its own)", () => {
    expect(mcpAddArgs("user", "claudemesh", ["/n", "/a b/cli.js", "mcp"])).toEqual([
      "mcp",
      "add",
      "--scope",
      "user",
      "claudemesh",
      "--",
      "/n",
      "/a b/cli.js",
      "mcp",
    ]);
    expect(mcpAddArgs("project", "x", ["/n", "--flag"]).slice(-3)).toEqual(["--", "/n", "--flag"]);
  });

  it("get, remove, --version", () => {
    expect(mcpGetArgs("claudemesh")).toEqual(["mcp", "get", "claudemesh"]);
    expect(mcpRemoveArgs("local", "claudemesh")).toEqual(["mcp", "remove", "--scope", "local", "claudemesh"]);
    expect(versionArgs()).toEqual(["--version"]);
  });
});

describe("reading what claude prints", () => {
  it("--version", () => {
    expect(parseVersion("2.1.328 (Claude Code)\n")).toEqual({ version: "2.1.328", text: "2.1.328 (Claude Code)" });
    expect(parseVersion("\n  1.0.0-beta.2 (Claude Code)")).toMatchObject({ version: "1.0.0-beta.2" });
    expect(parseVersion("something else")).toEqual({ version: undefined, text: "something else" });
  });

  it("mcp get: connected, user scope", () => {
    expect(parseMcpGet(GET_CONNECTED)).toEqual({
      scope: "user",
      scopeText: "User config (available in all your projects)",
      status: "connected",
      statusText: "✔ Connected",
      command: "/usr/bin/node",
      args: "/work/main/apps/cli/dist/cli.js mcp",
    });
  });

  it("mcp get: failed to connect (local scope), pending approval (project scope, args with a space)", () => {
    expect(parseMcpGet(GET_FAILED)).toMatchObject({ scope: "local", status: "failed", args: "/l/cli.js mcp" });
    expect(parseMcpGet(GET_PENDING)).toMatchObject({
      scope: "project",
      status: "pending",
      statusText: "⏸ Pending approval (run `claude` to approve)",
      args: "/x y/cli.js mcp",
    });
  });

  it("mcp get: colour codes are ignored; text without fields is nothing", () => {
    const coloured = GET_CONNECTED.replace("✔ Connected", "\x1b[32m✔\x1b[39m Connected");
    expect(parseMcpGet(coloured)).toMatchObject({ status: "connected", statusText: "✔ Connected" });
    expect(parseMcpGet("claudemesh:\n")).toBeUndefined();
    expect(parseMcpGet("")).toBeUndefined();
  });

  it("scopes and statuses, loosely", () => {
    expect(parseScope("User config (available in all your projects)")).toBe("user");
    expect(parseScope("Local (private to you in this project)")).toBe("local");
    expect(parseScope("project")).toBe("project");
    expect(parseScope("Enterprise managed")).toBeUndefined();
    expect(parseStatus("✓ Connected")).toBe("connected");
    expect(parseStatus("✘ Failed to connect")).toBe("failed");
    expect(parseStatus("⏸ Pending approval")).toBe("pending");
    expect(parseStatus("△ Needs authentication")).toBe("unknown");
  });

  it("the command an entry runs, compared word for word as claude prints it", () => {
    const entry = parseMcpGet(GET_CONNECTED);
    if (entry === undefined) throw new Error("unparsed");
    expect(entryCommand(entry)).toBe("/usr/bin/node /work/main/apps/cli/dist/cli.js mcp");
    expect(runsCommand(entry, SERVER)).toBe(true);
    expect(runsCommand(entry, ["/usr/local/bin/node", ...SERVER.slice(1)])).toBe(false);
    expect(runsCommand(entry, SERVER.slice(0, 2))).toBe(false);
  });

  it("failed add and remove: which scope already has it, and 'no such server'", () => {
    expect(existingScope("MCP server claudemesh already exists in user config\n")).toBe("user");
    expect(existingScope("MCP server claudemesh already exists in local config")).toBe("local");
    expect(existingScope("error: unknown option")).toBeUndefined();
    expect(saysNoSuchServer(GET_ABSENT)).toBe(true);
    expect(saysNoSuchServer('No MCP server named "claudemesh" in local scope')).toBe(true);
    expect(saysNoSuchServer('No MCP server named "claudemesh" in .mcp.json')).toBe(true);
    expect(saysNoSuchServer("No project-scoped MCP server found with name: claudemesh")).toBe(true);
    expect(saysNoSuchServer("Error: EACCES: permission denied, open '/h/.claude.json'")).toBe(false);
  });

  it("a get run: present (exit 0), absent (exit 1 saying so), or an error (anything else, a timeout)", () => {
    expect(mcpLookup(run({ ok: true, exitCode: 0, stdout: GET_CONNECTED }))).toMatchObject({
      kind: "present",
      entry: { scope: "user" },
    });
    expect(mcpLookup(run({ stderr: GET_ABSENT }))).toEqual({ kind: "absent" });
    expect(mcpLookup(run({ stderr: "Error: EACCES", detail: "Error: EACCES" }))).toEqual({
      kind: "error",
      detail: "Error: EACCES",
    });
    expect(
      mcpLookup(run({ exitCode: undefined, timedOut: true, stderr: GET_ABSENT, detail: "no answer within 15 s" })),
    ).toEqual({ kind: "error", detail: "no answer within 15 s" });
  });
});

describe("doctor's Claude Code checks", () => {
  const version = { ok: true as const, version: "2.1.328", text: "2.1.328 (Claude Code)" };

  it("claude: found and its version; missing is a warning naming how to get it", () => {
    expect(claudeCheck({ path: "/bin/claude" }, version)).toEqual({
      name: "claude",
      status: "ok",
      finding: "/bin/claude: 2.1.328 (Claude Code)",
      fix: null,
    });
    const missing = claudeCheck({ missing: "no `claude` command on PATH" });
    expect(missing).toMatchObject({
      status: "warn",
      fix: expect.stringContaining("npm install -g @anthropic-ai/claude-code"),
    });
    expect(claudeCheck({ missing: "CLAUDEMESH_CLAUDE=/x is not an executable file" }).fix).toContain("unset it");
    expect(
      claudeCheck({ path: "/bin/claude" }, { ok: false, detail: "claude --version: no answer within 5 s" }),
    ).toMatchObject({
      status: "warn",
      finding: "/bin/claude does not run: claude --version: no answer within 5 s",
    });
  });

  it("claude-mcp: not installed is fine (launch wires it); another command or no connection is a warning", () => {
    expect(claudeMcpCheck(undefined, SERVER)).toMatchObject({ status: "ok", finding: "skipped: no claude to ask" });
    expect(claudeMcpCheck({ kind: "absent" }, SERVER)).toMatchObject({ status: "ok", fix: null });
    expect(claudeMcpCheck({ kind: "absent" }, SERVER).finding).toContain("claudemesh launch");
    expect(claudeMcpCheck({ kind: "present", entry: parseMcpGet(GET_CONNECTED) }, SERVER)).toEqual({
      name: "claude-mcp",
      status: "ok",
      finding: "installed in Claude Code (user scope): /usr/bin/node /work/main/apps/cli/dist/cli.js mcp; ✔ Connected",
      fix: null,
    });
    expect(claudeMcpCheck({ kind: "present", entry: parseMcpGet(GET_FAILED) }, SERVER)).toMatchObject({
      status: "warn",
      finding: "installed in Claude Code (local scope) with another command: /usr/bin/node /l/cli.js mcp",
      fix: "claudemesh install --scope local (points it at this claudemesh)",
    });
    const failing = GET_CONNECTED.replace("✔ Connected", "✘ Failed to connect");
    expect(claudeMcpCheck({ kind: "present", entry: parseMcpGet(failing) }, SERVER)).toMatchObject({
      status: "warn",
      finding: "installed in Claude Code (user scope), but it cannot connect: ✘ Failed to connect",
    });
    expect(
      claudeMcpCheck({ kind: "error", detail: "claude mcp get claudemesh: no answer within 10 s" }, SERVER),
    ).toMatchObject({
      status: "warn",
      fix: "claude mcp get claudemesh",
    });
  });
});
