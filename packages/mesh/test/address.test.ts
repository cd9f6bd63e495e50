import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type PeerCandidate, parseAddress, type ResolveContext, resolveAddress } from "../src/address.js";

const peer = (id: string, extra: Partial<PeerCandidate> = {}): PeerCandidate => ({
  session_id: id,
  display_name: id,
  registered_at: 0,
  ...extra,
});

function ctx(live: PeerCandidate[], over: Partial<ResolveContext> = {}): ResolveContext {
  return {
    mesh: "default",
    live: () => live,
    byId: (id) => live.find((s) => s.session_id === id),
    senderSessionId: null,
    unread: () => 0,
    known: () => undefined,
    ...over,
  };
}

function resolve(to: string, c: ResolveContext) {
  const parsed = parseAddress(to);
  if (!parsed.ok) throw parsed.error;
  return resolveAddress(parsed.value, c);
}

const ids = (r: ReturnType<typeof resolve>) => (r.kind === "recipients" ? r.live.map((p) => p.session_id) : r.kind);

describe("parseAddress", () => {
  it.each([
    ["*", { kind: "broadcast" }],
    ["@ops", { kind: "group", group: "ops" }],
    ["role:reviewer", { kind: "role", role: "reviewer" }],
    ["api", { kind: "direct", name: "api" }],
    ["0190d3a2-0000-7000-8000-000000000000", { kind: "direct", name: "0190d3a2-0000-7000-8000-000000000000" }],
  ])("reads %s", (to, value) => {
    expect(parseAddress(to)).toEqual({ ok: true, value });
  });

  it.each([
    [42, "must be a string: a session id, a name, @group, role:NAME or *"],
    ["", "must be 1–128 characters"],
    ["x".repeat(129), "must be 1–128 characters"],
    ["a\nb", "must contain only printable characters"],
    ["@", "@group needs a group name of 1–64 characters"],
    [`@${"g".repeat(65)}`, "@group needs a group name of 1–64 characters"],
    ["role:", "role:NAME needs a role of 1–64 characters"],
  ])("refuses %j", (to, rule) => {
    const parsed = parseAddress(to);
    expect(parsed.ok ? undefined : [parsed.error.field, parsed.error.rule]).toEqual(["to", rule]);
  });
});

describe("resolveAddress", () => {
  const a = peer("a", { display_name: "api", role: "reviewer", groups: ["ops"], registered_at: 1 });
  const b = peer("b", { display_name: "web", role: "reviewer", groups: ["ops", "ui"], registered_at: 2 });
  const c = peer("c", { display_name: "api", registered_at: 3 });

  it("a session id reaches that session, the sender itself included", () => {
    expect(ids(resolve("b", ctx([a, b, c])))).toEqual(["b"]);
    expect(ids(resolve("a", ctx([a, b], { senderSessionId: "a" })))).toEqual(["a"]);
  });

  it("a name reaches the one live session with it; several are ambiguous, with every candidate", () => {
    expect(ids(resolve("web", ctx([a, b, c])))).toEqual(["b"]);
    const r = resolve("api", ctx([a, b, c]));
    expect(r.kind).toBe("ambiguous");
    expect(r.kind === "ambiguous" && r.candidates.map((p) => p.session_id)).toEqual(["a", "c"]);
    // The sender is not a candidate for its own name.
    expect(ids(resolve("api", ctx([a, b, c], { senderSessionId: "c" })))).toEqual(["a"]);
  });

  it("@group reaches every live member but the sender", () => {
    expect(ids(resolve("@ops", ctx([a, b, c])))).toEqual(["a", "b"]);
    expect(ids(resolve("@ops", ctx([a, b, c], { senderSessionId: "a" })))).toEqual(["b"]);
    expect(resolve("@none", ctx([a, b])).kind).toBe("unknown");
  });

  it("* reaches every live session but the sender", () => {
    expect(ids(resolve("*", ctx([a, b, c], { senderSessionId: "b" })))).toEqual(["a", "c"]);
    expect(resolve("*", ctx([a], { senderSessionId: "a" }))).toEqual({
      kind: "unknown",
      message: "no other live session in mesh default",
    });
  });

  it("role:NAME picks exactly one: the fewest unread, then the oldest", () => {
    expect(ids(resolve("role:reviewer", ctx([a, b, c])))).toEqual(["a"]);
    expect(ids(resolve("role:reviewer", ctx([a, b, c], { unread: (id) => (id === "a" ? 3 : 1) })))).toEqual(["b"]);
    expect(ids(resolve("role:reviewer", ctx([a, b, c], { senderSessionId: "a" })))).toEqual(["b"]);
    expect(resolve("role:nobody", ctx([a, b])).kind).toBe("unknown");
  });

  it("role anycast always picks one holder with the fewest unread, and among those the oldest", () => {
    const holders = fc.array(fc.record({ unread: fc.nat(5), registered_at: fc.nat(5) }), {
      minLength: 1,
      maxLength: 8,
    });
    fc.assert(
      fc.property(holders, (specs) => {
        const live = specs.map((s, i) => peer(`p${i}`, { role: "r", registered_at: s.registered_at }));
        const unread = (id: string) => specs[Number(id.slice(1))]?.unread ?? 0;
        const r = resolve("role:r", ctx(live, { unread }));
        if (r.kind !== "recipients") throw new Error(r.kind);
        expect(r.live).toHaveLength(1);
        const chosen = r.live[0] as PeerCandidate;
        const fewest = Math.min(...live.map((p) => unread(p.session_id)));
        expect(unread(chosen.session_id)).toBe(fewest);
        const tied = live.filter((p) => unread(p.session_id) === fewest);
        expect(chosen.registered_at).toBe(Math.min(...tied.map((p) => p.registered_at)));
      }),
    );
  });

  it("a known session id that is not live gets the message queued; anything else is unknown", () => {
    const known = (id: string) => (id === "gone" ? { session_id: "gone", display_name: "old" } : undefined);
    expect(resolve("gone", ctx([a], { known }))).toEqual({
      kind: "recipients",
      live: [],
      queued: [{ session_id: "gone", display_name: "old" }],
    });
    expect(resolve("nobody", ctx([a], { known }))).toEqual({
      kind: "unknown",
      message: 'no live session, known session id or name "nobody" in mesh default',
    });
  });
});
