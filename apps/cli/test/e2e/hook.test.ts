// `claudemesh hook <Event>` through the built CLI against a real daemon, as Claude Code runs it:
// the hook's JSON on stdin, one JSON object (or nothing) on stdout, exit 0 whatever happens
// (1 for an unknown event; never 2, which Claude Code reads as "block").
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HOOK_ENTRY, type Peer, peer, type Sandbox, sandbox } from "../support/harness.js";

/** Sends as `from` and returns the message id. */
async function send(sb: Sandbox, from: Peer, to: string, text: string, priority = "next"): Promise<string> {
  const res = await sb.run(["send", to, text, "--priority", priority], { env: from.env });
  expect(res.code).toBe(0);
  return /^sent (\S+) → /.exec(res.stdout)?.[1] as string;
}

/** The message's state as its sender sees it (GET /v1/messages/{id} with the sender's token). */
async function stateAtSender(sb: Sandbox, sender: Peer, id: string): Promise<string | undefined> {
  const res = await sb.run(["message", id, "--json"], { env: sender.env });
  return (JSON.parse(res.stdout) as { message: { recipients: { state: string }[] } }).message.recipients[0]?.state;
}

async function statusOf(sb: Sandbox, p: Peer): Promise<string | null | undefined> {
  return (await sb.sessions()).find((s) => s.session_id === p.id)?.status;
}

function hookInput(event: string, more: Record<string, unknown> = {}): string {
  return JSON.stringify({
    session_id: "0193e2c1-4b5a-4c00-8a3e-1f2b3c4d5e6f",
    transcript_path: "/tmp/transcript.jsonl",
    cwd: "/tmp",
    hook_event_name: event,
    ...more,
  });
}

/** Runs the hook inside `p`'s session. */
/** Who runs a hook: a session, or only its environment (a token file of a session that never was). */
type Runner = Pick<Peer, "env">;

function hook(sb: Sandbox, p: Runner | undefined, event: string, more: Record<string, unknown> = {}) {
  return sb.run(["hook", event], { input: hookInput(event, more), ...(p && { env: p.env }) });
}

/** The additionalContext of a hook's output, checking the output's shape on the way. */
function contextOf(stdout: string, event: string): string {
  expect(stdout.trimEnd().split("\n")).toHaveLength(1);
  const out = JSON.parse(stdout) as { hookSpecificOutput: { hookEventName: string; additionalContext: string } };
  expect(Object.keys(out)).toEqual(["hookSpecificOutput"]);
  expect(out.hookSpecificOutput.hookEventName).toBe(event);
  return out.hookSpecificOutput.additionalContext;
}

describe.concurrent("hook: when there is nothing to do", () => {
  it("outside a session: prints nothing, exits 0, starts no daemon", async (context) => {
    const sb = sandbox(context);
    for (const event of ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"]) {
      const res = await hook(sb, undefined, event, { prompt: "hi" });
      expect([res.code, res.stdout, res.stderr]).toEqual([0, "", ""]);
    }
    expect(existsSync(sb.socket)).toBe(false);
    expect(sb.lockPid()).toBeUndefined();
  });

  it("a token file but no daemon: prints nothing, exits 0, starts no daemon", async (context) => {
    const sb = sandbox(context);
    const tokenFile = join(sb.root, "token");
    writeFileSync(tokenFile, "a".repeat(64), { mode: 0o600 });
    const inside = { env: { CLAUDEMESH_IPC_TOKEN_FILE: tokenFile } };
    for (const event of ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"]) {
      const res = await hook(sb, inside, event, { tool_name: "Bash" });
      expect([res.code, res.stdout, res.stderr]).toEqual([0, "", ""]);
    }
    // An unreadable token file is no session either.
    const missing = await hook(sb, { ...inside, env: { CLAUDEMESH_IPC_TOKEN_FILE: join(sb.root, "nope") } }, "Stop");
    expect([missing.code, missing.stdout]).toEqual([0, ""]);
    expect(existsSync(sb.socket)).toBe(false);
    expect(sb.lockPid()).toBeUndefined();
    expect(await sb.daemonProcesses()).toEqual([]);
  });

  it("a session that ended (the daemon answers 401): prints nothing, exits 0", async (context) => {
    const sb = sandbox(context);
    await peer(sb, "web"); // the daemon runs
    const tokenFile = join(sb.root, "token");
    writeFileSync(tokenFile, "b".repeat(64), { mode: 0o600 });
    const ended = { env: { CLAUDEMESH_IPC_TOKEN_FILE: tokenFile } };
    for (const event of ["SessionStart", "UserPromptSubmit", "Stop"]) {
      const res = await hook(sb, ended, event);
      expect([res.code, res.stdout, res.stderr]).toEqual([0, "", ""]);
    }
  });

  it("an unknown event: one line on stderr, exit 1 (never 2)", async (context) => {
    const sb = sandbox(context);
    for (const event of ["Bogus", "PreToolUse", "stop"]) {
      const res = await sb.run(["hook", event], { input: "{}" });
      expect(res.code).toBe(1);
      expect(res.stdout).toBe("");
      expect(res.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(res.stderr).toContain(event);
    }
  });
});

describe.concurrent("hook: surfacing messages", () => {
  it("UserPromptSubmit: both pending messages, framed, marked surfaced; status working; Stop: idle", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const web = await peer(sb, "web");
    const first = await send(sb, web, "api", "the schema changed");
    const second = await send(sb, web, "api", "please rebase", "low");

    const res = await hook(sb, api, "UserPromptSubmit", { prompt: "what next?" });
    expect([res.code, res.stderr]).toEqual([0, ""]);
    const text = contextOf(res.stdout, "UserPromptSubmit");
    expect(text).toMatch(/^2 message\(s\) from peer sessions of your claudemesh mesh\./);
    expect(text).toContain("grant no permission");
    expect(text).toContain(`[peer message ${first}] from web (session ${web.id}`);
    expect(text).toContain(`[peer message ${second}] from web (session ${web.id}`);
    expect(text).toContain("\n> the schema changed\n");
    expect(text).toContain("\n> please rebase\n");
    expect(text.indexOf(first)).toBeLessThan(text.indexOf(second));
    expect(await stateAtSender(sb, web, first)).toBe("surfaced");
    expect(await stateAtSender(sb, web, second)).toBe("surfaced");
    expect(await statusOf(sb, api)).toBe("working");

    // Surfaced once: the next prompt has nothing to add.
    const again = await hook(sb, api, "UserPromptSubmit", { prompt: "and?" });
    expect([again.code, again.stdout]).toEqual([0, ""]);

    const stop = await hook(sb, api, "Stop", { stop_hook_active: false });
    expect([stop.code, stop.stdout, stop.stderr]).toEqual([0, "", ""]);
    expect(await statusOf(sb, api)).toBe("idle");
  });

  it("PostToolUse: now and next, not low; after mesh_inbox nothing", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const web = await peer(sb, "web");
    const low = await send(sb, web, "api", "when you have a minute", "low");
    const next = await send(sb, web, "api", "tests are red", "next");
    const now = await send(sb, web, "api", "stop pushing to main", "now");
    const tool = { tool_name: "Bash", tool_input: { command: "ls" }, tool_response: { stdout: "a\nb" } };

    const res = await hook(sb, api, "PostToolUse", tool);
    expect([res.code, res.stderr]).toEqual([0, ""]);
    const text = contextOf(res.stdout, "PostToolUse");
    expect(text).toContain("> tests are red");
    expect(text).toContain("> stop pushing to main");
    expect(text).not.toContain("when you have a minute");
    expect(await stateAtSender(sb, web, next)).toBe("surfaced");
    expect(await stateAtSender(sb, web, now)).toBe("surfaced");
    expect(await stateAtSender(sb, web, low)).toBe("delivered");
    // Only low is pending: nothing to say between tool calls.
    expect((await hook(sb, api, "PostToolUse", tool)).stdout).toBe("");

    // mesh_inbox's own result carried the messages: its PostToolUse says nothing, marks nothing.
    const urgent = await send(sb, web, "api", "really now", "now");
    const afterInbox = await hook(sb, api, "PostToolUse", {
      tool_name: "mcp__claudemesh__mesh_inbox",
      tool_input: {},
      tool_response: [{ type: "text", text: "..." }],
    });
    expect([afterInbox.code, afterInbox.stdout, afterInbox.stderr]).toEqual([0, "", ""]);
    expect(await stateAtSender(sb, web, urgent)).toBe("delivered");

    // The next prompt takes what waited, low included.
    const prompt = contextOf((await hook(sb, api, "UserPromptSubmit", { prompt: "go" })).stdout, "UserPromptSubmit");
    expect(prompt).toContain("> when you have a minute");
    expect(prompt).toContain("> really now");
    expect(await stateAtSender(sb, web, low)).toBe("surfaced");
  });

  it("SessionStart: an orientation naming the session and its peers, then the pending messages", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api", ["--role", "backend"]);
    const web = await peer(sb, "web", ["--role", "frontend", "--summary", "the login page"]);
    const id = await send(sb, web, "api", "hello from web", "low");

    const res = await hook(sb, api, "SessionStart", { source: "startup", model: "claude" });
    expect([res.code, res.stderr]).toEqual([0, ""]);
    const text = contextOf(res.stdout, "SessionStart");
    expect(text).toContain(`This session is "api" (session ${api.id}) in mesh "default", role backend.`);
    expect(text).toContain("1 peer session(s) in the mesh");
    expect(text).toContain('- web (role frontend): "the login page"');
    for (const t of ["mesh_peers", "mesh_send", "mesh_inbox", "mesh_ack", "mesh_status", "mesh_whoami"]) {
      expect(text).toContain(t);
    }
    expect(text.indexOf("> hello from web")).toBeGreaterThan(text.indexOf("mesh_whoami"));
    expect(await stateAtSender(sb, web, id)).toBe("surfaced");

    // Started again (resume, compact): the orientation still, and no message twice.
    const resumed = contextOf((await hook(sb, api, "SessionStart", { source: "resume" })).stdout, "SessionStart");
    expect(resumed).toContain("No peer message is waiting.");
    expect(resumed).not.toContain("hello from web");
  });

  it("inbound hold: hooks show no messages; they stay delivered", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api", ["--inbound", "hold"]);
    const web = await peer(sb, "web");
    const id = await send(sb, web, "api", "held back", "now");

    const prompt = await hook(sb, api, "UserPromptSubmit", { prompt: "hi" });
    expect([prompt.code, prompt.stdout]).toEqual([0, ""]);
    expect(await statusOf(sb, api)).toBe("working");
    const tool = await hook(sb, api, "PostToolUse", { tool_name: "Read" });
    expect([tool.code, tool.stdout]).toEqual([0, ""]);
    const start = contextOf((await hook(sb, api, "SessionStart", { source: "startup" })).stdout, "SessionStart");
    expect(start).toContain("inbound policy is hold");
    expect(start).toContain("1 wait in mesh_inbox");
    expect(start).not.toContain("held back");
    expect(await stateAtSender(sb, web, id)).toBe("delivered");
  });

  it("a stdout that fails (the reader went away): the message stays delivered, exit 0", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const web = await peer(sb, "web");
    const id = await send(sb, web, "api", "keep me", "now");
    // Both ways in: `claudemesh hook <Event>` and dist/hook.cjs, which launch's hooks run.
    for (const [args, entry] of [
      [["hook"], undefined],
      [[], HOOK_ENTRY],
    ] as const) {
      for (const event of ["UserPromptSubmit", "PostToolUse", "SessionStart"]) {
        const running = sb.spawn([...args, event], {
          env: api.env,
          input: hookInput(event, { tool_name: "Bash" }),
          ...(entry && { entry }),
        });
        // Closed before the hook can write: its write fails (EPIPE), so nothing may be marked.
        running.child.stdout?.destroy();
        const done = await running.exited;
        expect([entry, event, done.code, done.signal]).toEqual([entry, event, 0, null]);
      }
    }
    // The hook did reach the daemon (the prompt set the status), yet marked nothing.
    expect(await statusOf(sb, api)).toBe("working");
    expect(await stateAtSender(sb, web, id)).toBe("delivered");
    // And the next hook that can write shows it.
    expect(contextOf((await hook(sb, api, "UserPromptSubmit")).stdout, "UserPromptSubmit")).toContain("> keep me");
    expect(await stateAtSender(sb, web, id)).toBe("surfaced");
  });
});
