import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Envelope, signEnvelope } from "../src/envelope.js";
import { generateSigningKey } from "../src/keys.js";
import {
  decodeMessages,
  encodeMessageChange,
  encodeMessageItem,
  encodeMessagesHeader,
  itemsOf,
  type MessageItem,
  replayMessageJournal,
  splitItems,
} from "../src/message-codec.js";
import { MessageStore } from "../src/store.js";
import { uuidV7Generator } from "../src/uuid.js";

const T0 = 1_800_000_000_000;
const key = generateSigningKey();
const newId = uuidV7Generator({ now: () => T0 });

function envelope(text = "hello"): Envelope {
  return signEnvelope(
    {
      id: newId(),
      mesh: "default",
      from: {
        session_id: "s",
        display_name: "s",
        member_fingerprint: "SHA256:m",
        host: "h",
        signing_key: key.publicKey,
      },
      to: "@all",
      text,
      priority: "next",
      reply_to: null,
      sent_at: T0,
    },
    key,
  );
}

function checkpoint(items: readonly MessageItem[], journalFrom = 0): string {
  return `${[encodeMessagesHeader(items.length, T0, journalFrom), ...items.map(encodeMessageItem)].join("\n")}\n`;
}

const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

describe("message checkpoint", () => {
  it("round-trips messages and known session ids, text stored once per message", () => {
    const store = new MessageStore();
    const m = envelope("the text, once");
    store.accept(
      m,
      ["a", "b", "c"].map((id) => ({ session_id: id, display_name: id })),
      "k",
      T0,
    );
    store.deliver(m.id, "a", "accept", T0);
    store.remember({ session_id: "a", mesh: "default", display_name: "a", seen_at: T0 });
    const text = checkpoint(itemsOf(store.snapshot()), 3);
    expect(text.split("the text, once").length - 1).toBe(1);
    const decoded = decodeMessages(text);
    expect(decoded.ok && decoded.journalFrom).toBe(3);
    expect(decoded.ok && plain(splitItems(decoded.items))).toEqual(plain(store.snapshot()));
  });

  it("fails whole on a damaged line, naming it", () => {
    const store = new MessageStore();
    store.accept(envelope(), [{ session_id: "a", display_name: "a" }], null, T0);
    const lines = checkpoint(itemsOf(store.snapshot())).split("\n");
    const broken = [lines[0], lines[1]?.replace('"accepted"', '"teleported"'), ""].join("\n");
    const decoded = decodeMessages(broken);
    expect(decoded.ok ? "" : decoded.error.message).toBe("line 2: recipient state is not a delivery state");
    expect(decodeMessages(`${lines[0]}\n`).ok).toBe(false); // count says 1, file holds 0
  });
});

describe("message journal", () => {
  it("skips lines it cannot apply, keeps the rest", () => {
    const m = envelope();
    const store = new MessageStore();
    const lines: string[] = [];
    store.subscribe((c) => lines.push(encodeMessageChange(c)));
    store.accept(m, [{ session_id: "a", display_name: "a" }], null, T0);
    store.deliver(m.id, "a", "accept", T0);
    const journal = `${[lines[0], "garbage", '{"op":"warp"}', '{"op":"state","id":"nope"}', lines[1]].join("\n")}\n{"op":`;
    const result = replayMessageJournal([], [journal]);
    expect(result.applied).toBe(2);
    expect(result.skipped.map((s) => [s.line, s.reason])).toEqual([
      [6, "cut short (no final newline)"],
      [2, "not valid JSON"],
      [3, 'unknown op "warp"'],
      [4, "state of an unknown message"],
    ]);
    expect(plain(splitItems(result.items))).toEqual(plain(store.snapshot()));
  });

  // Whatever happened, the checkpoint taken at any point plus the journal lines written after it
  // give back the store as it is; and replaying lines a checkpoint already holds changes nothing.
  it("checkpoint + later lines = the store, for any history cut anywhere", () => {
    type Op =
      | ["send", number[]]
      | ["deliver" | "surface" | "ack" | "add", number, number]
      | ["expire" | "compact", number];
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.tuple(fc.constant("send" as const), fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 3 })),
      fc.tuple(
        fc.constantFrom("deliver" as const, "surface" as const, "ack" as const, "add" as const),
        fc.nat(7),
        fc.nat(3),
      ),
      fc.tuple(fc.constantFrom("expire" as const, "compact" as const), fc.nat(200)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.nat(40), (ops, cutAt) => {
        const store = new MessageStore({ maxSettled: 3, knownRetentionMs: Number.MAX_SAFE_INTEGER });
        const lines: string[] = [];
        store.subscribe((c) => lines.push(encodeMessageChange(c)));
        const ids: string[] = [];
        let now = T0;
        let cut: { items: MessageItem[]; line: number } = { items: [], line: 0 };
        ops.forEach((o, i) => {
          if (i === cutAt) cut = { items: itemsOf(store.snapshot()), line: lines.length };
          const id = typeof o[1] === "number" ? ids[o[1] % Math.max(1, ids.length)] : undefined;
          if (o[0] === "send") {
            const m = envelope();
            ids.push(m.id);
            store.accept(
              m,
              o[1].map((r) => ({ session_id: `r${r}`, display_name: `r${r}` })),
              null,
              now,
            );
            store.remember({ session_id: `r${o[1][0]}`, mesh: "default", display_name: "r", seen_at: now });
          } else if (o[0] === "deliver" && id) store.deliver(id, `r${o[2]}`, "accept", now);
          else if (o[0] === "add" && id) store.addRecipient(id, { session_id: `r${o[2]}`, display_name: "r" }, now);
          else if (o[0] === "surface" && id) store.mark(`r${o[2]}`, [id], "surfaced", now);
          else if (o[0] === "ack" && id) store.mark(`r${o[2]}`, [id], "acked", now);
          else if (o[0] === "expire" || o[0] === "compact") {
            now += o[1] * 3_600_000;
            if (o[0] === "expire") store.expire(now);
            else store.compact(now);
          }
        });
        const expected = plain(store.snapshot());
        const journal = (from: number) => (lines.length > from ? `${lines.slice(from).join("\n")}\n` : "");
        const fromCut = replayMessageJournal(decodeItems(checkpoint(cut.items)), [journal(cut.line)]);
        expect(plain(splitItems(fromCut.items))).toEqual(expected);
        expect(fromCut.skipped).toEqual([]);
        const twice = replayMessageJournal(itemsOf(store.snapshot()), [journal(0)]);
        expect(plain(splitItems(twice.items)).messages.length).toBeGreaterThanOrEqual(expected.messages.length);
        const fromScratch = replayMessageJournal([], [journal(0)]);
        expect(plain(splitItems(fromScratch.items))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

function decodeItems(text: string): MessageItem[] {
  const decoded = decodeMessages(text);
  if (!decoded.ok) throw decoded.error;
  return decoded.items;
}

describe("message checkpoint refusals", () => {
  const m = envelope();
  const item = {
    kind: "message",
    message: m,
    recipients: [{ session_id: "a", display_name: "a", state: "accepted", updated_at: 1 }],
    idempotency_key: null,
    accepted_at: 1,
  };
  const file = (...lines: unknown[]) =>
    `${[encodeMessagesHeader(lines.length, 1), ...lines.map((l) => JSON.stringify(l))].join("\n")}\n`;
  const recipient = item.recipients[0] as Record<string, unknown>;
  it.each([
    [{ ...item, message: { ...m, id: "x" } }, "line 2: message id: must be a lowercase UUID"],
    [{ ...item, recipients: [] }, "line 2: recipients must be a non-empty array"],
    [{ ...item, recipients: [recipient, recipient] }, "line 2: duplicate recipient"],
    [{ ...item, recipients: [{ ...recipient, session_id: "" }] }, "line 2: recipient session_id must be a string"],
    [{ ...item, recipients: [{ ...recipient, display_name: 1 }] }, "line 2: recipient display_name must be a string"],
    [{ ...item, recipients: [{ ...recipient, updated_at: -1 }] }, "line 2: recipient updated_at must be epoch ms"],
    [{ ...item, recipients: [{ ...recipient, reason: "bored" }] }, "line 2: recipient reason is not a refusal reason"],
    [{ ...item, idempotency_key: 7 }, "line 2: idempotency_key must be null or a string"],
    [{ ...item, accepted_at: "then" }, "line 2: accepted_at must be epoch ms"],
    [{ kind: "known", session_id: "a" }, "line 2: known session needs session_id, mesh, display_name and seen_at"],
    [{ kind: "other" }, 'line 2: unknown item kind "other"'],
  ])("refuses item %#", (line, message) => {
    const decoded = decodeMessages(file(line));
    expect(decoded.ok ? "" : decoded.error.message).toBe(message);
  });

  it("refuses the same message id twice", () => {
    const decoded = decodeMessages(file(item, item));
    expect(decoded.ok ? "" : decoded.error.message).toBe("line 3: duplicate message id");
  });

  it("skips journal lines it cannot apply", () => {
    const lines = [
      { op: "state", id: m.id, session_id: "nobody" },
      { op: "drop" },
      { op: "message", ...item, accepted_at: "x" },
      { op: "known", session_id: 1 },
    ];
    const base: MessageItem[] = [
      {
        kind: "message",
        message: {
          envelope: m,
          recipients: [{ session_id: "a", display_name: "a", state: "accepted", updated_at: 1 }],
          idempotency_key: null,
          accepted_at: 1,
        },
      },
    ];
    const result = replayMessageJournal(base, [`${lines.map((l) => JSON.stringify(l)).join("\n")}\n`]);
    expect(result.skipped.map((s) => s.reason)).toEqual([
      "state of an unknown recipient",
      "drop needs an id",
      "accepted_at must be epoch ms",
      "known session needs session_id, mesh, display_name and seen_at",
    ]);
  });
});
