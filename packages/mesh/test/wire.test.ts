import { describe, expect, it } from "vitest";
import { toMessageStatus, toWireMessage } from "../src/wire.js";
import { world } from "./fixtures.js";

describe("message wire forms", () => {
  it("give the recipient the contract's fields, and no signature or key", () => {
    const w = world();
    const a = w.one({ id: "a", name: "api" });
    w.one({ id: "b", name: "web" });
    const sent = w.service.send({ kind: "session", session: a }, { to: "web", text: "hi", priority: "now" });
    const [item] = w.store.inbox("b");
    if (item === undefined) throw new Error("not delivered");
    const wire = toWireMessage(item);
    expect(wire).toEqual({
      id: sent.message.id,
      mesh: "default",
      from: { session_id: "a", display_name: "api", member_fingerprint: w.owner.fingerprint, host: "testhost" },
      to: "web",
      recipient: { session_id: "b", display_name: "web" },
      text: "hi",
      priority: "now",
      reply_to: null,
      sent_at: w.clock.t,
      state: "delivered",
    });
    const stored = w.store.get(sent.message.id);
    if (stored === undefined) throw new Error("not stored");
    const status = toMessageStatus(stored);
    expect(JSON.stringify(status)).not.toContain("hi");
    expect(status).toEqual({
      id: sent.message.id,
      mesh: "default",
      to: "web",
      sent_at: w.clock.t,
      recipients: [{ session_id: "b", display_name: "web", state: "delivered", updated_at: w.clock.t }],
    });
  });
});
