import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatRequest,
  type Http1ParseError,
  type Http1ParserOptions,
  type Http1Response,
  Http1ResponseParser,
  MAX_BODY_BYTES,
  MAX_HEADER_BYTES,
} from "../src/http1.js";

const CRLF = "\r\n";

function bytes(text: string): Buffer {
  return Buffer.from(text, "latin1");
}

/** Feeds `chunks` in order, then ends the connection; returns the response. */
function parse(chunks: readonly (string | Buffer)[], options?: Http1ParserOptions): Http1Response {
  const parser = new Http1ResponseParser(options);
  for (const chunk of chunks) parser.feed(typeof chunk === "string" ? bytes(chunk) : chunk);
  return parser.end();
}

function parseError(chunks: readonly (string | Buffer)[], options?: Http1ParserOptions): Http1ParseError {
  try {
    parse(chunks, options);
  } catch (err) {
    return err as Http1ParseError;
  }
  throw new Error("expected a parse error");
}

/** Splits `data` at the given offsets (any order, duplicates and out-of-range values allowed). */
function splitAt(data: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of [...points, data.length]) {
    parts.push(data.subarray(from, p));
    from = p;
  }
  return parts;
}

function head(status: string, headers: readonly string[]): string {
  return [status, ...headers, "", ""].join(CRLF);
}

/** `body` framed as chunked, cut into chunks of the given sizes (the rest in one last chunk). */
function chunked(body: Buffer, sizes: readonly number[], extension = "", trailers: readonly string[] = []): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (const size of [...sizes, body.length]) {
    const piece = body.subarray(from, Math.min(body.length, from + size));
    from += piece.length;
    if (piece.length === 0) continue;
    parts.push(bytes(`${piece.length.toString(16)}${extension}${CRLF}`), piece, bytes(CRLF));
  }
  parts.push(bytes(`0${CRLF}${trailers.map((t) => t + CRLF).join("")}${CRLF}`));
  return Buffer.concat(parts);
}

describe("formatRequest", () => {
  it("writes the request line, Host, the headers and Connection: close", () => {
    const text = formatRequest({ method: "get", path: "/v1/sessions?mesh=a", headers: { Accept: "application/json" } });
    expect(text.toString("latin1")).toBe(
      "GET /v1/sessions?mesh=a HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    );
  });

  it("adds Content-Length and the body bytes when there is a body", () => {
    const body = Buffer.from('{"name":"naïve ✓"}', "utf8");
    const out = formatRequest({ method: "POST", path: "/x", headers: { "Content-Type": "application/json" }, body });
    const split = out.indexOf("\r\n\r\n") + 4;
    expect(out.subarray(0, split).toString("latin1")).toBe(
      `POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    expect(out.subarray(split)).toEqual(body);
  });

  it("sends Content-Length: 0 for a body-carrying method without a body, as node:http does", () => {
    expect(formatRequest({ method: "POST", path: "/x" }).toString()).toContain("\r\nContent-Length: 0\r\n");
    expect(formatRequest({ method: "PUT", path: "/x", body: Buffer.alloc(0) }).toString()).toContain(
      "\r\nContent-Length: 0\r\n",
    );
    for (const method of ["GET", "HEAD", "DELETE"]) {
      expect(formatRequest({ method, path: "/x" }).toString()).not.toContain("Content-Length");
    }
  });

  it("sends / for an empty path", () => {
    expect(formatRequest({ method: "GET", path: "" }).toString()).toMatch(/^GET \/ HTTP\/1\.1\r\n/);
  });

  it.each([
    ["a method that is not a token", { method: "GE T", path: "/" }],
    ["an empty method", { method: "", path: "/" }],
    ["a path with a space", { method: "GET", path: "/a b" }],
    ["a path with CRLF", { method: "GET", path: "/a\r\nX-Evil: 1" }],
    ["a path beyond latin1", { method: "GET", path: "/✓" }],
    ["a header value with CRLF", { method: "GET", path: "/", headers: { Authorization: "x\r\nX-Evil: 1" } }],
    ["a header value beyond latin1", { method: "GET", path: "/", headers: { "X-A": "✓" } }],
    ["a header name that is not a token", { method: "GET", path: "/", headers: { "X A": "1" } }],
    ["a Host header", { method: "GET", path: "/", headers: { host: "evil" } }],
    ["a Content-Length header", { method: "GET", path: "/", headers: { "Content-Length": "1" } }],
    ["a Connection header", { method: "GET", path: "/", headers: { Connection: "keep-alive" } }],
    ["a Transfer-Encoding header", { method: "GET", path: "/", headers: { "Transfer-Encoding": "chunked" } }],
  ])("refuses %s", (_, request) => {
    expect(() => formatRequest(request)).toThrow(TypeError);
  });
});

describe("Http1ResponseParser", () => {
  it("reads a Content-Length response and completes without waiting for the close", () => {
    const parser = new Http1ResponseParser();
    expect(parser.complete).toBe(false);
    const res = parser.feed(bytes(`${head("HTTP/1.1 200 OK", ["Content-Length: 2", "X-A: 1"])}{}`));
    expect(parser.complete).toBe(true);
    expect(res).toMatchObject({ status: 200, statusText: "OK", headers: { "content-length": "2", "x-a": "1" } });
    expect(res?.body.toString()).toBe("{}");
    // Bytes after a complete response are ignored, and end() returns the same response.
    expect(parser.feed(bytes("garbage"))).toBe(res);
    expect(parser.end()).toBe(res);
  });

  it("lower-cases header names, trims values, joins repeats with a comma and keeps set-cookie as a list", () => {
    const res = parse([
      head("HTTP/1.1 200 OK", [
        "Claudemesh-Version:  1.2.3 \t",
        "X-Multi: a",
        "x-multi: b",
        "Set-Cookie: a=1",
        "Set-Cookie: b=2",
        "Constructor: c",
        "Empty:",
        "Content-Length: 0",
      ]),
    ]);
    expect({ ...res.headers }).toEqual({
      "claudemesh-version": "1.2.3",
      "x-multi": "a, b",
      "set-cookie": ["a=1", "b=2"],
      constructor: "c",
      empty: "",
      "content-length": "0",
    });
    expect(Object.getPrototypeOf(res.headers)).toBeNull();
  });

  it("accepts bare LF line endings and a status line without a reason phrase", () => {
    const res = parse(["HTTP/1.0 201\nContent-Length: 1\n\nx"]);
    expect(res).toMatchObject({ status: 201, statusText: "" });
    expect(res.body.toString()).toBe("x");
  });

  it("reads the body to the connection's end when there is no framing header", () => {
    const parser = new Http1ResponseParser();
    expect(parser.feed(bytes(`${head("HTTP/1.1 200 OK", [])}{"a":`))).toBeUndefined();
    expect(parser.feed(bytes("1}"))).toBeUndefined();
    expect(parser.end().body.toString()).toBe('{"a":1}');
  });

  it.each([204, 304])("reads no body after %i", (status) => {
    const parser = new Http1ResponseParser();
    expect(parser.feed(bytes(head(`HTTP/1.1 ${status} X`, [])))).toMatchObject({ status });
  });

  it("reads no body for a HEAD request, whatever Content-Length says", () => {
    const parser = new Http1ResponseParser({ method: "head" });
    expect(parser.feed(bytes(head("HTTP/1.1 200 OK", ["Content-Length: 10"])))?.body.length).toBe(0);
  });

  it("completes at once on Content-Length: 0", () => {
    expect(new Http1ResponseParser().feed(bytes(head("HTTP/1.1 200 OK", ["Content-Length: 0"])))).toBeDefined();
  });

  it("skips 1xx interim responses", () => {
    const res = parse([
      head("HTTP/1.1 100 Continue", []),
      head("HTTP/1.1 103 Early Hints", ["Link: </a>"]),
      head("HTTP/1.1 200 OK", ["Content-Length: 1"]),
      "x",
    ]);
    expect(res.status).toBe(200);
    expect(res.headers["link"]).toBeUndefined();
  });

  it("accepts repeated identical Content-Length values", () => {
    expect(parse([`${head("HTTP/1.1 200 OK", ["Content-Length: 2", "Content-Length: 2"])}ab`]).body.toString()).toBe(
      "ab",
    );
  });

  it("reads chunked bodies, ignoring chunk extensions and trailers, and prefers chunked to Content-Length", () => {
    const body = Buffer.from("hello chunked world", "utf8");
    const res = parse([
      head("HTTP/1.1 200 OK", ["Transfer-Encoding: Chunked", "Content-Length: 3"]),
      chunked(body, [5, 1, 7], ";name=value", ["X-Trailer: t", "Another: u"]),
    ]);
    expect(res.body).toEqual(body);
    expect(res.headers["x-trailer"]).toBeUndefined();
  });

  it("accepts upper-case hex and leading zeros in chunk sizes", () => {
    const body = Buffer.alloc(26, "a");
    const res = parse([
      `${head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"])}001A \r\n${"a".repeat(26)}\r\n0\r\n\r\n`,
    ]);
    expect(res.body).toEqual(body);
  });

  it("decodes to the same bytes however the response is split, with either framing", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 80 }), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (raw, useChunked, chunkSizes, cuts) => {
          const body = Buffer.from(raw);
          const message = useChunked
            ? Buffer.concat([
                bytes(head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"])),
                chunked(body, chunkSizes, ";x=1", ["T: 1"]),
              ])
            : Buffer.concat([bytes(head("HTTP/1.1 200 OK", [`Content-Length: ${body.length}`])), body]);
          const parser = new Http1ResponseParser();
          let res: Http1Response | undefined;
          for (const part of splitAt(message, cuts)) res = parser.feed(part);
          // Complete as soon as the last byte arrives: no need to wait for the connection to close.
          expect(res?.body).toEqual(body);
          expect(parser.end().body).toEqual(body);
        },
      ),
    );
  });

  it("keeps a multibyte character split across reads whole, since the body is decoded once complete", () => {
    const text = '{"name":"naïve ✓ 🎉"}';
    const body = Buffer.from(text, "utf8");
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        const message = Buffer.concat([bytes(head("HTTP/1.1 200 OK", [`Content-Length: ${body.length}`])), body]);
        expect(parse(splitAt(message, cuts)).body.toString("utf8")).toBe(text);
      }),
    );
  });

  it.each([
    ["an empty line", ""],
    ["HTTP/2", "HTTP/2 200 OK"],
    ["a two-digit status", "HTTP/1.1 20 OK"],
    ["a status starting with 0", "HTTP/1.1 099 OK"],
    ["no space after the version", "HTTP/1.1200 OK"],
    ["lower-case http", "http/1.1 200 OK"],
    ["a control character in the reason", "HTTP/1.1 200 O\u0001K"],
    ["a bare CR in the line", "HTTP/1.1 200 O\rK"],
    ["not HTTP at all", "SSH-2.0-OpenSSH_9.6"],
  ])("rejects a malformed status line: %s", (_, line) => {
    const err = parseError([`${line}\r\nContent-Length: 0\r\n\r\n`]);
    expect(err).toMatchObject({ name: "Http1ParseError", reason: "malformed", status: undefined });
  });

  it.each([
    ["obsolete line folding", ["X-A: 1", " continued"]],
    ["whitespace before the colon", ["X-A : 1"]],
    ["no colon", ["X-A 1"]],
    ["an empty name", [": 1"]],
    ["a name that is not a token", ["X(A): 1"]],
    ["a control character in a value", ["X-A: 1\u00002"]],
    ["a bare CR in a value", ["X-A: 1\r2"]],
    ["differing Content-Length values", ["Content-Length: 1", "Content-Length: 2"]],
    ["a Content-Length that is not decimal", ["Content-Length: 0x10"]],
    ["a negative Content-Length", ["Content-Length: -1"]],
  ])("rejects %s", (_, headers) => {
    expect(parseError([`${head("HTTP/1.1 200 OK", headers)}x`])).toMatchObject({ reason: "malformed", status: 200 });
  });

  it.each([
    ["a chunk size that is not hex", "zz\r\n"],
    ["an empty chunk size line", "\r\n"],
    ["a chunk longer than its size", "1\r\nab\r\n0\r\n\r\n"],
  ])("rejects %s", (_, body) => {
    const err = parseError([head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]), body]);
    expect(err).toMatchObject({ reason: "malformed", status: 200 });
  });

  it.each([
    ["gzip", "gzip, chunked"],
    ["identity", "identity"],
  ])("refuses a %s transfer coding", (_, te) => {
    expect(parseError([head("HTTP/1.1 200 OK", [`Transfer-Encoding: ${te}`])])).toMatchObject({
      reason: "unsupported",
      status: 200,
    });
  });

  it("refuses a protocol switch nobody asked for", () => {
    expect(parseError([head("HTTP/1.1 101 Switching Protocols", ["Upgrade: websocket"])])).toMatchObject({
      reason: "unsupported",
      status: 101,
    });
  });

  describe("a response cut short", () => {
    it.each([
      ["no bytes at all", [], "without a response", undefined],
      ["half a status line", ["HTTP/1.1 20"], "middle of the response headers", undefined],
      ["headers without their blank line", ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"], "headers", 200],
      [
        "a body shorter than Content-Length",
        [`${head("HTTP/1.1 200 OK", ["Content-Length: 10"])}{"a":`],
        "5 of 10",
        200,
      ],
      [
        "a chunked body without its last chunk",
        [`${head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"])}5\r\nab`],
        "chunked",
        200,
      ],
      [
        "a chunked body without its trailer end",
        [`${head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"])}0\r\n`],
        "chunked",
        200,
      ],
    ])("is an error, never a partial body: %s", (_, chunks, message, status) => {
      const err = parseError(chunks);
      expect(err).toMatchObject({ reason: "truncated", status });
      expect(err.message).toContain(message);
    });

    it("keeps failing once failed", () => {
      const parser = new Http1ResponseParser();
      parser.feed(bytes(`${head("HTTP/1.1 200 OK", ["Content-Length: 10"])}abc`));
      expect(() => parser.end()).toThrow(/3 of 10/);
      expect(() => parser.end()).toThrow(/3 of 10/);
      expect(() => parser.feed(bytes("defghij"))).toThrow(/3 of 10/);
    });
  });

  describe("limits", () => {
    it(`defaults to ${MAX_HEADER_BYTES} header bytes and ${MAX_BODY_BYTES} body bytes`, () => {
      expect(MAX_HEADER_BYTES).toBe(64 * 1024);
      expect(MAX_BODY_BYTES).toBe(16 * 1024 * 1024);
    });

    it("rejects a header section over the limit, even before its line ends", () => {
      const parser = new Http1ResponseParser();
      parser.feed(bytes("HTTP/1.1 200 OK\r\nX-Big: "));
      expect(() => parser.feed(bytes("a".repeat(MAX_HEADER_BYTES)))).toThrow(
        expect.objectContaining({ reason: "headers_too_large", status: 200 }),
      );
      // The error sticks: nothing more is parsed.
      expect(() => parser.feed(bytes("\r\n\r\n"))).toThrow(expect.objectContaining({ reason: "headers_too_large" }));
    });

    it("rejects many small headers adding up to over the limit, and a status line that never ends", () => {
      const many = Array.from({ length: 10_000 }, (_, i) => `X-${i}: ${"v".repeat(8)}`);
      expect(parseError([head("HTTP/1.1 200 OK", many)])).toMatchObject({ reason: "headers_too_large", status: 200 });
      expect(parseError(["H".repeat(MAX_HEADER_BYTES + 1)])).toMatchObject({
        reason: "headers_too_large",
        status: undefined,
      });
    });

    it("accepts a header section of exactly the limit", () => {
      const prefix = "HTTP/1.1 200 OK\r\nX-Big: ";
      const filler = "a".repeat(MAX_HEADER_BYTES - prefix.length - 4);
      const res = new Http1ResponseParser().feed(bytes(`${prefix}${filler}\r\n\r\n`));
      expect(res).toBeUndefined(); // close-delimited body follows
    });

    it("limits trailers and chunk-size lines the same way", () => {
      const options = { maxHeaderBytes: 100 };
      const te = head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]);
      expect(parseError([te, `0\r\nX: ${"a".repeat(100)}\r\n\r\n`], options)).toMatchObject({
        reason: "headers_too_large",
        message: expect.stringContaining("trailer section"),
      });
      expect(parseError([te, `1;${"e".repeat(100)}\r\na\r\n0\r\n\r\n`], options)).toMatchObject({
        reason: "headers_too_large",
        message: expect.stringContaining("chunk framing"),
      });
      // ...per chunk, not over the whole body.
      const body = Buffer.alloc(300, "b");
      expect(parse([te, chunked(body, Array(30).fill(10))], options).body).toEqual(body);
    });

    it("rejects a declared Content-Length over the body limit before reading the body", () => {
      const err = parseError([head("HTTP/1.1 200 OK", [`Content-Length: ${MAX_BODY_BYTES + 1}`])]);
      expect(err).toMatchObject({ reason: "body_too_large", status: 200 });
      expect(parseError([head("HTTP/1.1 200 OK", ["Content-Length: 99999999999999999999999"])])).toMatchObject({
        reason: "body_too_large",
      });
    });

    it("accepts a body of exactly the limit", () => {
      const options = { maxBodyBytes: 10 };
      expect(parse([`${head("HTTP/1.1 200 OK", ["Content-Length: 10"])}${"x".repeat(10)}`], options).body.length).toBe(
        10,
      );
      expect(parse([`${head("HTTP/1.1 200 OK", [])}${"x".repeat(10)}`], options).body.length).toBe(10);
    });

    it("rejects chunked and close-delimited bodies growing over the limit", () => {
      const options = { maxBodyBytes: 10 };
      const te = head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]);
      expect(parseError([te, chunked(Buffer.alloc(11), [6])], options)).toMatchObject({ reason: "body_too_large" });
      expect(parseError([te, "123456789\r\n"])).toMatchObject({ reason: "body_too_large" });
      expect(parseError([head("HTTP/1.1 200 OK", []), "x".repeat(6), "x".repeat(5)], options)).toMatchObject({
        reason: "body_too_large",
      });
    });

    it("enforces the 16 MiB default on a streamed body", () => {
      const parser = new Http1ResponseParser();
      parser.feed(bytes(head("HTTP/1.1 200 OK", [])));
      parser.feed(Buffer.alloc(MAX_BODY_BYTES));
      expect(() => parser.feed(Buffer.alloc(1))).toThrow(expect.objectContaining({ reason: "body_too_large" }));
    });
  });
});
