// `claudemesh launch` wiring `claude`: a recording stand-in named `claude` on PATH writes down the
// exact argv and environment it was started with, and the test reads what a real claude would
// have been told. Every --message-mode, the user's own flags winning, the session id shared by
// claudemesh and Claude Code, other programs left alone.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CLI, type Sandbox, sandbox } from "../support/harness.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RESUMED = "5d9b3c1e-8f2a-4b6d-9e0f-1a2b3c4d5e6f";

/** What the stand-in saw. */
interface Recorded {
  readonly argv: string[];
  readonly env: Record<string, string>;
  /** Exit code of running each hook command the stand-in was given, as Claude Code would, with `{}` on stdin. */
  readonly hookCodes: Record<string, number>;
  /** The mesh_whoami result of the MCP server the stand-in was given, started as Claude Code would. */
  readonly whoami: { structuredContent?: { session: { session_id: string } } } | undefined;
}

let recordings = 0;

/** Puts a `claude` on the sandbox's PATH that records its argv (NUL-separated) and environment. */
function standIn(sb: Sandbox): Record<string, string> {
  const bin = join(sb.root, "bin");
  mkdirSync(bin, { recursive: true });
  const script = join(bin, "claude");
  writeFileSync(
    script,
    [
      "#!/bin/sh",
      'for a in "$@"; do printf "%s\\0" "$a"; done > "$CM_RECORD.argv.tmp"',
      'env > "$CM_RECORD.env.tmp"',
      'mv "$CM_RECORD.env.tmp" "$CM_RECORD.env" && mv "$CM_RECORD.argv.tmp" "$CM_RECORD.argv"',
      // While the session lives: its hooks must run (and be harmless) in claude's environment.
      'if [ -n "$CM_ACT" ]; then node "$CM_ACT" "$CM_RECORD"; fi',
      "exit 0",
    ].join("\n"),
  );
  chmodSync(script, 0o755);
  recordings++;
  return { PATH: `${bin}:${process.env.PATH ?? ""}`, CM_RECORD: join(sb.root, `rec${recordings}`) };
}

/**
 * What claude would do with its argv while the session lives: run each hook command of --settings
 * through sh with `{}` on stdin, and start the MCP server of --mcp-config to ask it mesh_whoami.
 */
const ACT_LIKE_CLAUDE = `
const { readFileSync, writeFileSync } = require("node:fs");
const { execSync, spawn } = require("node:child_process");
const rec = process.argv[2];
const argv = readFileSync(rec + ".argv", "utf8").split("\\0");
const value = (flag) => argv.find((a) => a.startsWith(flag + "="))?.slice(flag.length + 1);
const codes = {};
for (const [event, groups] of Object.entries(JSON.parse(value("--settings") ?? '{"hooks":{}}').hooks)) {
  try { execSync(groups[0].hooks[0].command, { input: "{}", stdio: ["pipe", "ignore", "ignore"] }); codes[event] = 0; }
  catch (e) { codes[event] = e.status; }
}
writeFileSync(rec + ".hooks", JSON.stringify(codes));
const server = JSON.parse(value("--mcp-config")).mcpServers.claudemesh;
const child = spawn(server.command, server.args, { env: { PATH: process.env.PATH, ...server.env }, stdio: ["pipe", "pipe", "ignore"] });
const say = (m) => child.stdin.write(JSON.stringify({ jsonrpc: "2.0", ...m }) + "\\n");
let buffer = "";
child.stdout.on("data", (chunk) => {
  buffer += chunk;
  for (let i; (i = buffer.indexOf("\\n")) >= 0; buffer = buffer.slice(i + 1)) {
    const m = JSON.parse(buffer.slice(0, i));
    if (m.id === 1) {
      say({ method: "notifications/initialized" });
      say({ id: 2, method: "tools/call", params: { name: "mesh_whoami", arguments: {} } });
    }
    if (m.id === 2) { writeFileSync(rec + ".whoami", JSON.stringify(m.result)); child.stdin.end(); }
  }
});
say({ id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "stand-in", version: "1" } } });
`;

async function launchRecorded(
  sb: Sandbox,
  args: string[],
  options: { act?: boolean } = {},
): Promise<{ code: number | null; stderr: string; recorded: Recorded | undefined }> {
  const env = standIn(sb);
  const actor = join(sb.root, "act-like-claude.cjs");
  writeFileSync(actor, ACT_LIKE_CLAUDE);
  const result = await sb.run(["launch", ...args], { env: { ...env, ...(options.act && { CM_ACT: actor }) } });
  const rec = env.CM_RECORD as string;
  if (!existsSync(`${rec}.argv`)) return { code: result.code, stderr: result.stderr, recorded: undefined };
  const argv = readFileSync(`${rec}.argv`, "utf8").split("\0").slice(0, -1);
  const envLines = readFileSync(`${rec}.env`, "utf8").split("\n");
  const recordedEnv = Object.fromEntries(
    envLines
      .filter((l) => l.startsWith("CLAUDEMESH_"))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const json = (suffix: string) =>
    existsSync(`${rec}.${suffix}`) ? (JSON.parse(readFileSync(`${rec}.${suffix}`, "utf8")) as never) : undefined;
  const recorded = { argv, env: recordedEnv, hookCodes: json("hooks") ?? {}, whoami: json("whoami") };
  return { code: result.code, stderr: result.stderr, recorded };
}

const flagValue = (argv: string[], flag: string) => argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
const flags = (argv: string[]) => argv.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]);

describe.concurrent("launch wires claude", () => {
  it("push (the default): the MCP server by absolute paths, the hooks, the session id, channels, the tools allowed", async (context) => {
    const sb = sandbox(context);
    const { code, stderr, recorded } = await launchRecorded(sb, ["--name", "api"], { act: true });
    expect([code, stderr]).toEqual([0, ""]);
    const { argv, env, hookCodes, whoami } = recorded as Recorded;
    expect(flags(argv)).toEqual([
      "--mcp-config",
      "--settings",
      "--session-id",
      "--dangerously-load-development-channels",
      "--allowedTools",
    ]);
    const sessionId = env.CLAUDEMESH_SESSION_ID as string;
    expect(sessionId).toMatch(UUID);
    expect(flagValue(argv, "--session-id")).toBe(sessionId);
    expect(flagValue(argv, "--dangerously-load-development-channels")).toBe("server:claudemesh");
    expect(flagValue(argv, "--allowedTools")).toBe("mcp__claudemesh");
    expect(env.CLAUDEMESH_MESSAGE_MODE).toBe("push");

    const config = JSON.parse(flagValue(argv, "--mcp-config") as string) as {
      mcpServers: { claudemesh: { type: string; command: string; args: string[]; env: Record<string, string> } };
    };
    const server = config.mcpServers.claudemesh;
    expect(server).toMatchObject({ type: "stdio", command: process.execPath, args: [realpathSync(CLI), "mcp"] });
    expect(server.env).toEqual({
      CLAUDEMESH_SESSION_ID: sessionId,
      CLAUDEMESH_IPC_TOKEN_FILE: env.CLAUDEMESH_IPC_TOKEN_FILE,
      CLAUDEMESH_MESH: "default",
      CLAUDEMESH_DISPLAY_NAME: "api",
      CLAUDEMESH_DAEMON_DIR: sb.dir,
      CLAUDEMESH_MESSAGE_MODE: "push",
    });
    // The hook commands Claude Code would run all run, in claude's environment, and succeed.
    expect(hookCodes).toEqual({ SessionStart: 0, UserPromptSubmit: 0, PostToolUse: 0, Stop: 0 });

    // The server it names, started as claude starts it, serves this very session.
    expect(whoami?.structuredContent?.session.session_id).toBe(sessionId);
  });

  it("pull: tools and hooks without channels; off: claude exactly as the user typed it", async (context) => {
    const sb = sandbox(context);
    const pull = await launchRecorded(sb, ["--message-mode", "pull", "--", "claude", "fix the tests"]);
    expect(flags(pull.recorded?.argv ?? [])).toEqual(["--mcp-config", "--settings", "--session-id", "--allowedTools"]);
    expect(pull.recorded?.argv.at(-1)).toBe("fix the tests");
    expect(pull.recorded?.env.CLAUDEMESH_MESSAGE_MODE).toBe("pull");

    const off = await launchRecorded(sb, ["--message-mode", "off", "--", "claude", "-p", "hi"]);
    expect(off.code).toBe(0);
    expect(off.recorded?.argv).toEqual(["-p", "hi"]);
    expect(off.recorded?.env.CLAUDEMESH_IPC_TOKEN_FILE).toBeTruthy();
  });

  it("--ask-permission leaves claudemesh's tools to claude's permission prompts", async (context) => {
    const sb = sandbox(context);
    const { recorded } = await launchRecorded(sb, ["--ask-permission"]);
    expect(flags(recorded?.argv ?? [])).not.toContain("--allowedTools");
    expect(flags(recorded?.argv ?? [])).toContain("--mcp-config");
  });

  it("the user's --resume <uuid> becomes the session's id; --session-id of launch and claude's --resume both win", async (context) => {
    const sb = sandbox(context);
    const resumed = await launchRecorded(sb, ["--", "claude", "--resume", RESUMED]);
    expect(resumed.recorded?.env.CLAUDEMESH_SESSION_ID).toBe(RESUMED);
    expect(flags(resumed.recorded?.argv ?? []).filter((f) => f === "--session-id")).toEqual([]);
    expect(resumed.recorded?.argv.slice(-2)).toEqual(["--resume", RESUMED]);

    const own = "0b0e7a64-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
    const both = await launchRecorded(sb, ["--session-id", own, "--", "claude", "--resume", RESUMED]);
    expect(both.recorded?.env.CLAUDEMESH_SESSION_ID).toBe(own);
    expect(both.stderr).toMatch(new RegExp(`claude continues conversation ${RESUMED} as claudemesh session ${own}`));
    expect(flags(both.recorded?.argv ?? []).filter((f) => f === "--session-id")).toEqual([]);

    const forked = await launchRecorded(sb, ["--", "claude", "--resume", RESUMED, "--fork-session"]);
    expect(forked.recorded?.env.CLAUDEMESH_SESSION_ID).not.toBe(RESUMED);

    const continued = await launchRecorded(sb, ["--", "claude", "--continue"]);
    expect(flags(continued.recorded?.argv ?? [])).toEqual([
      "--mcp-config",
      "--settings",
      "--dangerously-load-development-channels",
      "--allowedTools",
      "--continue",
    ]);
  });

  it("the user's own --mcp-config wins (ours is not added, and stderr says how to add it)", async (context) => {
    const sb = sandbox(context);
    const { code, stderr, recorded } = await launchRecorded(sb, ["--", "claude", "--mcp-config", "mine.json"]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/--mcp-config/);
    expect(recorded?.argv.filter((a) => a.startsWith("--mcp-config"))).toEqual(["--mcp-config"]);
    expect(recorded?.argv.slice(-2)).toEqual(["--mcp-config", "mine.json"]);
  });

  it("claude's own subcommands and other programs get the environment only; --message-mode is refused for them", async (context) => {
    const sb = sandbox(context);
    const sub = await launchRecorded(sb, ["--", "claude", "mcp", "list"]);
    expect(sub.recorded?.argv).toEqual(["mcp", "list"]);

    const env = standIn(sb);
    const refused = await sb.run(["launch", "--message-mode", "pull", "--", "sh", "-c", "touch ran"], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--message-mode applies to claude only/);
    expect(existsSync(sb.path("ran"))).toBe(false);
    const asked = await sb.run(["launch", "--ask-permission", "--", "sh", "-c", "touch ran"], { env });
    expect(asked.code).toBe(2);
    expect((await sb.run(["launch", "--message-mode", "loud"], { env })).code).toBe(2);
  });
});

describe("launch wires the real claude CLI", () => {
  // @anthropic-ai/claude-code, pinned in tools/claude-code (installed by `pnpm test`). Offline and
  // logged out it still starts: it takes the argv, connects the MCP servers and runs the
  // SessionStart hooks before it finds it has no credentials.
  const bin = fileURLToPath(new URL("../../../../tools/claude-code/node_modules/.bin", import.meta.url));

  it("claude takes the argv: its transcript is named by the session id, the server connects, the hook runs", async (context) => {
    expect(existsSync(join(bin, "claude")), "run node tools/claude-code/ensure.mjs").toBe(true);
    const sb = sandbox(context);
    const home = join(sb.root, "home");
    mkdirSync(home);
    const debug = join(sb.root, "claude-debug.log");
    const run = await sb.run(
      ["launch", "--name", "real", "--message-mode", "pull", "--", "claude", "-p", "hi", "--debug-file", debug],
      {
        // Never a real conversation from a test: no credentials reach claude.
        env: {
          HOME: home,
          PATH: `${bin}:${process.env.PATH ?? ""}`,
          ANTHROPIC_API_KEY: undefined,
          ANTHROPIC_AUTH_TOKEN: undefined,
          CLAUDE_CODE_OAUTH_TOKEN: undefined,
        },
      },
    );
    // No credentials here: claude says so and exits 1, after the start-up this test is about.
    expect(run.code, run.stderr).toBe(1);
    const log = readFileSync(debug, "utf8");
    expect(log).toMatch(/MCP server "claudemesh": Successfully connected/);
    expect(log).toMatch(/Hook SessionStart .*hook\.cjs SessionStart\) provided additionalContext/);
    const projects = join(home, ".claude", "projects");
    const transcripts = readdirSync(projects).flatMap((dir) => readdirSync(join(projects, dir)));
    const sessionId = /\(session ([0-9a-f-]{36})\)/.exec(log)?.[1];
    expect(sessionId).toMatch(UUID);
    expect(transcripts).toContain(`${sessionId}.jsonl`);
  });
});
