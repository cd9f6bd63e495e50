import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DELIVERY_STATES, type DeliveryState, isFinal } from "../src/delivery.js";
import { type Envelope, signEnvelope } from "../src/envelope.js";
import { generateSigningKey } from "../src/keys.js";
import { MessageStore, type StoreChange } from "../src/store.js";
import { uuidV7Generator } from "../src/uuid.js";

const T0 = 1_800_000_000_000;
const key = generateSigningKey();
const newId = uuidV7Generator({ now: () => T0 });

function envelope(over: Partial<Envelope> = {}, sender: string | null = "sender"): Envelope {
  return signEnvelope(
    {
      id: newId(),
      mesh: "default",
      from: {
        session_id: sender,
        display_name: "s",
        member_fingerprint: "SHA256:m",
        host: "h",
        signing_key: key.publicKey,
      },
      to: "*",
      text: "hello",
      priority: "next",
      reply_to: null,
      sent_at: T0,
      ...over,
    },
    key,
  );
}

const to = (...ids: string[]) => ids.map((session_id) => ({ session_id, display_name: session_id }));

function recorded(store: MessageStore): StoreChange[] {
  const changes: StoreChange[] = [];
  store.subscribe((c) => changes.push(c));
  return changes;
}

describe("MessageStore", () => {
  it("stores a message once for all its recipients, each with its own state", () => {
    const store = new MessageStore();
    const changes = recorded(store);
    const m = envelope();
    const stored = store.accept(m, to("a", "b"), null, T0);
    expect(stored.recipients.map((r) => [r.session_id, r.state])).toEqual([
      ["a", "accepted"],
      ["b", "accepted"],
    ]);
    expect(store.deliver(m.id, "a", "accept", T0 + 1)).toBe("delivered");
    expect(store.get(m.id)?.recipients.map((r) => r.state)).toEqual(["delivered", "accepted"]);
    expect(changes.map((c) => c.kind)).toEqual(["accepted", "state"]);
    expect(() => store.accept(m, to("c"), null, T0)).toThrow(/already stored/);
  });

  it("adds a recipient to a stored message (a second local session of a remote broadcast)", () => {
    const store = new MessageStore();
    const changes = recorded(store);
    const m = envelope();
    store.accept(m, to("a"), null, T0);
    store.deliver(m.id, "a", "accept", T0);
    store.mark("a", [m.id], "surfaced", T0);
    expect(store.addRecipient(m.id, { session_id: "b", display_name: "b" }, T0 + 1)).toBe(true);
    expect(store.addRecipient(m.id, { session_id: "b", display_name: "b" }, T0 + 2)).toBe(false);
    expect(store.addRecipient("00000000-0000-7000-8000-000000000000", { session_id: "b", display_name: "b" }, T0)).toBe(
      false,
    );
    expect(store.get(m.id)?.recipients.map((r) => [r.session_id, r.state])).toEqual([
      ["a", "surfaced"],
      ["b", "accepted"],
    ]);
    expect(store.unsurfaced("b")).toBe(1);
    expect(store.deliver(m.id, "b", "accept", T0 + 3)).toBe("delivered");
    expect(store.inbox("b").map((i) => i.envelope.id)).toEqual([m.id]);
    expect(changes.map((c) => c.kind)).toEqual(["accepted", "state", "state", "recipient", "state"]);
  });

  it("keeps accepted messages out of the inbox until delivered, and lists it oldest first", () => {
    const store = new MessageStore();
    const [m1, m2, m3] = [envelope(), envelope(), envelope()];
    for (const m of [m1, m2, m3]) store.accept(m as Envelope, to("a"), null, T0);
    expect(store.inbox("a")).toEqual([]);
    store.deliver((m2 as Envelope).id, "a", "accept", T0);
    store.deliver((m1 as Envelope).id, "a", "accept", T0);
    expect(store.inbox("a").map((i) => i.envelope.id)).toEqual([(m1 as Envelope).id, (m2 as Envelope).id]);
    expect(store.unsurfaced("a")).toBe(3); // two delivered, one still waiting
    expect(store.waitingFor("a", "default")).toEqual([(m3 as Envelope).id]);
    expect(store.waitingFor("a", "other-mesh")).toEqual([]);
  });

  it("marks only messages in the recipient's own inbox, only forward, and counts what moved", () => {
    const store = new MessageStore();
    const m = envelope();
    const n = envelope();
    store.accept(m, to("a", "b"), null, T0);
    store.accept(n, to("a"), null, T0);
    store.deliver(m.id, "a", "accept", T0);
    store.deliver(m.id, "b", "accept", T0);
    // n is not delivered yet: marking it is not allowed (it is not in the inbox).
    expect(store.mark("a", [m.id, n.id, m.id, "0190d3a2-7b1c-7000-8000-00000000ffff"], "surfaced", T0)).toBe(1);
    expect(store.mark("a", [m.id], "surfaced", T0)).toBe(0);
    expect(store.mark("a", [m.id], "acked", T0)).toBe(1);
    expect(store.mark("a", [m.id], "surfaced", T0)).toBe(0); // never back
    expect(store.get(m.id)?.recipients.map((r) => [r.session_id, r.state])).toEqual([
      ["a", "acked"],
      ["b", "delivered"],
    ]);
    expect(store.inbox("a").map((i) => i.envelope.id)).toEqual([]);
    expect(store.inbox("a", "all").map((i) => [i.envelope.id, i.recipient.state])).toEqual([[m.id, "acked"]]);
  });

  it("queues at most the cap for a session id that is not live, refusing the rest at once", () => {
    const store = new MessageStore({ inboxCap: 2 });
    const ms = [envelope(), envelope(), envelope()];
    const states = ms.map((m) => {
      store.accept(m, to("gone"), null, T0);
      return store.park(m.id, "gone", T0);
    });
    expect(states).toEqual(["accepted", "accepted", "refused"]);
    expect(store.get((ms[2] as Envelope).id)?.recipients[0]?.reason).toBe("inbox_full");
    // When it comes back, what waited is delivered, oldest first.
    expect(store.waitingFor("gone", "default").map((id) => store.deliver(id, "gone", "accept", T0))).toEqual([
      "delivered",
      "delivered",
    ]);
  });

  it("refuses for the policy, or once the inbox holds its cap of unsurfaced messages", () => {
    const store = new MessageStore({ inboxCap: 2 });
    const ms = [envelope(), envelope(), envelope(), envelope()];
    expect(
      ms.slice(0, 3).map((m) => {
        store.accept(m, to("a"), null, T0);
        return store.deliver(m.id, "a", "accept", T0);
      }),
    ).toEqual(["delivered", "delivered", "refused"]);
    expect(store.get((ms[2] as Envelope).id)?.recipients[0]?.reason).toBe("inbox_full");
    expect(store.unsurfaced("a")).toBe(2);
    store.mark("a", [(ms[0] as Envelope).id], "surfaced", T0);
    const last = ms[3] as Envelope;
    store.accept(last, to("a", "b"), null, T0);
    expect(store.deliver(last.id, "a", "accept", T0)).toBe("delivered");
    expect(store.deliver(last.id, "b", "refuse", T0)).toBe("refused");
    expect(store.get(last.id)?.recipients[1]).toMatchObject({ state: "refused", reason: "policy" });
    expect(store.deliver(last.id, "b", "accept", T0)).toBeUndefined(); // not waiting any more
  });

  it("expires what was not surfaced within 7 days, and nothing surfaced", () => {
    const store = new MessageStore();
    const old = envelope();
    const fresh = envelope({ sent_at: T0 + 1000 });
    store.accept(old, to("a", "b", "c"), null, T0);
    store.accept(fresh, to("a"), null, T0);
    store.deliver(old.id, "b", "accept", T0);
    store.deliver(old.id, "c", "accept", T0);
    store.mark("c", [old.id], "surfaced", T0);
    const week = 7 * 24 * 3600 * 1000;
    expect(store.expire(T0 + week - 1)).toBe(0);
    expect(store.expire(T0 + week)).toBe(2);
    expect(store.get(old.id)?.recipients.map((r) => r.state)).toEqual(["expired", "expired", "surfaced"]);
    expect(store.get(fresh.id)?.recipients[0]?.state).toBe("accepted");
    expect(store.unsurfaced("a")).toBe(1);
  });

  it("answers an idempotency key of the same sender within 10 minutes, even after its message is dropped", () => {
    const store = new MessageStore({ finalRetentionMs: 0 });
    const m = envelope();
    store.accept(m, to("a"), "key-1", T0);
    expect(store.byIdempotencyKey("sender", "key-1", T0 + 1)?.id).toBe(m.id);
    expect(store.byIdempotencyKey("other", "key-1", T0 + 1)).toBeUndefined();
    expect(store.byIdempotencyKey(null, "key-1", T0 + 1)).toBeUndefined();
    store.deliver(m.id, "a", "accept", T0);
    store.mark("a", [m.id], "acked", T0);
    expect(store.compact(T0 + 1)).toBe(1);
    expect(store.get(m.id)).toBeUndefined();
    expect(store.byIdempotencyKey("sender", "key-1", T0 + 2)?.recipients[0]?.state).toBe("acked");
    expect(store.byIdempotencyKey("sender", "key-1", T0 + 10 * 60_000 + 1)).toBeUndefined();
  });

  it("drops settled messages after their retention, and the oldest beyond the cap at once; never an unsettled one", () => {
    const store = new MessageStore({ maxSettled: 2 });
    const changes = recorded(store);
    const ms = [envelope(), envelope(), envelope(), envelope()];
    for (const m of ms) {
      store.accept(m, to("a"), null, T0);
      store.deliver(m.id, "a", "accept", T0);
    }
    const [m0, m1, m2, m3] = ms as [Envelope, Envelope, Envelope, Envelope];
    store.mark("a", [m0.id, m1.id], "acked", T0);
    store.mark("a", [m2.id], "surfaced", T0); // three settled, cap two: the oldest went then
    expect(store.has(m0.id)).toBe(false);
    expect(store.compact(T0 + 1)).toBe(0);
    expect(store.compact(T0 + 3_600_000)).toBe(1); // m1 acked an hour ago
    expect([m1, m2, m3].map((m) => store.has(m.id))).toEqual([false, true, true]);
    expect(store.compact(T0 + 7 * 24 * 3_600_000)).toBe(1); // m2 surfaced a week ago
    expect(store.has(m3.id)).toBe(true); // delivered, never surfaced: expiry decides, not compaction
    expect(changes.filter((c) => c.kind === "dropped")).toHaveLength(3);
    expect(store.inbox("a", "all").map((i) => i.envelope.id)).toEqual([m3.id]);
  });

  it("remembers session ids per mesh, forgets them after a week or past the cap", () => {
    const store = new MessageStore({ maxKnown: 2 });
    store.remember({ session_id: "x", mesh: "m", display_name: "X", seen_at: T0 });
    store.remember({ session_id: "y", mesh: "m", display_name: "Y", seen_at: T0 });
    store.remember({ session_id: "x", mesh: "m", display_name: "X2", seen_at: T0 + 5 });
    store.remember({ session_id: "z", mesh: "m", display_name: "Z", seen_at: T0 + 6 });
    expect(store.known("m", "y")).toBeUndefined(); // the oldest seen went past the cap
    expect(store.known("m", "x")?.display_name).toBe("X2");
    expect(store.known("other", "x")).toBeUndefined();
    store.compact(T0 + 5 + 7 * 24 * 3_600_000 + 1);
    expect(store.known("m", "x")).toBeUndefined();
    expect(store.known("m", "z")?.display_name).toBe("Z");
  });

  it("restores a snapshot into the same state, unsurfaced counts and idempotency keys included", () => {
    const store = new MessageStore();
    const m = envelope();
    const n = envelope();
    store.accept(m, to("a", "b"), "k", T0);
    store.accept(n, to("a"), null, T0);
    store.deliver(m.id, "a", "accept", T0);
    store.mark("a", [m.id], "surfaced", T0);
    store.remember({ session_id: "b", mesh: "default", display_name: "b", seen_at: T0 });
    const copy = new MessageStore();
    const { messages, known } = store.snapshot();
    copy.restore(messages, known);
    expect(copy.snapshot()).toEqual(store.snapshot());
    expect(["a", "b"].map((id) => copy.unsurfaced(id))).toEqual([1, 1]);
    expect(copy.byIdempotencyKey("sender", "k", T0)?.id).toBe(m.id);
  });
});

// Model-based: any sequence of operations keeps the unsurfaced counts equal to what the states
// say, and every state change any listener hears of is a move forward.
describe("MessageStore invariants", () => {
  type Op =
    | { kind: "send"; recipients: number[] }
    | { kind: "deliver"; msg: number; r: number; inbound: "accept" | "hold" | "refuse" }
    | { kind: "park"; msg: number; r: number }
    | { kind: "mark"; msg: number; r: number; state: "surfaced" | "acked" }
    | { kind: "advance"; msg: number; r: number; state: DeliveryState }
    | { kind: "expire" | "compact"; later: number };

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant("send" as const),
      recipients: fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 4 }),
    }),
    fc.record({
      kind: fc.constant("deliver" as const),
      msg: fc.nat(9),
      r: fc.nat(3),
      inbound: fc.constantFrom("accept" as const, "hold" as const, "refuse" as const),
    }),
    fc.record({
      kind: fc.constant("mark" as const),
      msg: fc.nat(9),
      r: fc.nat(3),
      state: fc.constantFrom("surfaced" as const, "acked" as const),
    }),
    fc.record({
      kind: fc.constant("advance" as const),
      msg: fc.nat(9),
      r: fc.nat(3),
      state: fc.constantFrom(...DELIVERY_STATES),
    }),
    fc.record({ kind: fc.constantFrom("expire" as const, "compact" as const), later: fc.nat(10 * 24) }),
  );

  it("counts and states stay consistent, and states only move forward", () => {
    const rank = (s: DeliveryState) =>
      ["accepted", "delivered", "surfaced", "acked"].indexOf(s) + (isFinal(s) && s !== "acked" ? 10 : 0);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
        const store = new MessageStore({ inboxCap: 3, maxSettled: 4 });
        const ids: string[] = [];
        const last = new Map<string, DeliveryState>();
        store.subscribe((c) => {
          if (c.kind !== "state") return;
          const k = `${c.envelope.id}/${c.recipient.session_id}`;
          const before = last.get(k) ?? "accepted";
          expect(c.previous).toBe(before);
          expect(rank(c.recipient.state)).toBeGreaterThan(rank(before));
          last.set(k, c.recipient.state);
        });
        let now = T0;
        for (const o of ops) {
          const id = ids[("msg" in o ? o.msg : 0) % Math.max(1, ids.length)];
          if (o.kind === "send") {
            const m = envelope({ sent_at: now });
            store.accept(m, to(...o.recipients.map((r) => `r${r}`)), null, now);
            ids.push(m.id);
          } else if (o.kind === "deliver" && id) store.deliver(id, `r${o.r}`, o.inbound, now);
          else if (o.kind === "park" && id) store.park(id, `r${o.r}`, now);
          else if (o.kind === "mark" && id) store.mark(`r${o.r}`, [id], o.state, now);
          else if (o.kind === "advance" && id) store.advance(id, `r${o.r}`, o.state, now);
          else if (o.kind === "expire" || o.kind === "compact") {
            now += o.later * 3_600_000;
            if (o.kind === "expire") store.expire(now);
            else store.compact(now);
          }
          const { messages } = store.snapshot();
          for (let r = 0; r < 4; r++) {
            const expected = messages
              .flatMap((m) => m.recipients)
              .filter((x) => x.session_id === `r${r}` && (x.state === "accepted" || x.state === "delivered")).length;
            expect(store.unsurfaced(`r${r}`)).toBe(expected);
            expect(store.inbox(`r${r}`).every((i) => i.recipient.state === "delivered")).toBe(true);
            expect(store.inbox(`r${r}`).length).toBeLessThanOrEqual(3); // the cap holds, whatever happens
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
