import { describe, expect, it } from "vitest";
import {
  consumerName,
  daemonIdOf,
  inboundFilter,
  MESSAGE_STREAM_SUBJECTS,
  messageSubject,
  parsePresenceKey,
  parseStreamSubject,
  pingSubject,
  presenceFilter,
  presenceKey,
  receiptSubject,
  token,
  untoken,
} from "../src/nats-layout.js";

const D = "0123456789abcdef";
const E = "fedcba9876543210";

/** NATS's rules: a subject token holds no whitespace, dot, `*` or `>`; a KV key only [-/_=.a-zA-Z0-9]. */
const SUBJECT_TOKEN = /^[^\s.*>]+$/;
const KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;

/** A NATS subject filter match (`*` one token, `>` the rest). */
function matches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

describe("NATS layout", () => {
  it("maps mesh names and session ids with dots and colons onto single tokens, and back", () => {
    for (const value of [
      "default",
      "team.a",
      "a.b.c",
      "s:1",
      "sess.1:x",
      "0193e2c1-4b5a-7c00-8a3e-1f2b3c4d5e6f",
      "_",
    ]) {
      expect(token(value)).toMatch(SUBJECT_TOKEN);
      expect(token(value)).toMatch(KV_KEY);
      expect(untoken(token(value))).toBe(value);
    }
    // Injective where it matters: names that differ stay apart.
    expect(token("a.b")).not.toBe(token("a:b"));
    expect(() => token("")).toThrow(RangeError);
    expect(() => token("a b")).toThrow(RangeError);
    expect(() => token("a>")).toThrow(RangeError);
  });

  it("a message subject is in the stream, in its daemon's filter and nobody else's", () => {
    const subject = messageSubject("team.a", D, "s:1");
    expect(subject).toBe("cm.team=a.to.0123456789abcdef.s.s/1");
    expect(matches(MESSAGE_STREAM_SUBJECTS, subject)).toBe(true);
    expect(matches(inboundFilter("team.a", D), subject)).toBe(true);
    expect(matches(inboundFilter("team.a", E), subject)).toBe(false);
    expect(matches(inboundFilter("team", D), subject)).toBe(false);
    expect(matches(inboundFilter("team.a", D), receiptSubject("team.a", D))).toBe(true);
    expect(matches(MESSAGE_STREAM_SUBJECTS, pingSubject("team.a", D))).toBe(false);
  });

  it("reads its own subjects and keys back, and nothing else", () => {
    expect(parseStreamSubject(messageSubject("team.a", D, "s:1"))).toEqual({
      kind: "message",
      mesh: "team.a",
      daemon: D,
      session: "s:1",
    });
    expect(parseStreamSubject(receiptSubject("m", D))).toEqual({ kind: "receipt", mesh: "m", daemon: D });
    for (const other of [
      "cm.m.to.x.s.1",
      "cm.m.to.0123456789abcdef",
      "cm.m.to.0123456789abcdef.s",
      "x.m.to.0123456789abcdef.r",
      "cm.m.to.0123456789abcdef.q.1",
    ]) {
      expect(parseStreamSubject(other), other).toBeUndefined();
    }
    const key = presenceKey("team.a", D, "s:1");
    expect(key).toMatch(KV_KEY);
    expect(matches(presenceFilter("team.a"), key)).toBe(true);
    expect(matches(presenceFilter("team"), key)).toBe(false);
    expect(parsePresenceKey(key)).toEqual({ mesh: "team.a", daemon: D, session: "s:1" });
    expect(parsePresenceKey("m.nothex.s")).toBeUndefined();
    expect(parsePresenceKey("m.0123456789abcdef")).toBeUndefined();
  });

  it("consumer names hold none of the characters NATS refuses in them", () => {
    expect(consumerName("team.a", D)).toMatch(/^[^\s.*>/\\]+$/);
    expect(consumerName("team.a", D)).not.toBe(consumerName("team.a", E));
  });

  it("a daemon's id follows its member key, and refuses what is not one", () => {
    const key = "ab".repeat(32);
    expect(daemonIdOf(key)).toMatch(/^[0-9a-f]{16}$/);
    expect(daemonIdOf(key)).toBe(daemonIdOf(key));
    expect(daemonIdOf("cd".repeat(32))).not.toBe(daemonIdOf(key));
    expect(() => messageSubject("m", "nothex", "s")).toThrow(RangeError);
  });
});
