import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeState, encodeState, STATE_VERSION } from "../src/codec.js";
import { SessionRegistry } from "../src/registry.js";
import { registration, token } from "./fixtures.js";

function sampleRegistry(): SessionRegistry {
  let t = 1_700_000_000_000;
  const registry = new SessionRegistry({ now: () => t++ });
  registry.register(registration(1, { cwd: "/home/a", role: "lead", groups: ["x", "y"] }), "0123456789ab:42");
  registry.register(registration(2, { display_name: 'quote " and ✓ and \\' }), null);
  registry.register(registration(3, { mesh: "other" }), "ps:Thu Nov 26 12:01:54 2026");
  return registry;
}

function decodeOk(text: string) {
  const result = decodeState(text);
  if (!result.ok) throw new Error(`decode failed: ${result.error.message}`);
  return result;
}

describe("persistence codec", () => {
  it("round-trips every session field, the token hashes and the order", () => {
    const registry = sampleRegistry();
    const text = encodeState(registry.entries(), 42);
    const decoded = decodeOk(text);
    expect(decoded.savedAt).toBe(42);
    expect(decoded.entries).toEqual(registry.entries());
    const restored = new SessionRegistry();
    for (const entry of decoded.entries) restored.restore(entry);
    expect(restored.list()).toEqual(registry.list());
    expect(restored.resolve(token(1))?.session_id).toBe("s1");
  });

  it("writes token hashes, never tokens", () => {
    const text = encodeState(sampleRegistry().entries(), 0);
    for (const n of [1, 2, 3]) expect(text).not.toContain(token(n));
    expect(text).toContain('"token_hash"');
    expect(text.split("\n")[0]).toBe(
      `{"format":"claudemesh-sessions","version":${STATE_VERSION},"count":3,"saved_at":0,"journal_from":0}`,
    );
  });

  it("records the first journal generation not in the state, and reads files written before it existed as 0", () => {
    expect(decodeOk(encodeState([], 7, 12)).journalFrom).toBe(12);
    const older = decodeOk('{"format":"claudemesh-sessions","version":1,"count":0,"saved_at":0}\n');
    expect(older.journalFrom).toBe(0);
  });

  it("encodes and decodes an empty registry", () => {
    expect(decodeOk(encodeState([], 7)).entries).toEqual([]);
  });

  it("fails cleanly, never throwing, on the file cut at every single byte", () => {
    const text = encodeState(sampleRegistry().entries(), 0);
    for (let cut = 0; cut < text.length; cut++) {
      const result = decodeState(text.slice(0, cut));
      expect(result.ok, `cut at ${cut}`).toBe(false);
    }
  });

  it("detects a file cut exactly at a line boundary through the header count", () => {
    const lines = encodeState(sampleRegistry().entries(), 0).split("\n");
    const result = decodeState(`${lines.slice(0, 3).join("\n")}\n`);
    expect(!result.ok && result.error.message).toBe("header announces 3 sessions, file holds 2 (truncated?)");
  });

  it.each([
    ["", "empty file"],
    ["\n", "empty file"],
    ["garbage\n", "line 1: not valid JSON (truncated or corrupt file?)"],
    ["null\n", "line 1: not a claudemesh-sessions file"],
    ['{"format":"other"}\n', "line 1: not a claudemesh-sessions file"],
    [
      '{"format":"claudemesh-sessions","version":2,"count":0,"saved_at":0}\n',
      "line 1: unsupported version 2 (this build reads 1)",
    ],
    [
      '{"format":"claudemesh-sessions","version":1,"count":-1,"saved_at":0}\n',
      "line 1: header count must be a non-negative integer",
    ],
    [
      '{"format":"claudemesh-sessions","version":1,"count":0,"saved_at":"x"}\n',
      "line 1: header saved_at must be an integer",
    ],
    [
      '{"format":"claudemesh-sessions","version":1,"count":0,"saved_at":0,"journal_from":1.5}\n',
      "line 1: header journal_from must be a non-negative integer",
    ],
  ])("refuses %j with %j", (text, message) => {
    const result = decodeState(text);
    expect(!result.ok && result.error.message).toBe(message);
  });

  it("refuses the whole file when one entry is invalid or duplicated", () => {
    const entries = sampleRegistry().entries();
    const [header, first, second] = encodeState(entries, 0).split("\n") as [string, string, string];
    const withLine = (line: string, count = 2) =>
      `${header.replace('"count":3', `"count":${count}`)}\n${first}\n${line}\n`;
    const badPid = second.replace('"pid":1002', '"pid":-1');
    expect(decodeState(withLine(badPid))).toMatchObject({ ok: false, error: { line: 3 } });
    const noHash = second.replace(/"token_hash":"[0-9a-f]+"/, '"token_hash":"nope"');
    const r1 = decodeState(withLine(noHash));
    expect(!r1.ok && r1.error.message).toBe("line 3: token_hash must be 64 lowercase hex characters");
    const r2 = decodeState(withLine(first));
    expect(!r2.ok && r2.error.message).toBe("line 3: duplicate token_hash");
    const sameId = second.replace('"session_id":"s2"', '"session_id":"s1"');
    const r3 = decodeState(withLine(sameId));
    expect(!r3.ok && r3.error.message).toBe("line 3: duplicate session_id");
    const r4 = decodeState(withLine(badPid));
    expect(!r4.ok && r4.error.message).toBe("line 3: pid: must be an integer from 1 to 2147483647");
  });

  it("never throws on arbitrary input, and whatever it accepts re-encodes to the same text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (text) => {
        const result = decodeState(text);
        if (result.ok) expect(encodeState(result.entries, result.savedAt)).toBe(text);
      }),
      { numRuns: 2_000 },
    );
  });

  it("never throws when bytes of a valid file are flipped", () => {
    const text = encodeState(sampleRegistry().entries(), 0);
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.integer({ min: 0, max: 0x7f }), (at, code) => {
        const mutated = text.slice(0, at) + String.fromCharCode(code) + text.slice(at + 1);
        const result = decodeState(mutated);
        if (result.ok) for (const e of result.entries) expect(e.tokenHash).toMatch(/^[0-9a-f]{64}$/);
      }),
      { numRuns: 2_000 },
    );
  });
});
