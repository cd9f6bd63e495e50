import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type RegistryEvent, SessionRegistry } from "../src/registry.js";
import { hashToken } from "../src/token.js";
import { registration, token } from "./fixtures.js";

function recorded(registry: SessionRegistry): RegistryEvent[] {
  const events: RegistryEvent[] = [];
  registry.subscribe((e) => events.push(e));
  return events;
}

function clock(start = 1_000) {
  let t = start;
  return () => t++;
}

describe("SessionRegistry", () => {
  it("registers, resolves by token, finds by session id and lists", () => {
    const registry = new SessionRegistry({ now: () => 5_000 });
    const result = registry.register(registration(1, { cwd: "/w", role: "dev", groups: ["x"] }), "boot:42");
    expect(result.replaced).toBe(false);
    expect(result.session).toEqual({
      session_id: "s1",
      mesh: "default",
      display_name: "session 1",
      pid: 1001,
      cwd: "/w",
      role: "dev",
      groups: ["x"],
      start_time: "boot:42",
      registered_at: 5_000,
      token_prefix: "00000000",
    });
    expect(registry.resolve(token(1))).toBe(result.session);
    expect(registry.get("s1")).toBe(result.session);
    expect(registry.resolve(token(2))).toBeUndefined();
    expect(registry.list()).toEqual([result.session]);
    expect(registry.size).toBe(1);
  });

  it("never keeps the raw token, only its SHA-256", () => {
    const registry = new SessionRegistry();
    const secret = "ab".repeat(32);
    registry.register(registration(1, { token: secret }), null);
    const stored = JSON.stringify(registry.entries());
    expect(stored).not.toContain(secret);
    expect(registry.entries()[0]?.tokenHash).toBe(hashToken(secret));
    expect(hashToken(secret)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("lists oldest first and filters by mesh", () => {
    const registry = new SessionRegistry({ now: clock() });
    registry.register(registration(1, { mesh: "a" }), null);
    registry.register(registration(2, { mesh: "b" }), null);
    registry.register(registration(3, { mesh: "a" }), null);
    expect(registry.list().map((s) => s.session_id)).toEqual(["s1", "s2", "s3"]);
    expect(registry.list({ mesh: "a" }).map((s) => s.session_id)).toEqual(["s1", "s3"]);
    expect(registry.list({ mesh: "none" })).toEqual([]);
  });

  it("replaces the entry of another token holding the same session id", () => {
    const registry = new SessionRegistry({ now: clock() });
    const events = recorded(registry);
    registry.register(registration(1, { session_id: "shared" }), null);
    const second = registry.register(registration(2, { session_id: "shared", pid: 77 }), null);
    expect(second.replaced).toBe(true);
    expect(registry.resolve(token(1))).toBeUndefined();
    expect(registry.resolve(token(2))?.pid).toBe(77);
    expect(registry.size).toBe(1);
    expect(events.map((e) => [e.type, e.reason, e.session.token_prefix])).toEqual([
      ["session_registered", "registered", "00000000"],
      ["session_deregistered", "replaced", "00000000"],
      ["session_registered", "registered", "00000000"],
    ]);
    expect(events[1]?.session.pid).toBe(1001);
  });

  it("updates in place when the same token registers again, keeping its age and position", () => {
    const registry = new SessionRegistry({ now: clock(100) });
    registry.register(registration(1), null);
    registry.register(registration(2), null);
    const again = registry.register(registration(1, { display_name: "renamed", pid: 9 }), "st");
    expect(again.replaced).toBe(false);
    expect(again.session).toMatchObject({ display_name: "renamed", pid: 9, start_time: "st", registered_at: 100 });
    expect(registry.list().map((s) => s.session_id)).toEqual(["s1", "s2"]);
    expect(registry.size).toBe(2);
  });

  it("moves the session id index when a token re-registers under a new id", () => {
    const registry = new SessionRegistry();
    registry.register(registration(1, { session_id: "old" }), null);
    registry.register(registration(1, { session_id: "new" }), null);
    expect(registry.get("old")).toBeUndefined();
    expect(registry.get("new")?.token_prefix).toBe("00000000");
    // The old id is free again: registering it under another token replaces nothing.
    expect(registry.register(registration(2, { session_id: "old" }), null).replaced).toBe(false);
    expect(registry.size).toBe(2);
  });

  it("deregisters by token with reason deregistered", () => {
    const registry = new SessionRegistry();
    const events = recorded(registry);
    registry.register(registration(1), null);
    expect(registry.deregister(token(1))?.session_id).toBe("s1");
    expect(registry.deregister(token(1))).toBeUndefined();
    expect(registry.size).toBe(0);
    expect(registry.get("s1")).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ type: "session_deregistered", reason: "deregistered" });
  });

  it("keeps working when a subscriber throws, and reports the error", () => {
    const errors: unknown[] = [];
    const registry = new SessionRegistry({ onListenerError: (e) => errors.push(e) });
    registry.subscribe(() => {
      throw new Error("boom");
    });
    const events = recorded(registry);
    registry.register(registration(1), null);
    expect(registry.size).toBe(1);
    expect(events).toHaveLength(1);
    expect(errors).toEqual([new Error("boom")]);
  });

  it("survives an error reporter that throws too", () => {
    const registry = new SessionRegistry({
      onListenerError: () => {
        throw new Error("reporter");
      },
    });
    registry.subscribe(() => {
      throw new Error("listener");
    });
    expect(() => registry.register(registration(1), null)).not.toThrow();
    expect(registry.size).toBe(1);
  });

  it("stops notifying after unsubscribe", () => {
    const registry = new SessionRegistry();
    const events: RegistryEvent[] = [];
    const unsubscribe = registry.subscribe((e) => events.push(e));
    unsubscribe();
    registry.register(registration(1), null);
    expect(events).toEqual([]);
  });

  it("restores persisted entries without events and refuses clashes", () => {
    const source = new SessionRegistry();
    source.register(registration(1), "st1");
    source.register(registration(2), null);
    const target = new SessionRegistry();
    const events = recorded(target);
    for (const entry of source.entries()) expect(target.restore(entry)).toBe(true);
    expect(target.restore(source.entries()[0] as never)).toBe(false);
    expect(target.resolve(token(1))?.start_time).toBe("st1");
    expect(target.list()).toEqual(source.list());
    expect(events).toEqual([]);
  });

  it("removeIfUnchanged removes only the entry the snapshot saw", () => {
    const registry = new SessionRegistry();
    registry.register(registration(1), null);
    registry.register(registration(2), null);
    const [first, second] = registry.snapshot();
    registry.register(registration(2, { pid: 5 }), null); // re-registered since the snapshot
    expect(registry.removeIfUnchanged(first as never, "exited")).toBe(true);
    expect(registry.removeIfUnchanged(second as never, "exited")).toBe(false);
    expect(registry.removeIfUnchanged(first as never, "exited")).toBe(false);
    expect(registry.list().map((s) => s.session_id)).toEqual(["s2"]);
  });
});

// Model-based property test: any sequence of operations keeps both indexes consistent with a
// simple reference model (a list of {token, sessionId} in registration order).
describe("SessionRegistry invariants", () => {
  type Op =
    | { kind: "register"; tok: number; sid: number }
    | { kind: "deregister"; tok: number }
    | { kind: "reap"; index: number; reregisterFirst: boolean };

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant("register" as const), tok: fc.nat(5), sid: fc.nat(5) }),
    fc.record({ kind: fc.constant("deregister" as const), tok: fc.nat(5) }),
    fc.record({ kind: fc.constant("reap" as const), index: fc.nat(6), reregisterFirst: fc.boolean() }),
  );

  it("indexes always agree with the model", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const registry = new SessionRegistry({ now: clock() });
        let model: { tok: number; sid: number }[] = [];
        for (const o of ops) {
          if (o.kind === "register") {
            const own = model.find((m) => m.tok === o.tok);
            model = model.filter((m) => m.tok === o.tok || m.sid !== o.sid);
            if (own) own.sid = o.sid;
            else model.push({ tok: o.tok, sid: o.sid });
            registry.register(registration(o.tok, { session_id: `id${o.sid}` }), null);
          } else if (o.kind === "deregister") {
            model = model.filter((m) => m.tok !== o.tok);
            registry.deregister(token(o.tok));
          } else {
            const snap = registry.snapshot()[o.index];
            if (!snap) continue;
            const target = model.find((m) => hashToken(token(m.tok)) === snap.tokenHash);
            if (!target) throw new Error("snapshot entry missing from model");
            if (o.reregisterFirst) {
              registry.register(registration(target.tok, { session_id: `id${target.sid}` }), null);
              expect(registry.removeIfUnchanged(snap, "exited")).toBe(false);
            } else {
              expect(registry.removeIfUnchanged(snap, "exited")).toBe(true);
              model = model.filter((m) => m !== target);
            }
          }
          // Both indexes agree with the model after every single operation.
          expect(registry.size).toBe(model.length);
          expect(registry.list().map((s) => s.session_id)).toEqual(model.map((m) => `id${m.sid}`));
          for (const m of model) {
            expect(registry.resolve(token(m.tok))?.session_id).toBe(`id${m.sid}`);
            expect(registry.get(`id${m.sid}`)).toBe(registry.resolve(token(m.tok)));
          }
          for (let sid = 0; sid <= 5; sid++) {
            if (!model.some((m) => m.sid === sid)) expect(registry.get(`id${sid}`)).toBeUndefined();
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("SessionRegistry generation", () => {
  it("changes on every insert, update, removal and restore, and not on reads", () => {
    const registry = new SessionRegistry();
    const seen = [registry.generation];
    const step = () => {
      expect(seen).not.toContain(registry.generation);
      seen.push(registry.generation);
    };
    registry.register(registration(1), null);
    step();
    registry.register(registration(1, { pid: 7 }), null);
    step();
    registry.list();
    registry.resolve(token(1));
    expect(registry.generation).toBe(seen.at(-1));
    registry.deregister(token(1));
    step();
    const other = new SessionRegistry();
    other.register(registration(2), null);
    registry.restore(other.entries()[0] as never);
    step();
  });
});
