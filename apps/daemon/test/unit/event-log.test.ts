import { type RegistryEvent, type Session, type SessionRecord, toSession } from "@claudemesh/registry";
import { describe, expect, it } from "vitest";
import { DEFAULT_RING_SIZE, EventLog, type NumberedEvent, sseFrame } from "../../src/events/event-log.js";
import { waitFor } from "./helpers.js";

function session(i: number): SessionRecord {
  return {
    session_id: `s-${i}`,
    mesh: "default",
    display_name: `session ${i}`,
    pid: 1000 + i,
    cwd: "/home/user/project",
    start_time: `boot:${i}`,
    registered_at: 1_700_000_000_000 + i,
    token_prefix: "0123abcd",
  };
}

function registered(i: number): RegistryEvent {
  return { type: "session_registered", reason: "registered", session: session(i), tokenHash: "a".repeat(64) };
}

const ids = (events: readonly NumberedEvent[]) => events.map((e) => e.id);

describe("EventLog", () => {
  it("numbers events one by one from firstId", () => {
    const log = new EventLog(16, 500);
    expect(log.lastId).toBe(499);
    const a = log.appendSession(registered(1));
    const b = log.appendSession({ type: "session_deregistered", reason: "exited", session: session(1) });
    const c = log.appendSession(registered(2));
    expect(ids([a, b, c])).toEqual([500, 501, 502]);
    expect(log.lastId).toBe(502);
    expect(b).toMatchObject({
      type: "session_deregistered",
      data: { reason: "exited", session: toSession(session(1)) },
      audience: { kind: "all" },
    });
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("since(id) replays exactly the events after id, oldest first", () => {
    const log = new EventLog(16, 1);
    for (let i = 0; i < 6; i++) log.appendSession(registered(i));
    expect(ids(log.since(0))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ids(log.since(3))).toEqual([4, 5, 6]);
    expect(ids(log.since(5))).toEqual([6]);
    expect(log.since(6)).toEqual([]);
    expect(log.since(1_000)).toEqual([]); // an id from the future replays nothing
    expect(log.since(3).map((e) => (e.data.session as Session).session_id)).toEqual(["s-3", "s-4", "s-5"]);
  });

  it("keeps only the last `capacity` events once more have been appended", () => {
    const log = new EventLog(4, 10);
    for (let i = 0; i < 11; i++) log.appendSession(registered(i));
    expect(ids(log.since(0))).toEqual([17, 18, 19, 20]);
    expect(ids(log.since(18))).toEqual([19, 20]);
    expect(log.since(0).map((e) => (e.data.session as Session).session_id)).toEqual(["s-7", "s-8", "s-9", "s-10"]);
  });

  it("is exact at the capacity boundary", () => {
    const log = new EventLog(3, 1);
    for (let i = 0; i < 3; i++) log.appendSession(registered(i));
    expect(ids(log.since(0))).toEqual([1, 2, 3]);
    log.appendSession(registered(3));
    expect(ids(log.since(0))).toEqual([2, 3, 4]);
  });

  it("holds at least the 256 events the contract promises by default", () => {
    expect(DEFAULT_RING_SIZE).toBeGreaterThanOrEqual(256);
    const log = new EventLog(undefined, 1);
    for (let i = 0; i < 300; i++) log.appendSession(registered(i));
    expect(log.since(0)).toHaveLength(300);
  });

  it("keeps only the wire fields of a session (nothing secret can ride along)", () => {
    const log = new EventLog(4, 1);
    const leaky = { ...session(1), token: "f".repeat(64), tokenHash: "e".repeat(64) } as SessionRecord;
    const event = log.appendSession({
      type: "session_registered",
      reason: "registered",
      session: leaky,
      tokenHash: "d".repeat(64),
    } as RegistryEvent);
    expect(event.data.session).toEqual(toSession(session(1)));
    expect(event).not.toHaveProperty("tokenHash");
    expect(sseFrame(event)).not.toContain("d".repeat(64));
    expect(sseFrame(event)).not.toContain("f".repeat(64));
    expect(sseFrame(event)).not.toContain("e".repeat(64));
  });

  it("starts ids from the clock by default, so a later daemon's ids are higher", async () => {
    const first = new EventLog();
    for (let i = 0; i < 5; i++) first.appendSession(registered(i));
    const before = Date.now();
    await waitFor(() => Date.now() > before, "the clock to move on");
    const second = new EventLog();
    expect(second.appendSession(registered(9)).id).toBeGreaterThan(first.lastId);
  });

  it("replays to each subscriber only what it may see: its messages, its senders' states", () => {
    const log = new EventLog(16, 1);
    log.appendSession(registered(1));
    log.append({
      type: "message",
      data: { message: { text: "for a" } },
      audience: { kind: "session", sessionId: "a" },
    });
    log.append({ type: "message_status", data: { message_id: "m" }, audience: { kind: "member" } });
    log.append({
      type: "message",
      data: { message: { text: "for b" } },
      audience: { kind: "session", sessionId: "b" },
    });
    const types = (events: NumberedEvent[]) => events.map((e) => `${e.type}:${JSON.stringify(e.data)}`);
    expect(types(log.since(0, { kind: "session", sessionId: "a" }))).toEqual([
      expect.stringMatching(/^session_registered:/),
      'message:{"message":{"text":"for a"}}',
    ]);
    expect(types(log.since(0, { kind: "member" }))).toEqual([
      expect.stringMatching(/^session_registered:/),
      'message_status:{"message_id":"m"}',
    ]);
    expect(log.since(0, { kind: "session", sessionId: "c" })).toHaveLength(1);
  });
});

describe("sseFrame", () => {
  it("is an id line, an event line, one data line of JSON {session, reason}, and a blank line", () => {
    const log = new EventLog(4, 42);
    const event = log.appendSession({ type: "session_deregistered", reason: "pid_reused", session: session(3) });
    const frame = sseFrame(event);
    expect(frame.endsWith("\n\n")).toBe(true);
    const lines = frame.slice(0, -2).split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe("id: 42");
    expect(lines[1]).toBe("event: session_deregistered");
    expect(lines[2]?.startsWith("data: ")).toBe(true);
    expect(JSON.parse((lines[2] as string).slice("data: ".length))).toEqual({
      session: toSession(session(3)),
      reason: "pid_reused",
    });
  });

  it("keeps a display name with a newline on one data line", () => {
    const log = new EventLog(4, 1);
    const event = log.appendSession({
      type: "session_registered",
      reason: "registered",
      session: { ...session(1), display_name: "two\nlines\r\n" },
    });
    expect(sseFrame(event).split("\n")).toHaveLength(5); // id, event, data, "", ""
  });
});
