import { describe, expect, it } from "vitest";
import {
  API_VERSION_HEADER,
  AUTH_SCHEME,
  authorizationHeader,
  DAEMON_VERSION_HEADER,
  ERROR_CODES,
  ERROR_STATUS,
  isErrorCode,
  parseAuthorization,
} from "../src/wire.js";
import { token } from "./helpers.js";

describe("authorization", () => {
  const t = "ab".repeat(32);

  it("round-trips a token through the header", () => {
    expect(authorizationHeader(t)).toBe(`ClaudeMesh-Session ${t}`);
    expect(parseAuthorization(authorizationHeader(t))).toBe(t);
    expect(AUTH_SCHEME).toBe("ClaudeMesh-Session");
  });

  it("matches the scheme case-insensitively and tolerates extra spaces", () => {
    expect(parseAuthorization(`claudemesh-session ${t}`)).toBe(t);
    expect(parseAuthorization(`CLAUDEMESH-SESSION   ${t} `)).toBe(t);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["scheme only", "ClaudeMesh-Session"],
    ["another scheme", `Bearer ${t}`],
    ["a longer scheme", `ClaudeMesh-Sessions ${t}`],
    ["upper-case hex", `ClaudeMesh-Session ${t.toUpperCase()}`],
    ["too short", `ClaudeMesh-Session ${t.slice(1)}`],
    ["too long", `ClaudeMesh-Session ${t}0`],
    ["not hex", `ClaudeMesh-Session ${"g".repeat(64)}`],
    ["extra credentials", `ClaudeMesh-Session ${t} ${t}`],
    ["no space", `ClaudeMesh-Session${t}`],
  ])("refuses %s", (_, value) => {
    expect(parseAuthorization(value)).toBeUndefined();
  });

  it("accepts any 64-hex token", () => {
    expect(parseAuthorization(authorizationHeader(token(1)))).toBe(token(1));
  });
});

describe("wire constants", () => {
  it("names the headers as node presents them (lower case)", () => {
    expect(API_VERSION_HEADER).toBe("claudemesh-api");
    expect(DAEMON_VERSION_HEADER).toBe("claudemesh-version");
  });

  it("gives every error code its contract status", () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    expect(ERROR_STATUS.invalid_field).toBe(400);
    expect(ERROR_STATUS.unauthorized).toBe(401);
    expect(ERROR_STATUS.forbidden).toBe(403);
    expect(ERROR_STATUS.request_timeout).toBe(408);
    expect(ERROR_STATUS.payload_too_large).toBe(413);
    expect(ERROR_STATUS.header_too_large).toBe(431);
    expect(ERROR_STATUS.internal).toBe(500);
  });

  it("recognises error codes", () => {
    expect(isErrorCode("not_found")).toBe(true);
    expect(isErrorCode("teapot")).toBe(false);
    expect(isErrorCode(404)).toBe(false);
  });
});
