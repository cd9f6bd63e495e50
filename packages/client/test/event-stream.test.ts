import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodeSessionEvent, parseEventId, type StreamState, watchEvents } from "../src/event-stream.js";
import { ApiError, DaemonUnavailableError, ProtocolError } from "../src/http-client.js";
import { SocketPathTooLongError } from "../src/paths.js";
import type { SessionEvent } from "../src/wire.js";
import { json, listen, session, type TestServer, tempDir, waitFor } from "./helpers.js";

let dir: string;
let cleanup: () => void;
let socketPath: string;
const servers: TestServer[] = [];
const controllers: AbortController[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  socketPath = join(dir, "daemon.sock");
});

afterEach(async () => {
  for (const c of controllers.splice(0)) c.abort();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  cleanup();
});

/** A fake daemon's event endpoint: records each connection's Last-Event-ID and keeps its response open. */
interface EventServer {
  readonly server: TestServer;
  /** Last-Event-ID of each connection, in order (undefined when absent). */
  readonly lastIds: (string | undefined)[];
  readonly streams: ServerResponse[];
  /** The connection most recently opened. */
  current(): ServerResponse;
}

async function eventServer(onConnect: (res: ServerResponse, lastId: string | undefined) => void = () => {}) {
  const lastIds: (string | undefined)[] = [];
  const streams: ServerResponse[] = [];
  const server = await listen(socketPath, (req, res) => {
    expect(req.url).toBe("/v1/events");
    expect(req.headers.accept).toBe("text/event-stream");
    const lastId = req.headers["last-event-id"] as string | undefined;
    lastIds.push(lastId);
    streams.push(res);
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    res.write(": hello\n\n");
    onConnect(res, lastId);
  });
  servers.push(server);
  const es: EventServer = {
    server,
    lastIds,
    streams,
    current: () => {
      const last = streams.at(-1);
      if (!last) throw new Error("no connection yet");
      return last;
    },
  };
  return es;
}

function sse(id: number | string, type: string, data: unknown): string {
  const payload = typeof data === "string" ? data : JSON.stringify(data);
  return `id: ${id}\nevent: ${type}\ndata: ${payload}\n\n`;
}

function registered(id: number, n = id): string {
  return sse(id, "session_registered", { session: session(n), reason: "registered" });
}

interface Watch {
  events: SessionEvent[];
  states: StreamState[];
  errors: Error[];
  controller: AbortController;
  done: Promise<void>;
}

function watch(options: { reconnectDelayMs?: number; lastEventId?: number; path?: string } = {}): Watch {
  const controller = new AbortController();
  controllers.push(controller);
  const w: Watch = { events: [], states: [], errors: [], controller, done: Promise.resolve() };
  w.done = watchEvents(options.path ?? socketPath, {
    onEvent: (e) => w.events.push(e),
    onState: (s) => w.states.push(s),
    onError: (e) => w.errors.push(e),
    signal: controller.signal,
    reconnectDelayMs: options.reconnectDelayMs ?? 20,
    ...(options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId }),
  });
  return w;
}

describe("watchEvents", () => {
  it("delivers decoded events in order and resolves when aborted", async () => {
    const es = await eventServer((res) => {
      res.write(registered(1));
      res.write(sse(2, "session_deregistered", { session: session(1), reason: "exited" }));
    });
    const w = watch();
    await waitFor(() => w.events.length === 2, "two events");
    expect(w.events).toEqual([
      { type: "session_registered", id: 1, reason: "registered", session: session(1) },
      { type: "session_deregistered", id: 2, reason: "exited", session: session(1) },
    ]);
    expect(w.states).toEqual(["connected"]);
    expect(es.lastIds).toEqual([undefined]);

    let serverSawClose = false;
    es.current().on("close", () => {
      serverSawClose = true;
    });
    w.controller.abort();
    await w.done;
    await waitFor(() => serverSawClose, "the server to see the stream closed");
    expect(w.states).toEqual(["connected"]);
  });

  it("assembles events split across writes", async () => {
    await eventServer((res) => {
      const text = registered(1) + registered(2);
      for (let i = 0; i < text.length; i += 7) res.write(text.slice(i, i + 7));
    });
    const w = watch();
    await waitFor(() => w.events.length === 2, "two events");
    expect(w.events.map((e) => e.id)).toEqual([1, 2]);
  });

  it("reconnects with Last-Event-ID after the daemon ends the stream", async () => {
    const es = await eventServer((res, lastId) => {
      if (lastId === undefined) {
        res.write(registered(1));
        res.write(registered(2));
        res.end();
      } else {
        res.write(registered(3));
      }
    });
    const w = watch();
    await waitFor(() => w.events.length === 3, "three events");
    expect(w.events.map((e) => e.id)).toEqual([1, 2, 3]);
    expect(es.lastIds).toEqual([undefined, "2"]);
    expect(w.states).toEqual(["connected", "disconnected", "connected"]);
    expect(w.errors[0]).toBeInstanceOf(DaemonUnavailableError);
  });

  it("survives a daemon restart on the same path and resumes from the last id", async () => {
    const first = await eventServer((res) => res.write(registered(5)));
    const w = watch();
    await waitFor(() => w.events.length === 1, "the first event");
    await first.server.close();
    await waitFor(() => w.states.includes("disconnected"), "the disconnect");

    const second = await eventServer((res, lastId) => {
      if (lastId === "5") res.write(registered(6));
    });
    await waitFor(() => w.events.length === 2, "the event after the restart");
    expect(w.events.map((e) => e.id)).toEqual([5, 6]);
    expect(second.lastIds[0]).toBe("5");
    expect(w.states).toEqual(["connected", "disconnected", "connected"]);
  });

  it("waits for a daemon that is not there yet, reporting the outage once", async () => {
    const w = watch({ reconnectDelayMs: 10 });
    await waitFor(() => w.errors.length >= 3, "several failed attempts");
    expect(w.states).toEqual(["disconnected"]);
    expect(w.errors[0]).toMatchObject({ code: "ENOENT", provesAbsent: true });

    await eventServer((res) => res.write(registered(1)));
    await waitFor(() => w.events.length === 1, "the first event");
    expect(w.states).toEqual(["disconnected", "connected"]);
  });

  it("starts after the given lastEventId", async () => {
    const es = await eventServer();
    watch({ lastEventId: 41 });
    await waitFor(() => es.lastIds.length === 1, "a connection");
    expect(es.lastIds).toEqual(["41"]);
  });

  it("skips malformed events without stopping, and still resumes after their ids", async () => {
    const es = await eventServer((res, lastId) => {
      if (lastId !== undefined) return;
      res.write(sse(1, "session_registered", "{not json"));
      res.write(sse(2, "something_else", { session: session(1), reason: "registered" }));
      res.write(sse("x3", "session_registered", { session: session(1), reason: "registered" }));
      res.write(sse("99999999999999999", "session_registered", { session: session(1), reason: "registered" }));
      res.write(sse(4, "session_registered", { session: { session_id: "s1" }, reason: "registered" }));
      res.write(sse(5, "session_registered", { session: session(1), reason: 7 }));
      res.write(sse(6, "session_registered", "null"));
      res.write(sse(7, "session_registered", { session: null, reason: "registered" }));
      res.write(registered(8));
      res.write(sse(9, "session_deregistered", "[]"));
      res.end();
    });
    const w = watch();
    await waitFor(() => es.lastIds.length === 2, "the reconnection");
    expect(w.events.map((e) => e.id)).toEqual([8]);
    expect(es.lastIds).toEqual([undefined, "9"]);
  });

  it("retries when the daemon answers with an error, reporting it", async () => {
    let calls = 0;
    servers.push(
      await listen(socketPath, (_req, res) => {
        calls++;
        if (calls === 1) json(res, 404, { error: { code: "not_found", message: "no such route" } });
        else if (calls === 2) json(res, 200, { not: "a stream" });
        else {
          res.writeHead(200, { "Content-Type": "text/event-stream" });
          res.write(registered(1));
        }
      }),
    );
    const w = watch();
    await waitFor(() => w.events.length === 1, "the event");
    expect(w.errors[0]).toBeInstanceOf(ApiError);
    expect(w.errors[0]).toMatchObject({ status: 404, code: "not_found" });
    expect(w.errors[1]).toBeInstanceOf(ProtocolError);
    expect(w.states).toEqual(["disconnected", "connected"]);
  });

  it("stops promptly when aborted while waiting to reconnect", async () => {
    const w = watch({ reconnectDelayMs: 60_000 });
    await waitFor(() => w.states.length === 1, "the first failure");
    w.controller.abort();
    await w.done;
    expect(w.states).toEqual(["disconnected"]);
  });

  it("resolves at once for an already aborted signal", async () => {
    let connected = false;
    servers.push(
      await listen(socketPath, () => {
        connected = true;
      }),
    );
    await watchEvents(socketPath, { onEvent: () => {}, signal: AbortSignal.abort() });
    expect(connected).toBe(false);
  });

  it("rejects with the error a callback throws, and closes the stream", async () => {
    const es = await eventServer((res) => res.write(registered(1)));
    const controller = new AbortController();
    controllers.push(controller);
    const boom = new Error("boom");
    await expect(
      watchEvents(socketPath, {
        onEvent: () => {
          throw boom;
        },
        signal: controller.signal,
      }),
    ).rejects.toBe(boom);
    let closed = es.current().closed;
    es.current().on("close", () => {
      closed = true;
    });
    await waitFor(() => closed, "the stream to close");
  });

  it("rejects with the error onState or onError throws", async () => {
    const controller = new AbortController();
    controllers.push(controller);
    const boom = new Error("state");
    await expect(
      watchEvents(socketPath, {
        onEvent: () => {},
        onState: () => {
          throw boom;
        },
        signal: controller.signal,
      }),
    ).rejects.toBe(boom);
    await expect(
      watchEvents(socketPath, {
        onEvent: () => {},
        onError: () => {
          throw boom;
        },
        signal: controller.signal,
      }),
    ).rejects.toBe(boom);
  });

  it("retries with the default delay when none is given", async () => {
    const controller = new AbortController();
    controllers.push(controller);
    const states: StreamState[] = [];
    const done = watchEvents(socketPath, {
      onEvent: () => {},
      onState: (s) => states.push(s),
      signal: controller.signal,
    });
    await waitFor(() => states.length === 1, "the first failure");
    const es = await eventServer();
    await waitFor(() => es.lastIds.length === 1, "a reconnection after the default delay");
    controller.abort();
    await done;
  });

  it("refuses a socket path the OS would truncate", async () => {
    const w = watch({ path: join(dir, "x".repeat(120), "daemon.sock") });
    await expect(w.done).rejects.toBeInstanceOf(SocketPathTooLongError);
  });
});

describe("decodeSessionEvent", () => {
  it("decodes the contract's event form", () => {
    const data = JSON.stringify({ session: session(1), reason: "pid_reused" });
    expect(decodeSessionEvent({ id: "12", event: "session_deregistered", data })).toEqual({
      type: "session_deregistered",
      id: 12,
      reason: "pid_reused",
      session: session(1),
    });
  });

  it("refuses an event without id", () => {
    const data = JSON.stringify({ session: session(1), reason: "registered" });
    expect(decodeSessionEvent({ event: "session_registered", data })).toBeUndefined();
  });

  it.each([
    ["0", 0],
    ["17", 17],
    ["", undefined],
    ["-1", undefined],
    ["01", undefined],
    ["1.5", undefined],
    [undefined, undefined],
  ])("parseEventId(%j) = %j", (text, id) => {
    expect(parseEventId(text)).toBe(id);
  });
});
