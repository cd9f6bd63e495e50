import { writeFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ApiError,
  apiErrorFrom,
  ClientError,
  DaemonTimeoutError,
  DaemonUnavailableError,
  ProtocolError,
  requestJson,
} from "../src/http-client.js";
import { SocketPathTooLongError } from "../src/paths.js";
import { deadSocket, json, listen, type TestServer, tempDir, token, waitFor } from "./helpers.js";

let dir: string;
let cleanup: () => void;
let socketPath: string;
const servers: TestServer[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  socketPath = join(dir, "daemon.sock");
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  cleanup();
});

async function serve(handler: Parameters<typeof listen>[1]): Promise<TestServer> {
  const server = await listen(socketPath, handler);
  servers.push(server);
  return server;
}

/**
 * A raw node:net server on the socket, for answers a node:http server would never send: it reads
 * the request head and hands the connection to `answer`.
 */
async function serveRaw(answer: (socket: Socket, requestHead: string) => void): Promise<{ connections: number }> {
  const sockets = new Set<Socket>();
  const stats = { connections: 0 };
  const server: Server = createServer((socket) => {
    stats.connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let received = "";
    let answered = false;
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (!answered && received.includes("\r\n\r\n")) {
        answered = true;
        answer(socket, received);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, () => resolve()));
  servers.push({
    server: server as unknown as TestServer["server"],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  });
  return stats;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

interface Seen {
  method?: string;
  url?: string;
  headers?: IncomingHttpHeaders;
  body?: string;
}

function recordingServer(seen: Seen, status = 200, body: unknown = { ok: true }) {
  return serve((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      text += c;
    });
    req.on("end", () => {
      Object.assign(seen, { method: req.method, url: req.url, headers: req.headers, body: text });
      json(res, status, body);
    });
  });
}

describe("requestJson", () => {
  it("returns status, headers, the parsed body and the daemon version", async () => {
    const seen: Seen = {};
    await recordingServer(seen, 200, { sessions: [] });
    const res = await requestJson<{ sessions: unknown[] }>(socketPath, {
      method: "GET",
      path: "/v1/sessions?mesh=a",
      timeoutMs: 5_000,
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sessions: [] });
    expect(res.daemonVersion).toBe("9.9.9");
    expect(res.headers["claudemesh-api"]).toBe("1");
    expect(seen.method).toBe("GET");
    expect(seen.url).toBe("/v1/sessions?mesh=a");
    expect(seen.headers?.["connection"]).toBe("close");
    expect(seen.headers?.["content-type"]).toBeUndefined();
    expect(seen.headers?.["authorization"]).toBeUndefined();
    expect(seen.body).toBe("");
  });

  it("has no daemon version when the header is missing", async () => {
    await serve((_req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end("{}"));
    const res = await requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 5_000 });
    expect(res.daemonVersion).toBeUndefined();
  });

  it("sends a body as JSON with its content type and length", async () => {
    const seen: Seen = {};
    await recordingServer(seen);
    const body = { session_id: "s1", display_name: "naïve ✓", pid: 42 };
    await requestJson(socketPath, { method: "POST", path: "/v1/sessions/register", body, timeoutMs: 5_000 });
    expect(seen.headers?.["content-type"]).toBe("application/json");
    expect(seen.headers?.["content-length"]).toBe(String(Buffer.byteLength(JSON.stringify(body))));
    expect(JSON.parse(seen.body ?? "")).toEqual(body);
  });

  it("sends the token only in the Authorization header", async () => {
    const seen: Seen = {};
    await recordingServer(seen, 200, { session: {} });
    const t = token(0xabc);
    await requestJson(socketPath, { method: "GET", path: "/v1/sessions/me", token: t, timeoutMs: 5_000 });
    expect(seen.headers?.["authorization"]).toBe(`ClaudeMesh-Session ${t}`);
    expect(seen.url).not.toContain(t);
    expect(seen.body).not.toContain(t);
    const others = Object.entries(seen.headers ?? {}).filter(([name]) => name !== "authorization");
    expect(JSON.stringify(others)).not.toContain(t);
  });

  it("maps a contract error body to ApiError", async () => {
    await serve((_req, res) => json(res, 401, { error: { code: "unauthorized", message: "no live session" } }));
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/sessions/me", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({
      kind: "api",
      name: "ApiError",
      status: 401,
      code: "unauthorized",
      message: "no live session",
      daemonVersion: "9.9.9",
    });
  });

  it("keeps a code this client does not know yet", async () => {
    await serve((_req, res) => json(res, 409, { error: { code: "too_many_sessions", message: "full" } }));
    const err = await rejection(requestJson(socketPath, { method: "POST", path: "/x", body: {}, timeoutMs: 5_000 }));
    expect(err).toMatchObject({ status: 409, code: "too_many_sessions", message: "full" });
  });

  it("maps a non-2xx answer without the error form to internal, quoting the status", async () => {
    await serve((_req, res) => res.writeHead(502, { "Content-Type": "text/html" }).end("<h1>Bad gateway</h1>"));
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 502, code: "internal", daemonVersion: undefined });
    expect((err as ApiError).message).toContain("502");
  });

  it.each([
    ["JSON that is not an object", "[1]"],
    ["an error that is not an object", '{"error":"nope"}'],
    ["a code that is not snake_case", '{"error":{"code":"Not Found","message":"m"}}'],
    ["a message that is not a string", '{"error":{"code":"not_found","message":1}}'],
    ["an empty body", ""],
  ])("treats %s as no error body", (_, text) => {
    expect(apiErrorFrom(404, text)).toMatchObject({ status: 404, code: "internal" });
  });

  it("raises ProtocolError for a 2xx body that is not JSON", async () => {
    await serve((_req, res) => res.writeHead(200, { "Content-Type": "text/plain" }).end("hello"));
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ kind: "protocol", status: 200 });
  });

  it("raises DaemonUnavailableError ENOENT when there is no socket file", async () => {
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect(err).toMatchObject({ kind: "unavailable", code: "ENOENT", provesAbsent: true, socketPath });
    expect((err as Error).message).toContain(socketPath);
  });

  it("raises DaemonUnavailableError ECONNREFUSED for a socket left by a killed daemon", async () => {
    deadSocket(socketPath);
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect(err).toMatchObject({ code: "ECONNREFUSED", provesAbsent: true });
    expect((err as Error).message).toContain("nothing listens");
  });

  it("keeps other socket errors, which prove nothing", async () => {
    // A regular file where a directory should be: ENOTDIR, not proof that no daemon exists.
    writeFileSync(join(dir, "file"), "");
    const path = join(dir, "file", "daemon.sock");
    const err = await rejection(requestJson(path, { method: "GET", path: "/v1/health", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect(err).toMatchObject({ code: "ENOTDIR", provesAbsent: false });
    expect((err as Error).message).toContain("cannot reach the daemon");
    expect(new DaemonUnavailableError(path, undefined).provesAbsent).toBe(false);
  });

  it("reports a daemon that dies mid-answer as unavailable", async () => {
    await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "100" });
      res.write('{"partial":');
      setImmediate(() => res.socket?.destroy());
    });
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect((err as DaemonUnavailableError).provesAbsent).toBe(false);
  });

  it("times out on a daemon that never answers, and closes the connection", async () => {
    let serverSawClose = false;
    await serve((req) => {
      req.socket.on("close", () => {
        serverSawClose = true;
      });
    });
    const started = Date.now();
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 200 }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(DaemonTimeoutError);
    expect(err).toMatchObject({ kind: "timeout", timeoutMs: 200, socketPath });
    expect((err as Error).message).toMatch(/busy/);
    await waitFor(() => serverSawClose, "the server to see the connection closed");
  });

  it("rejects with the signal's reason when aborted, and closes the connection", async () => {
    let serverSawClose = false;
    let received = false;
    await serve((req) => {
      received = true;
      req.socket.on("close", () => {
        serverSawClose = true;
      });
    });
    const controller = new AbortController();
    const pending = rejection(
      requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 10_000, signal: controller.signal }),
    );
    await waitFor(() => received, "the request to arrive");
    controller.abort(new Error("user gave up"));
    expect(await pending).toMatchObject({ message: "user gave up" });
    await waitFor(() => serverSawClose, "the server to see the connection closed");
  });

  it("does not connect when the signal is already aborted", async () => {
    let received = false;
    await serve(() => {
      received = true;
    });
    const err = await rejection(
      requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 1_000, signal: AbortSignal.abort() }),
    );
    expect((err as Error).name).toBe("AbortError");
    expect(received).toBe(false);
  });

  it("refuses a socket path the OS would truncate, before connecting", async () => {
    const long = join(dir, "x".repeat(120), "daemon.sock");
    const err = await rejection(requestJson(long, { method: "GET", path: "/", timeoutMs: 1_000 }));
    expect(err).toBeInstanceOf(SocketPathTooLongError);
  });

  it("reaches a daemon restarted on the same path", async () => {
    const first = await serve((_req, res) => json(res, 200, { pid: 1 }));
    expect((await requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 })).body).toEqual({ pid: 1 });
    await first.close();
    const down = await rejection(requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 }));
    expect(down).toMatchObject({ code: "ENOENT" });
    await serve((_req, res) => json(res, 200, { pid: 2 }));
    expect((await requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 })).body).toEqual({ pid: 2 });
  });

  it("reads a chunked 2xx answer from a real node:http server, characters split across chunks included", async () => {
    const body = { name: "naïve ✓ 🎉", items: Array.from({ length: 200 }, (_, i) => `item ${i} ✓`) };
    const text = JSON.stringify(body);
    const bytes = Buffer.from(text, "utf8");
    await serve((_req, res) => {
      // No Content-Length: node:http frames the body as chunked, one chunk per write.
      res.writeHead(200, { "Content-Type": "application/json", "Claudemesh-Version": "9.9.9" });
      // Cut inside the multibyte characters (the first ï is at byte 11).
      let from = 0;
      for (const size of [12, 7, 1000, 3]) {
        res.write(bytes.subarray(from, from + size));
        from += size;
      }
      res.end(bytes.subarray(from));
    });
    const res = await requestJson<typeof body>(socketPath, { method: "GET", path: "/v1/sessions", timeoutMs: 5_000 });
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    expect(res.body).toEqual(body);
    expect(res.daemonVersion).toBe("9.9.9");
  });

  it("reports a body shorter than its Content-Length, then a clean close, as unavailable", async () => {
    await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "100" });
      res.write('{"partial":');
      // end(), not destroy(): an orderly FIN, so only the framing shows that the answer is cut short.
      setImmediate(() => res.socket?.end());
    });
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/v1/health", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect(err).toMatchObject({ code: "ECONNRESET", provesAbsent: false });
    expect((err as Error).message).toContain("11 of 100");
  });

  it("reports a connection closed without any answer as unavailable", async () => {
    await serveRaw((socket) => socket.end());
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 }));
    expect(err).toMatchObject({ code: "ECONNRESET", provesAbsent: false });
    expect((err as Error).message).toContain("without a response");
  });

  it("resolves as soon as the answer is complete, even if the server keeps the connection open", async () => {
    await serveRaw((socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
    const res = await requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 });
    expect(res.body).toEqual({});
  });

  it("reads a body delimited by the connection's close", async () => {
    await serveRaw((socket) => socket.end('HTTP/1.0 200 OK\r\n\r\n{"a":1}'));
    expect((await requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 })).body).toEqual({ a: 1 });
  });

  it("raises ProtocolError, status 0, for an answer that is not HTTP", async () => {
    await serveRaw((socket) => socket.end("SSH-2.0-OpenSSH_9.6\r\n"));
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ kind: "protocol", status: 0 });
  });

  it("raises ProtocolError for a header section over 64 KiB, without waiting for the rest", async () => {
    await serveRaw((socket) => socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70 * 1024)}`));
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ status: 200 });
    expect((err as Error).message).toContain("65536");
  });

  it("skips an interim 100 Continue", async () => {
    await serveRaw((socket) =>
      socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{"a":2}'),
    );
    expect((await requestJson(socketPath, { method: "GET", path: "/", timeoutMs: 5_000 })).body).toEqual({ a: 2 });
  });

  it("sends Content-Length: 0 for a POST without a body, as node:http did", async () => {
    let requestHead = "";
    await serveRaw((socket, head) => {
      requestHead = head;
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    });
    await requestJson(socketPath, { method: "post", path: "/v1/x", timeoutMs: 5_000 });
    expect(requestHead).toMatch(/^POST \/v1\/x HTTP\/1\.1\r\nHost: localhost\r\n/);
    expect(requestHead).toContain("\r\nContent-Length: 0\r\n");
  });

  it("refuses a path that would split the request, before connecting", async () => {
    const stats = await serveRaw(() => {});
    const err = await rejection(requestJson(socketPath, { method: "GET", path: "/a\r\nX: 1", timeoutMs: 1_000 }));
    expect(err).toBeInstanceOf(TypeError);
    // A request that did connect is seen by now: the rejection above took a turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stats.connections).toBe(0);
  });
});
