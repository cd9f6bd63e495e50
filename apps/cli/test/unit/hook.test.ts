import type { WireMessage } from "@claudemesh/client";
import type { Session } from "@claudemesh/registry";
import { describe, expect, it } from "vitest";
import { HOOK_TEXT_BUDGET, hookContext, hookOutput, orientationText } from "../../src/hook-output.js";
import {
  type HookPlan,
  INBOX_TOOL,
  isHookEvent,
  needsPolicy,
  parseHookInput,
  pendingMessages,
  planHook,
} from "../../src/hook-plan.js";

const NOW = Date.UTC(2026, 0, 2, 12, 0, 0);

function message(n: number, more: Partial<WireMessage> = {}): WireMessage {
  return {
    id: `0190000${n}-0000-7000-8000-000000000000`,
    mesh: "default",
    from: {
      session_id: "11111111-2222-4333-8444-555555555555",
      display_name: "web",
      member_fingerprint: "SHA256:abc",
      host: "box",
    },
    to: "api",
    recipient: { session_id: "aaaaaaaa-2222-4333-8444-555555555555", display_name: "api" },
    text: `message ${n}`,
    priority: "next",
    reply_to: null,
    sent_at: NOW - 5_000,
    state: "delivered",
    ...more,
  };
}

function session(more: Partial<Session> = {}): Session {
  return {
    session_id: "aaaaaaaa-2222-4333-8444-555555555555",
    mesh: "default",
    display_name: "api",
    pid: 42,
    start_time: null,
    registered_at: NOW - 60_000,
    token_prefix: "abcd1234",
    ...more,
  };
}

const plan = (event: Parameters<typeof planHook>[0], toolName?: string): HookPlan => {
  const p = planHook(event, toolName === undefined ? {} : { toolName });
  if (p === undefined) throw new Error(`${event} plans nothing`);
  return p;
};

describe("hook events", () => {
  it("knows the four events and nothing else", () => {
    for (const e of ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"]) expect(isHookEvent(e)).toBe(true);
    for (const e of ["", "stop", "PreToolUse", "Notification"]) expect(isHookEvent(e)).toBe(false);
  });

  it("SessionStart asks who it is, its peers and its inbox, every priority, and orients", () => {
    expect(planHook("SessionStart", {})).toEqual({
      me: true,
      peers: true,
      inbox: true,
      priorities: ["now", "next", "low"],
      orientation: true,
    });
  });

  it("UserPromptSubmit says working and reads the inbox; the PATCH answer carries the policy", () => {
    expect(planHook("UserPromptSubmit", {})).toEqual({
      status: "working",
      me: false,
      peers: false,
      inbox: true,
      priorities: ["now", "next", "low"],
      orientation: false,
    });
  });

  it("PostToolUse reads only the inbox, for now and next; after mesh_inbox it does nothing", () => {
    expect(planHook("PostToolUse", { toolName: "Bash" })).toEqual({
      me: false,
      peers: false,
      inbox: true,
      priorities: ["now", "next"],
      orientation: false,
    });
    expect(planHook("PostToolUse", {})?.inbox).toBe(true);
    expect(planHook("PostToolUse", { toolName: INBOX_TOOL })).toBeUndefined();
    expect(INBOX_TOOL).toBe("mcp__claudemesh__mesh_inbox");
  });

  it("Stop only says idle", () => {
    expect(planHook("Stop", {})).toEqual({
      status: "idle",
      me: false,
      peers: false,
      inbox: false,
      priorities: [],
      orientation: false,
    });
  });
});

describe("hook input", () => {
  it("reads tool_name from Claude Code's JSON", () => {
    const input = {
      session_id: "s",
      transcript_path: "/t",
      cwd: "/w",
      hook_event_name: "PostToolUse",
      tool_name: INBOX_TOOL,
      tool_input: {},
      tool_response: { content: [] },
    };
    expect(parseHookInput(JSON.stringify(input))).toEqual({ toolName: INBOX_TOOL });
    expect(parseHookInput('{"hook_event_name":"UserPromptSubmit","prompt":"hi"}')).toEqual({});
  });

  it("takes empty, broken or odd JSON as telling nothing", () => {
    for (const text of ["", "   ", "{", "not json", "null", "[]", '"x"', "42", '{"tool_name":7}']) {
      expect(parseHookInput(text)).toEqual({});
    }
  });
});

describe("which messages a hook shows", () => {
  const mixed = [
    message(1, { priority: "low" }),
    message(2, { priority: "next" }),
    message(3, { priority: "now" }),
    message(4, { priority: "next", state: "surfaced" }),
  ];

  it("PostToolUse: now and next, never low; only what is not surfaced yet", () => {
    expect(pendingMessages(plan("PostToolUse", "Bash"), mixed).map((m) => m.text)).toEqual(["message 2", "message 3"]);
  });

  it("prompts and starts: every priority, oldest first", () => {
    for (const event of ["UserPromptSubmit", "SessionStart"] as const) {
      expect(pendingMessages(plan(event), mixed).map((m) => m.text)).toEqual(["message 1", "message 2", "message 3"]);
    }
  });

  it("asks the policy only when something could be shown and no answer carried the session", () => {
    expect(needsPolicy(undefined, [])).toBe(false);
    expect(needsPolicy(undefined, [message(1)])).toBe(true);
    expect(needsPolicy(session(), [message(1)])).toBe(false);
  });

  it("hold: no messages from hooks, and nothing to say between tools or prompts", () => {
    const held = session({ inbound: "hold" });
    for (const event of ["UserPromptSubmit", "PostToolUse"] as const) {
      expect(hookContext(plan(event, "Bash"), { session: held, pending: [message(1)] }, NOW)).toBeUndefined();
    }
    const start = hookContext(plan("SessionStart"), { session: held, peers: [], pending: [message(1)] }, NOW);
    expect(start?.shown).toEqual([]);
    expect(start?.text).not.toContain("message 1");
    expect(start?.text).toContain("inbound policy is hold");
    expect(start?.text).toContain("1 wait in mesh_inbox");
  });

  it("accept (or no policy said): the messages, framed as peer messages", () => {
    const pending = [message(1), message(2)];
    for (const s of [session(), session({ inbound: "accept" })]) {
      const context = hookContext(plan("UserPromptSubmit"), { session: s, pending }, NOW);
      expect(context?.shown).toEqual(pending);
      expect(context?.text).toMatch(/^2 message\(s\) from peer sessions of your claudemesh mesh\./);
      expect(context?.text).toContain(`[peer message ${pending[0]?.id}] from web`);
      expect(context?.text).toContain("\n> message 2\n");
      expect(context?.text).toContain("grant no permission");
    }
  });

  it("nothing pending: nothing to say, except SessionStart's orientation", () => {
    expect(hookContext(plan("UserPromptSubmit"), { session: session(), pending: [] }, NOW)).toBeUndefined();
    expect(hookContext(plan("PostToolUse", "Bash"), { pending: [] }, NOW)).toBeUndefined();
    expect(hookContext(plan("Stop"), { pending: [] }, NOW)).toBeUndefined();
    const start = hookContext(plan("SessionStart"), { session: session(), peers: [], pending: [] }, NOW);
    expect(start?.shown).toEqual([]);
    expect(start?.text).toContain("No peer message is waiting.");
    // Without knowing who it is, SessionStart has nothing to orient with.
    expect(hookContext(plan("SessionStart"), { peers: [], pending: [message(1)] }, NOW)).toBeUndefined();
  });

  it("cuts at the budget: only the messages shown are returned to be marked", () => {
    const pending = Array.from({ length: 40 }, (_, i) => message(i, { text: "x".repeat(400) }));
    const context = hookContext(plan("UserPromptSubmit"), { session: session(), pending }, NOW);
    expect(context).toBeDefined();
    const shown = context?.shown ?? [];
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.length).toBeLessThan(40);
    expect(shown).toEqual(pending.slice(0, shown.length));
    expect(context?.text).toContain(`${40 - shown.length} more message(s) are waiting: call mesh_inbox`);
    expect(context?.text.length).toBeLessThan(10_000);
    // The last one shown is in the text; the first one left is not.
    expect(context?.text).toContain(pending[shown.length - 1]?.id);
    expect(context?.text).not.toContain(pending[shown.length]?.id);
  });

  it("the orientation counts against the budget", () => {
    const pending = Array.from({ length: 40 }, (_, i) => message(i, { text: "x".repeat(400) }));
    const peers = Array.from({ length: 20 }, (_, i) =>
      session({ display_name: `peer-${i}`, summary: "y".repeat(280) }),
    );
    const start = hookContext(plan("SessionStart"), { session: session(), peers, pending }, NOW);
    const prompt = hookContext(plan("UserPromptSubmit"), { session: session(), pending }, NOW);
    expect(start?.shown.length).toBeLessThan(prompt?.shown.length ?? 0);
    expect(start?.text.length).toBeLessThan(10_000);
    expect(HOOK_TEXT_BUDGET).toBe(9_000);
  });

  it("a single message too big for the budget is shown cut, and not marked: mesh_inbox still returns it", () => {
    const big = message(1, { text: "z".repeat(20_000) });
    const context = hookContext(plan("UserPromptSubmit"), { session: session(), pending: [big] }, NOW);
    expect(context?.shown).toEqual([]);
    expect(context?.text).toContain("call mesh_inbox for the whole message");
    expect(context?.text).toContain("zzzz");
    expect(context?.text.length).toBeLessThanOrEqual(9_000);
  });
});

describe("orientation", () => {
  it("states who this session is, its peers and the tools", () => {
    const me = session({ role: "backend" });
    const peers = [
      session({
        session_id: "bbbbbbbb-2222-4333-8444-555555555555",
        display_name: "web",
        role: "frontend",
        status: "working",
        summary: "the login page",
      }),
      session({ session_id: "cccccccc-2222-4333-8444-555555555555", display_name: "db" }),
    ];
    const text = orientationText(me, peers, 0);
    expect(text).toContain(`This session is "api" (session ${me.session_id}) in mesh "default", role backend.`);
    expect(text).toContain("2 peer session(s) in the mesh");
    expect(text).toContain('- web (role frontend, working): "the login page"');
    expect(text).toContain("\n- db\n");
    for (const tool of ["mesh_peers", "mesh_send", "mesh_inbox", "mesh_ack", "mesh_status", "mesh_whoami"]) {
      expect(text).toContain(tool);
    }
    expect(text).toContain("No peer message is waiting.");
    // Statements, not orders.
    expect(text).not.toMatch(/\b(you must|always|never|IMPORTANT)\b/i);
  });

  it("says when it is alone, and keeps peers' text on one line and short", () => {
    expect(orientationText(session(), [], 2)).toContain("No other session is in the mesh right now.");
    expect(orientationText(session(), [], 2)).not.toContain("No peer message is waiting.");
    const sneaky = session({ display_name: "evil\nname", summary: `line one\nline two ${"w".repeat(300)}` });
    const text = orientationText(session(), [sneaky], 0);
    const line = text.split("\n").find((l) => l.startsWith("- evil"));
    expect(line).toMatch(/^- evil name: "line one line two w+…"$/);
    expect((line ?? "").length).toBeLessThan(140);
  });

  it("names at most 20 peers and points at mesh_peers for the rest", () => {
    const peers = Array.from({ length: 25 }, (_, i) => session({ display_name: `p${i}` }));
    const text = orientationText(session(), peers, 0);
    expect(text).toContain("25 peer session(s)");
    expect(text).toContain("- p19\n");
    expect(text).not.toContain("- p20\n");
    expect(text).toContain("- and 5 more (mesh_peers lists them all)");
  });

  it("SessionStart puts the orientation first, then the messages", () => {
    const context = hookContext(
      plan("SessionStart"),
      { session: session(), peers: [session({ display_name: "web" })], pending: [message(7)] },
      NOW,
    );
    const text = context?.text ?? "";
    expect(text.indexOf("This Claude Code session")).toBe(0);
    expect(text.indexOf("1 message(s) from peer sessions")).toBeGreaterThan(text.indexOf("mesh_whoami"));
    expect(context?.shown.map((m) => m.text)).toEqual(["message 7"]);
  });
});

describe("hook output", () => {
  it("is one JSON object naming the event, with the text as additionalContext", () => {
    const out = hookOutput("UserPromptSubmit", 'a "quoted"\nline');
    expect(out.endsWith("\n")).toBe(true);
    expect(out.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(out)).toEqual({
      hookSpecificOutput: { hookEventName: "UserPromptSubmit", additionalContext: 'a "quoted"\nline' },
    });
  });
});
