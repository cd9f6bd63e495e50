// A copy to a remote recipient whose daemon restarted while the copy was on its way (a new
// sealing key in the recipient's presence before the server confirmed the old copy) is sealed
// again for the new key. Found by the soak (bench/soak.mjs): a broadcast sent just after a
// daemon's kill -9 stayed `accepted` for good on the sender, sealed to a key the restarted daemon
// no longer had, because the confirmation of the old copy marked it done.
import { generateSealingKeyPair, type MessageStore, type RemoteDirectory } from "@claudemesh/mesh";
import type { SessionRegistry } from "@claudemesh/registry";
import type { JetStreamClient } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { Outbox } from "../../src/nats/outbox.js";

const MESH = "team";
const DAEMON = "0123456789abcdef";
const RECIPIENT = "bob";
const ID = "01a2372e-f4a7-77f3-8d21-214296893aee";

interface Publish {
  readonly msgID: string;
  readonly resolve: () => void;
}

function world() {
  let sealing = generateSealingKeyPair().publicKey;
  // A message from the member (no session proof to make), waiting for one remote recipient.
  const envelope = {
    id: ID,
    mesh: MESH,
    from: { session_id: null, signing_key: "ab".repeat(32), member_fingerprint: "SHA256:x", host: "h" },
    to: RECIPIENT,
    priority: "next",
    reply_to: null,
    sent_at: Date.now(),
    text: "hello",
    signature: "cd".repeat(64),
  };
  const message = { envelope, recipients: [{ session_id: RECIPIENT, state: "accepted", updated_at: Date.now() }] };
  const store = {
    get: (id: string) => (id === ID ? message : undefined),
    waitingFor: () => [ID],
    snapshot: () => ({ messages: [message] }),
  } as unknown as MessageStore;
  const directory = {
    get: (session: string) =>
      session === RECIPIENT
        ? { presence: { session_id: RECIPIENT, daemon: DAEMON, sealing_pubkey: sealing } }
        : undefined,
  } as unknown as RemoteDirectory;
  const publishes: Publish[] = [];
  const js = {
    publish: (_subject: string, _data: string, options: { msgID: string }) =>
      new Promise<void>((resolve) => publishes.push({ msgID: options.msgID, resolve })),
  } as unknown as JetStreamClient;
  const outbox = new Outbox({
    mesh: MESH,
    member: {} as never,
    store,
    registry: {} as SessionRegistry,
    directory,
    logger: { info: () => {}, warn: () => {} },
  });
  return {
    outbox,
    js,
    publishes,
    key: () => sealing,
    restartRecipientDaemon: () => {
      sealing = generateSealingKeyPair().publicKey;
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const kid = (key: string) => `${ID}:${RECIPIENT}:${key.slice(0, 11)}`;

describe("outbox", () => {
  it("seals again for a key that came while the copy for the old one was on its way", async () => {
    const w = world();
    w.outbox.attach(w.js);
    w.outbox.onPresence(RECIPIENT);
    expect(w.publishes.map((p) => p.msgID)).toEqual([kid(w.key())]);
    const oldKey = w.key();

    // The recipient's daemon restarts: its new presence arrives before the server confirms.
    w.restartRecipientDaemon();
    w.outbox.onPresence(RECIPIENT);
    w.publishes[0]?.resolve();
    await settle();

    expect(w.publishes.map((p) => p.msgID)).toEqual([kid(oldKey), kid(w.key())]);
    expect(w.outbox.depth).toBe(1);
    w.publishes[1]?.resolve();
    await settle();
    expect(w.outbox.depth).toBe(0);
    expect(w.publishes).toHaveLength(2);
  });

  it("sends a copy once when the key stays the same", async () => {
    const w = world();
    w.outbox.attach(w.js);
    w.outbox.onPresence(RECIPIENT);
    w.outbox.onPresence(RECIPIENT);
    w.publishes[0]?.resolve();
    await settle();
    w.outbox.onPresence(RECIPIENT);
    await settle();
    expect(w.publishes.map((p) => p.msgID)).toEqual([kid(w.key())]);
    expect(w.outbox.depth).toBe(0);
  });
});
