import { describe, expect, it } from "vitest";
import { FieldError, LIMITS, parseRegistration, parseSession, toSession } from "../src/model.js";
import { defaults, token } from "./fixtures.js";

const valid = { token: token(1), pid: 42 };

function errorOf(body: unknown): { field: string; rule: string } {
  const result = parseRegistration(body, defaults);
  if (result.ok) throw new Error("expected a validation error");
  expect(result.error).toBeInstanceOf(FieldError);
  return { field: result.error.field, rule: result.error.rule };
}

describe("parseRegistration", () => {
  it("fills in the defaults for missing optional fields", () => {
    const result = parseRegistration(valid, defaults);
    expect(result).toEqual({
      ok: true,
      value: { token: token(1), pid: 42, session_id: "generated-id", mesh: "default", display_name: "fallback" },
    });
  });

  it("derives display_name from the basename of cwd", () => {
    const result = parseRegistration({ ...valid, cwd: "/home/ada/projects/mesh/" }, defaults);
    expect(result.ok && result.value.display_name).toBe("mesh");
    const root = parseRegistration({ ...valid, cwd: "/" }, defaults);
    expect(root.ok && root.value.display_name).toBe("/");
  });

  it("falls back when the cwd basename is not a valid display name", () => {
    const result = parseRegistration({ ...valid, cwd: "/tmp/bad\u0007name" }, defaults);
    expect(result.ok && result.value.display_name).toBe("fallback");
  });

  it("keeps every given field and ignores unknown ones", () => {
    const body = {
      ...valid,
      session_id: "A-z.0_9:x",
      mesh: "team-1.a_b",
      display_name: "Ünïcødé name ✓",
      cwd: "/work",
      role: "",
      groups: ["a", "b"],
      unknown_field: { nested: true },
      start_time: "ignored: daemon-set",
    };
    const result = parseRegistration(body, defaults);
    expect(result).toEqual({
      ok: true,
      value: {
        token: token(1),
        pid: 42,
        session_id: "A-z.0_9:x",
        mesh: "team-1.a_b",
        display_name: "Ünïcødé name ✓",
        cwd: "/work",
        role: "",
        groups: ["a", "b"],
      },
    });
  });

  it("accepts values exactly at the limits", () => {
    const body = {
      ...valid,
      session_id: "x".repeat(LIMITS.sessionId),
      mesh: "m".repeat(LIMITS.mesh),
      display_name: "😀".repeat(LIMITS.displayName),
      role: "r".repeat(LIMITS.role),
      groups: Array.from({ length: LIMITS.groups }, () => "g".repeat(LIMITS.group)),
      pid: LIMITS.pid,
    };
    expect(parseRegistration(body, defaults).ok).toBe(true);
  });

  it.each([
    [null, "body", "must be a JSON object"],
    [[valid], "body", "must be a JSON object"],
    ["text", "body", "must be a JSON object"],
    [{ pid: 1 }, "token", "is required"],
    [{ ...valid, token: token(0xabc).toUpperCase() }, "token", "must be 64 lowercase hex characters"],
    [{ ...valid, token: "abc" }, "token", "must be 64 lowercase hex characters"],
    [{ ...valid, token: 5 }, "token", "must be 64 lowercase hex characters"],
    [{ token: token(1) }, "pid", "is required"],
    [{ ...valid, pid: 0 }, "pid", "must be an integer from 1 to 2147483647"],
    [{ ...valid, pid: -5 }, "pid", "must be an integer from 1 to 2147483647"],
    [{ ...valid, pid: 1.5 }, "pid", "must be an integer from 1 to 2147483647"],
    [{ ...valid, pid: "42" }, "pid", "must be an integer from 1 to 2147483647"],
    [{ ...valid, pid: 2 ** 31 }, "pid", "must be an integer from 1 to 2147483647"],
    [{ ...valid, pid: Number.NaN }, "pid", "must be an integer from 1 to 2147483647"],
    [{ ...valid, session_id: "" }, "session_id", "must be 1–128 characters"],
    [{ ...valid, session_id: "x".repeat(129) }, "session_id", "must be 1–128 characters"],
    [{ ...valid, session_id: "a b" }, "session_id", "may contain only A-Z a-z 0-9 . _ : -"],
    [{ ...valid, session_id: "../etc" }, "session_id", "may contain only A-Z a-z 0-9 . _ : -"],
    [{ ...valid, session_id: 7 }, "session_id", "must be a string"],
    [{ ...valid, mesh: "Team" }, "mesh", "may contain only a-z 0-9 . _ -"],
    [{ ...valid, mesh: "" }, "mesh", "must be 1–64 characters"],
    [{ ...valid, mesh: "m".repeat(65) }, "mesh", "must be 1–64 characters"],
    [{ ...valid, mesh: false }, "mesh", "must be a string"],
    [{ ...valid, display_name: "" }, "display_name", "must be 1–128 characters"],
    [{ ...valid, display_name: "x".repeat(129) }, "display_name", "must be 1–128 characters"],
    [{ ...valid, display_name: "tab\there" }, "display_name", "must contain only printable characters"],
    [{ ...valid, display_name: "lone \ud800" }, "display_name", "must contain only printable characters"],
    [{ ...valid, display_name: ["x"] }, "display_name", "must be a string"],
    [{ ...valid, cwd: "relative/path" }, "cwd", "must be an absolute path"],
    [{ ...valid, cwd: "/nul\0byte" }, "cwd", "must not contain NUL"],
    [{ ...valid, cwd: `/${"x".repeat(4096)}` }, "cwd", "must be at most 4096 characters"],
    [{ ...valid, cwd: 1 }, "cwd", "must be a string"],
    [{ ...valid, role: "r".repeat(65) }, "role", "must be at most 64 characters"],
    [{ ...valid, groups: "a" }, "groups", "must be an array of strings"],
    [{ ...valid, groups: Array(33).fill("g") }, "groups", "must have at most 32 items"],
    [{ ...valid, groups: ["ok", 3] }, "groups", "every item must be a string"],
    [{ ...valid, groups: ["g".repeat(65)] }, "groups", "every item must be at most 64 characters"],
  ])("refuses %j naming field and rule", (body, field, rule) => {
    expect(errorOf(body)).toEqual({ field, rule });
  });

  it("formats the error message as field: rule", () => {
    const result = parseRegistration({ ...valid, pid: 0 }, defaults);
    expect(!result.ok && result.error.message).toBe("pid: must be an integer from 1 to 2147483647");
  });
});

describe("parseSession and toSession", () => {
  const session = {
    session_id: "s1",
    mesh: "default",
    display_name: "one",
    pid: 10,
    start_time: "abc:123",
    registered_at: 1_700_000_000_000,
    token_prefix: "0123abcd",
  };

  it("accepts a complete session and drops any other property", () => {
    const result = parseSession({ ...session, token: token(1), token_hash: "x" });
    expect(result).toEqual({ ok: true, value: session });
    expect(Object.isFrozen(result.ok && result.value)).toBe(true);
  });

  it("keeps optional fields when present", () => {
    const full = { ...session, cwd: "/a", role: "r", groups: ["g"], start_time: null };
    expect(parseSession(full)).toEqual({ ok: true, value: full });
  });

  it.each([
    [{ ...session, start_time: undefined }, "start_time", "is required"],
    [{ ...session, start_time: "" }, "start_time", "must be null or a string of 1–256 characters"],
    [{ ...session, registered_at: -1 }, "registered_at", "must be a non-negative integer (epoch ms)"],
    [{ ...session, token_prefix: "XYZ" }, "token_prefix", "must be 8 lowercase hex characters"],
    [{ ...session, mesh: undefined }, "mesh", "is required"],
  ])("refuses %j", (raw, field, rule) => {
    const result = parseSession(raw);
    expect(!result.ok && { field: result.error.field, rule: result.error.rule }).toEqual({ field, rule });
  });

  it("refuses a non-object", () => {
    const result = parseSession(42);
    expect(!result.ok && result.error.field).toBe("session");
  });

  it("copies groups so the stored session cannot be changed through the input", () => {
    const groups = ["a"];
    const copy = toSession({ ...session, groups });
    groups.push("b");
    expect(copy.groups).toEqual(["a"]);
  });
});

describe("tokens", () => {
  it("mints 64 lowercase hex characters from the CSPRNG, never the same twice", async () => {
    const { mintToken, tokenPrefix } = await import("../src/token.js");
    const tokens = new Set(Array.from({ length: 100 }, mintToken));
    expect(tokens.size).toBe(100);
    for (const t of tokens) expect(t).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenPrefix("0123456789abcdef")).toBe("01234567");
  });
});
