import { createServer, type IncomingMessage, request } from "node:http";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES, parseJsonBody, readBody } from "../../src/http/body.js";
import { HttpError } from "../../src/http/http-error.js";
import { TempDirs } from "./helpers.js";

const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  try {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  } finally {
    dirs.removeAll();
  }
});

/** An IncomingMessage stand-in: a byte stream with headers. */
function fakeRequest(headers: Record<string, string> = {}) {
  const stream = new PassThrough();
  const req = Object.assign(stream, { headers }) as unknown as IncomingMessage;
  return { req, stream };
}

async function httpErrorOf(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

function thrownBy(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    return error as HttpError;
  }
  throw new Error("expected an HttpError");
}

describe("readBody", () => {
  it("reads the whole body", async () => {
    const { req, stream } = fakeRequest({ "content-length": "11" });
    const body = readBody(req);
    stream.write("hello ");
    stream.end("world");
    expect((await body).toString()).toBe("hello world");
  });

  it("accepts a body of exactly the limit", async () => {
    const { req, stream } = fakeRequest({ "content-length": "8" });
    const body = readBody(req, 8);
    stream.end(Buffer.alloc(8, 0x61));
    expect(await body).toEqual(Buffer.alloc(8, 0x61));
  });

  it("refuses at once a body whose content-length declares more than the limit", async () => {
    const { req } = fakeRequest({ "content-length": String(MAX_BODY_BYTES + 1) });
    const error = await httpErrorOf(readBody(req)); // nothing is ever written: no need to read
    expect(error.code).toBe("payload_too_large");
    expect(error.status).toBe(413);
    expect(error.headers).toEqual({ connection: "close" });
    expect(error.message).toContain(String(MAX_BODY_BYTES));
  });

  it("refuses a chunked body as soon as it grows past the limit, and drains the rest", async () => {
    const { req, stream } = fakeRequest({ "transfer-encoding": "chunked" });
    const body = readBody(req, 10);
    stream.write(Buffer.alloc(6));
    stream.write(Buffer.alloc(6)); // 12 > 10
    const error = await httpErrorOf(body);
    expect(error.code).toBe("payload_too_large");
    // The rest keeps flowing (discarded) rather than stalling the connection.
    const ended = new Promise<void>((r) => stream.once("end", () => r()));
    stream.write(Buffer.alloc(1024 * 1024));
    stream.end();
    await ended;
  });

  it("refuses a body that lies about its length once it passes the limit", async () => {
    const { req, stream } = fakeRequest({ "content-length": "4" });
    const body = readBody(req, 10);
    stream.end(Buffer.alloc(11));
    expect((await httpErrorOf(body)).code).toBe("payload_too_large");
  });

  it("passes on a stream error", async () => {
    const { req, stream } = fakeRequest();
    const body = readBody(req);
    stream.destroy(new Error("connection reset"));
    await expect(body).rejects.toThrow("connection reset");
  });

  it("answers a real chunked request that passes the limit with payload_too_large", async () => {
    const socket = join(dirs.make("cmu-body-"), "s.sock");
    const outcomes: (string | Buffer)[] = [];
    const server = createServer((req, res) => {
      readBody(req, 1024).then(
        (bytes) => {
          outcomes.push(bytes);
          res.end("ok");
        },
        (error: HttpError) => {
          outcomes.push(error.code);
          res.writeHead(error.status, error.headers).end(error.code);
        },
      );
    });
    await new Promise<void>((r) => server.listen(socket, r));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        socketPath: socket,
        method: "POST",
        path: "/",
        headers: { "content-type": "application/json" },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 4; i++) req.write(Buffer.alloc(512, 0x20)); // chunked: no content-length
      req.end();
    });
    expect(status).toBe(413);
    expect(outcomes).toEqual(["payload_too_large"]);
  });
});

describe("parseJsonBody", () => {
  const json = (text: string) => Buffer.from(text, "utf8");

  it("parses JSON sent as application/json, with or without parameters, or with no content-type", () => {
    expect(parseJsonBody(json('{"a":1}'), "application/json")).toEqual({ a: 1 });
    expect(parseJsonBody(json('{"a":"é"}'), "application/json; charset=utf-8")).toEqual({ a: "é" });
    expect(parseJsonBody(json("[1,2]"), "Application/JSON")).toEqual([1, 2]);
    expect(parseJsonBody(json("{}"), undefined)).toEqual({});
  });

  it.each([
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/jsonp",
    "multipart/form-data; boundary=x",
    "",
  ])("refuses content-type %j with bad_request", (contentType) => {
    const error = thrownBy(() => parseJsonBody(json("{}"), contentType));
    expect(error.code).toBe("bad_request");
    expect(error.status).toBe(400);
    expect(error.message).toContain("application/json");
  });

  it("refuses an empty body with invalid_json", () => {
    const error = thrownBy(() => parseJsonBody(Buffer.alloc(0), "application/json"));
    expect(error.code).toBe("invalid_json");
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/empty/);
  });

  it("refuses bytes that are not UTF-8 with invalid_json naming UTF-8", () => {
    const error = thrownBy(() => parseJsonBody(Buffer.from([0x7b, 0xff, 0x7d]), "application/json"));
    expect(error.code).toBe("invalid_json");
    expect(error.message).toContain("UTF-8");
    // An overlong encoding and a lone surrogate are not UTF-8 either.
    expect(thrownBy(() => parseJsonBody(Buffer.from([0x22, 0xc0, 0xaf, 0x22]), undefined)).message).toContain("UTF-8");
    expect(thrownBy(() => parseJsonBody(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), undefined)).message).toContain(
      "UTF-8",
    );
  });

  it.each(['{"a":', "{'a':1}", "undefined", '{"a":1}}', "\u0000"])(
    "refuses malformed JSON %j with invalid_json",
    (text) => {
      const error = thrownBy(() => parseJsonBody(json(text), "application/json"));
      expect(error.code).toBe("invalid_json");
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/not valid JSON/);
    },
  );
});
