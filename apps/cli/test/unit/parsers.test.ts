// The fast path and commander must read every command line the fast path accepts the same way;
// everything else (help, errors, unusual spellings) the fast path must leave to commander.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseFast } from "../../src/fast-path.js";
import { parseWithCommander } from "../../src/program.js";

const ACCEPTED: readonly (readonly string[])[] = [
  ["--version"],
  ["-V"],
  // launch: every option, both spellings, repeated --group, `--`, positional commands
  ["launch"],
  ["launch", "--message-mode", "pull"],
  ["launch", "--message-mode=off", "--ask-permission"],
  ["launch", "--ask-permission", "--", "claude", "-c"],
  // What Claude Code's hooks and MCP client run.
  ["hook", "UserPromptSubmit"],
  ["hook", "Stop"],
  ["mcp"],
  ["launch", "--"],
  ["launch", "--name", "api"],
  ["launch", "--name=api"],
  ["launch", "--name", ""],
  ["launch", "--name=a=b"],
  ["launch", "--mesh", "backend"],
  ["launch", "--mesh=backend"],
  ["launch", "--mesh", "UPPER"],
  ["launch", "--role", "reviewer"],
  ["launch", "--role=reviewer"],
  ["launch", "--group", "a"],
  ["launch", "--group", "a", "--group", "b"],
  ["launch", "--group=a", "--group", "b", "--group=c"],
  ["launch", "--session-id", "s-1"],
  ["launch", "--session-id=s:1.x"],
  [
    "launch",
    "--name",
    "n",
    "--mesh",
    "m",
    "--role",
    "r",
    "--group",
    "g1",
    "--group",
    "g2",
    "--session-id",
    "id",
    "--",
    "claude",
    "--continue",
  ],
  ["launch", "--", "claude"],
  ["launch", "--", "claude", "--continue", "-p", "hi"],
  ["launch", "--", "sh", "-c", 'printf "%s|" "$@"', "x", "--name", "--json"],
  ["launch", "--", "--name", "x"],
  ["launch", "--", "-weird-program"],
  ["launch", "--", "sh", "--", "x"],
  ["launch", "--name", "a", "--", "--", "x"],
  ["launch", "claude"],
  ["launch", "claude", "--continue"],
  ["launch", "sh", "-c", "exit 3"],
  ["launch", "--name", "a", "claude", "--name", "b", "--", "--help"],
  ["launch", "--mesh", "m", "node", "--version"],
  // sessions
  ["sessions", "list"],
  ["sessions", "ls"],
  ["sessions", "list", "--json"],
  ["sessions", "ls", "--json"],
  ["sessions", "list", "--mesh", "backend"],
  ["sessions", "list", "--mesh=backend"],
  ["sessions", "list", "--mesh", "m", "--json"],
  ["sessions", "ls", "--json", "--mesh=m"],
  ["sessions", "me"],
  ["sessions", "me", "--json"],
  // daemon
  ["daemon", "status"],
  ["daemon", "status", "--json"],
];

const REFUSED: readonly (readonly string[])[] = [
  [],
  ["-h"],
  ["--help"],
  ["help"],
  ["--version", "--version"],
  ["launch", "-h"],
  ["launch", "--help"],
  ["launch", "--name"],
  ["launch", "--name", "--mesh", "m"],
  ["launch", "--name", "a", "--name", "b"],
  ["launch", "--mesh", "a", "--mesh=b"],
  ["launch", "--bogus"],
  ["launch", "--json"],
  ["launch", "-x"],
  ["launch", "--name", "a", "-h"],
  ["launch", "--group"],
  ["launch", "--message-mode", "loud"],
  ["launch", "--ask-permission=yes"],
  ["hook"],
  ["hook", "--help"],
  ["hook", "Stop", "extra"],
  ["mcp", "--help"],
  ["install"],
  ["install", "--scope", "project", "--print"],
  ["uninstall"],
  ["sessions"],
  ["sessions", "list", "--bogus"],
  ["sessions", "list", "--mesh"],
  ["sessions", "list", "--mesh", "a", "--mesh", "b"],
  ["sessions", "list", "--json", "--json"],
  ["sessions", "list", "--json=true"],
  ["sessions", "list", "extra"],
  ["sessions", "list", "-h"],
  ["sessions", "lst"],
  ["sessions", "me", "--mesh", "m"],
  ["sessions", "watch"],
  ["daemon", "status", "--bogus"],
  ["daemon", "start"],
  ["daemon", "logs", "-n", "5"],
  ["lanch"],
  // Rare commands stay with commander.
  ["daemon", "install"],
  ["daemon", "install", "--dry-run"],
  ["daemon", "uninstall"],
  ["doctor"],
  ["doctor", "--json"],
  ["completion", "bash"],
  ["__complete", "sessions"],
];

const show = (argv: readonly string[]) => JSON.stringify(argv);

describe("parseFast and parseWithCommander", () => {
  // Commander writes help and errors to the real streams: keep the test output clean.
  beforeEach(() => {
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.for(ACCEPTED.map((argv) => [show(argv), argv] as const))("agree on %s", ([, argv]) => {
    const fast = parseFast(argv);
    expect(fast).toBeDefined();
    expect(parseWithCommander(argv)).toStrictEqual(fast);
  });

  it.for(REFUSED.map((argv) => [show(argv), argv] as const))("the fast path leaves %s to commander", ([, argv]) => {
    expect(parseFast(argv)).toBeUndefined();
  });

  it("commander answers usage errors with exit 2 and help with exit 0", () => {
    expect(parseWithCommander(["launch", "--name"])).toBe(2);
    expect(parseWithCommander(["sessions", "list", "--bogus"])).toBe(2);
    expect(parseWithCommander(["sessions", "lst"])).toBe(2);
    expect(parseWithCommander(["--help"])).toBe(0);
    expect(parseWithCommander(["launch", "-h"])).toBe(0);
  });

  it("commander also reads the rare commands", () => {
    expect(parseWithCommander(["sessions", "watch", "--json"])).toStrictEqual({
      name: "sessions watch",
      options: { json: true },
    });
    expect(parseWithCommander(["daemon", "logs", "-n", "5"])).toStrictEqual({
      name: "daemon logs",
      options: { lines: 5 },
    });
    expect(parseWithCommander(["daemon", "start", "--foreground"])).toStrictEqual({
      name: "daemon start",
      options: { foreground: true },
    });

    expect(parseWithCommander(["daemon", "install", "--force", "--dry-run"])).toStrictEqual({
      name: "daemon install",
      options: { force: true, dryRun: true },
    });
    expect(parseWithCommander(["daemon", "uninstall"])).toStrictEqual({ name: "daemon uninstall" });
    expect(parseWithCommander(["doctor", "--json", "--fix"])).toStrictEqual({
      name: "doctor",
      options: { json: true, fix: true },
    });
    expect(parseWithCommander(["completion", "zsh"])).toStrictEqual({ name: "completion", shell: "zsh" });
    expect(parseWithCommander(["__complete", "sessions"])).toStrictEqual({ name: "__complete", kind: "sessions" });
    expect(parseWithCommander(["completion", "tcsh"])).toBe(2);
    expect(parseWithCommander(["completion"])).toBe(2);
  });
});
