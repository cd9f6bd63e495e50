import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkText,
  type Envelope,
  messageSigningText,
  parseEnvelope,
  parseSendRequest,
  signEnvelope,
  type UnsignedEnvelope,
  verifyEnvelope,
} from "../src/envelope.js";
import { generateSigningKey } from "../src/keys.js";

const ID = "0190d3a2-7b1c-7000-8000-000000000001";

describe("message text", () => {
  it("takes 1 B to 16 KiB of UTF-8, counted in bytes", () => {
    expect(checkText("x")).toBeUndefined();
    expect(checkText("x".repeat(16_384))).toBeUndefined();
    expect(checkText("x".repeat(16_385))).toBe("must be 1–16384 bytes of UTF-8 (got 16385)");
    expect(checkText("é".repeat(8_192))).toBeUndefined(); // 2 bytes each
    expect(checkText("é".repeat(8_193))).toBe("must be 1–16384 bytes of UTF-8 (got 16386)");
    expect(checkText("")).toBe("must be 1–16384 bytes of UTF-8 (got 0)");
  });

  it("allows newlines, tabs and any printable text; refuses other control characters and lone surrogates", () => {
    expect(checkText("line one\n\tindented 😀 👩‍💻 ünïcode")).toBeUndefined();
    for (const bad of ["a\rb", "nul\0", "esc\x1b[31m", "del\x7f", "c1\u0085", "lone \ud800"]) {
      expect(checkText(bad), JSON.stringify(bad)).toBe("must contain only printable characters, newlines and tabs");
    }
    expect(checkText(42)).toBe("must be a string");
  });
});

describe("parseSendRequest", () => {
  const ok = { to: "api", text: "hi" };

  it("fills the defaults", () => {
    expect(parseSendRequest(ok)).toEqual({
      ok: true,
      value: { to: "api", text: "hi", priority: "next", reply_to: null, idempotency_key: null },
    });
  });

  it.each([
    [null, "body", "must be a JSON object"],
    [{ text: "x" }, "to", "is required"],
    [{ to: 3, text: "x" }, "to", "must be a string: a session id, a name, @group, role:NAME or *"],
    [{ to: "a" }, "text", "is required"],
    [{ ...ok, priority: "urgent" }, "priority", "must be one of now, next, low"],
    [{ ...ok, reply_to: "nope" }, "reply_to", "must be a message id (a lowercase UUID)"],
    [
      { ...ok, idempotency_key: "has space" },
      "idempotency_key",
      "must be 1–128 printable ASCII characters without spaces",
    ],
    [{ ...ok, idempotency_key: "" }, "idempotency_key", "must be 1–128 printable ASCII characters without spaces"],
    [
      { ...ok, idempotency_key: "k".repeat(129) },
      "idempotency_key",
      "must be 1–128 printable ASCII characters without spaces",
    ],
    [{ ...ok, mesh: "Team" }, "mesh", "may contain only a-z 0-9 . _ - (1–64 characters)"],
    [{ ...ok, id: ID }, "sent_at", "must be an integer (epoch ms, sent with id and signature)"],
    [{ ...ok, signature: "ab" }, "id", "must be a lowercase UUID (sent with sent_at and signature)"],
    [{ ...ok, id: ID, sent_at: 1, signature: "ab" }, "signature", "must be 128 lowercase hex characters"],
  ])("refuses %j naming %s", (raw, field, rule) => {
    const parsed = parseSendRequest(raw);
    expect(parsed.ok ? undefined : [parsed.error.field, parsed.error.rule]).toEqual([field, rule]);
  });

  it("takes a client signature as id, sent_at and signature together", () => {
    const signature = "a".repeat(128);
    const parsed = parseSendRequest({ ...ok, id: ID, sent_at: 5, signature, priority: "now" });
    expect(parsed.ok && parsed.value.signed).toEqual({ id: ID, sent_at: 5, signature });
  });
});

describe("envelope signatures", () => {
  const key = generateSigningKey();
  const unsigned: UnsignedEnvelope = {
    id: ID,
    mesh: "default",
    from: {
      session_id: "s1",
      display_name: "api",
      member_fingerprint: "SHA256:x",
      host: "h",
      signing_key: key.publicKey,
    },
    to: "web",
    text: "the schema changed",
    priority: "next",
    reply_to: null,
    sent_at: 1_800_000_000_000,
  };

  it("signs the canonical text, which the expected key verifies", () => {
    const envelope = signEnvelope(unsigned, key);
    expect(messageSigningText(unsigned)).toBe(
      `claudemesh-message|v1|["${ID}","default","s1","${key.publicKey}","web","next",null,1800000000000,"the schema changed"]`,
    );
    expect(verifyEnvelope(envelope, key.publicKey)).toBe(true);
  });

  it("refuses a key the envelope merely claims", () => {
    const forger = generateSigningKey();
    const forged = signEnvelope({ ...unsigned, from: { ...unsigned.from, signing_key: forger.publicKey } }, forger);
    expect(verifyEnvelope(forged, key.publicKey)).toBe(false);
  });

  it("any change to a signed field breaks the signature", () => {
    const envelope = signEnvelope(unsigned, key);
    const tamper = fc.oneof(
      fc.string({ minLength: 1 }).map((text) => ({ text })),
      fc.constantFrom("now", "low").map((priority) => ({ priority })),
      fc.string({ minLength: 1 }).map((to) => ({ to })),
      fc.integer({ min: 0 }).map((sent_at) => ({ sent_at })),
      fc.constantFrom("other", "m2").map((mesh) => ({ mesh })),
      fc.constant({ reply_to: ID }),
      fc.constant({ id: "0190d3a2-7b1c-7000-8000-000000000002" }),
      fc.constant({ from: { ...unsigned.from, session_id: "s2" } }),
    );
    fc.assert(
      fc.property(tamper, (change) => {
        const changed = { ...envelope, ...change } as Envelope;
        fc.pre(messageSigningText(changed) !== messageSigningText(envelope));
        expect(verifyEnvelope(changed, key.publicKey)).toBe(false);
      }),
    );
  });

  it("parseEnvelope reads back what was stored", () => {
    const envelope = signEnvelope(unsigned, key);
    expect(parseEnvelope(JSON.parse(JSON.stringify(envelope)))).toEqual({ ok: true, value: envelope });
    const parsed = parseEnvelope({ ...envelope, text: "" });
    expect(parsed.ok ? undefined : parsed.error.field).toBe("text");
  });
});

describe("parseEnvelope refusals", () => {
  const key = generateSigningKey();
  const good = signEnvelope(
    {
      id: ID,
      mesh: "default",
      from: {
        session_id: null,
        display_name: "alice",
        member_fingerprint: "SHA256:x",
        host: "h",
        signing_key: key.publicKey,
      },
      to: "*",
      text: "t",
      priority: "low",
      reply_to: ID,
      sent_at: 1,
    },
    key,
  );
  const from = good.from;
  it.each([
    [null, "message"],
    [{ ...good, id: "x" }, "id"],
    [{ ...good, mesh: "Bad Mesh" }, "mesh"],
    [{ ...good, from: "x" }, "from"],
    [{ ...good, from: { ...from, session_id: "has space" } }, "from.session_id"],
    [{ ...good, from: { ...from, display_name: "" } }, "from.display_name"],
    [{ ...good, from: { ...from, member_fingerprint: "MD5:x" } }, "from.member_fingerprint"],
    [{ ...good, from: { ...from, host: 5 } }, "from.host"],
    [{ ...good, from: { ...from, signing_key: "k" } }, "from.signing_key"],
    [{ ...good, to: "" }, "to"],
    [{ ...good, priority: "high" }, "priority"],
    [{ ...good, reply_to: "r" }, "reply_to"],
    [{ ...good, sent_at: "now" }, "sent_at"],
    [{ ...good, signature: "s" }, "signature"],
  ])("names the field of %#", (raw, field) => {
    const parsed = parseEnvelope(raw);
    expect(parsed.ok ? undefined : parsed.error.field).toBe(field);
  });

  it("accepts a member's message with a reply_to", () => {
    expect(parseEnvelope(JSON.parse(JSON.stringify(good))).ok).toBe(true);
  });
});
