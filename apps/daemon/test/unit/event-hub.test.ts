import { EventEmitter } from "node:events";
import { createServer, type IncomingHttpHeaders, request, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { type SessionRecord, toSession } from "@claudemesh/registry";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EventHub } from "../../src/events/event-hub.js";
import { EventLog, type NumberedEvent, sseFrame } from "../../src/events/event-log.js";
import { TempDirs, waitFor } from "./helpers.js";

const BASE = { "claudemesh-version": "9.9.9-test", "claudemesh-api": "1" };

function session(i: number, cwd = "/home/user/project"): SessionRecord {
  return {
    session_id: `s-${i}`,
    mesh: "default",
    display_name: `session ${i}`,
    pid: 1000 + i,
    cwd,
    start_time: `boot:${i}`,
    registered_at: 1_700_000_000_000 + i,
    token_prefix: "0123abcd",
  };
}

const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  try {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  } finally {
    dirs.removeAll();
  }
});

/** A real HTTP server on a temp Unix socket whose every request becomes a hub stream. */
async function serve(hub: EventHub): Promise<{ socket: string; server: Server }> {
  const socket = join(dirs.make("cmu-hub-"), "hub.sock");
  const server = createServer((req, res) => {
    const last = req.headers["last-event-id"];
    hub.open(res, typeof last === "string" ? Number(last) : undefined, BASE);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  cleanups.push(async () => {
    hub.closeAll();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { socket, server };
}

interface Stream {
  status: number;
  headers: IncomingHttpHeaders;
  text: () => string;
  ended: Promise<void>;
  close: () => void;
}

function openStream(socket: string, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: "/v1/events", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      const ended = new Promise<void>((r) => {
        res.once("end", r);
        res.once("close", r);
        res.once("error", () => r());
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        ended,
        close: () => req.destroy(),
      });
    });
    req.on("error", reject);
    req.end();
    cleanups.push(() => void req.destroy());
  });
}

function frames(text: string): { id?: string; event?: string; data?: unknown; comment?: string }[] {
  return text
    .split("\n\n")
    .filter((block) => block.length > 0)
    .map((block) => {
      const out: { id?: string; event?: string; data?: unknown; comment?: string } = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(": ")) out.comment = line.slice(2);
        else if (line.startsWith("id: ")) out.id = line.slice(4);
        else if (line.startsWith("event: ")) out.event = line.slice(7);
        else if (line.startsWith("data: ")) out.data = JSON.parse(line.slice(6));
      }
      return out;
    });
}

const eventIds = (text: string) => frames(text).flatMap((f) => (f.id === undefined ? [] : [Number(f.id)]));

function appendN(log: EventLog, n: number, from = 0): NumberedEvent[] {
  return Array.from({ length: n }, (_, i) =>
    log.appendSession({ type: "session_registered", reason: "registered", session: session(from + i) }),
  );
}

/** A minimal ServerResponse stand-in whose buffered byte count the test controls. */
class FakeResponse extends EventEmitter {
  writableLength = 0;
  readonly writes: string[] = [];
  status: number | undefined;
  headers: Record<string, string> | undefined;
  socketTimeout: number | undefined;
  destroyed = false;
  ended = false;
  readonly socket = {
    setTimeout: (ms: number) => {
      this.socketTimeout = ms;
    },
  };
  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
    return this;
  }
  write(chunk: string) {
    if (this.destroyed || this.ended) throw new Error("write after the stream was closed");
    this.writes.push(chunk);
    return true;
  }
  destroy() {
    this.destroyed = true;
    this.emit("close");
    return this;
  }
  end() {
    this.ended = true;
    this.emit("close");
    return this;
  }
  asResponse(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

describe("EventHub over a real socket", () => {
  it("open() sends the event-stream headers plus the base headers, and counts the stream", async () => {
    const hub = new EventHub(new EventLog(16, 1));
    const { socket } = await serve(hub);
    const stream = await openStream(socket);
    expect(stream.status).toBe(200);
    expect(stream.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(stream.headers["cache-control"]).toBe("no-store");
    expect(stream.headers["claudemesh-version"]).toBe("9.9.9-test");
    expect(stream.headers["claudemesh-api"]).toBe("1");
    await waitFor(() => hub.size === 1, "the stream to be registered");
    await waitFor(() => stream.text().startsWith(": claudemesh events\n\n"), "the opening comment");
  });

  it("replays exactly the events after Last-Event-ID, then goes live", async () => {
    const log = new EventLog(16, 100);
    appendN(log, 5); // ids 100..104
    const hub = new EventHub(log);
    const { socket } = await serve(hub);

    const resumed = await openStream(socket, { "last-event-id": "101" });
    const fresh = await openStream(socket);
    await waitFor(() => hub.size === 2, "both streams");
    const [live] = appendN(log, 1, 50);
    hub.publish(live as NumberedEvent);
    await waitFor(() => eventIds(resumed.text()).includes(105), "the live event (resumed)");
    await waitFor(() => eventIds(fresh.text()).includes(105), "the live event (fresh)");

    expect(eventIds(resumed.text())).toEqual([102, 103, 104, 105]);
    expect(eventIds(fresh.text())).toEqual([105]); // no Last-Event-ID: no replay
    const replayed = frames(resumed.text()).filter((f) => f.id === "102")[0];
    expect(replayed).toEqual({
      id: "102",
      event: "session_registered",
      data: { session: toSession(session(2)), reason: "registered" },
    });
  });

  it("publish() reaches every open stream, in order", async () => {
    const log = new EventLog(16, 1);
    const hub = new EventHub(log);
    const { socket } = await serve(hub);
    const streams = await Promise.all([openStream(socket), openStream(socket), openStream(socket)]);
    await waitFor(() => hub.size === 3, "three streams");
    for (const event of appendN(log, 3)) hub.publish(event);
    for (const s of streams) {
      await waitFor(() => eventIds(s.text()).length === 3, "three events on every stream");
      expect(eventIds(s.text())).toEqual([1, 2, 3]);
    }
  });

  it("forgets a stream whose client went away", async () => {
    const hub = new EventHub(new EventLog(16, 1));
    const { socket } = await serve(hub);
    const stream = await openStream(socket);
    await waitFor(() => hub.size === 1, "the stream");
    stream.close();
    await waitFor(() => hub.size === 0, "the stream to be forgotten");
    expect(hub.dropped).toBe(0);
  });

  it("sends a keep-alive comment every keepaliveMs", async () => {
    const hub = new EventHub(new EventLog(16, 1), 25);
    const { socket } = await serve(hub);
    const stream = await openStream(socket);
    await waitFor(
      () => frames(stream.text()).filter((f) => f.comment === "keep-alive").length >= 3,
      "three keep-alive comments",
    );
    expect(eventIds(stream.text())).toEqual([]);
  });

  it("closeAll() ends every stream", async () => {
    const hub = new EventHub(new EventLog(16, 1));
    const { socket } = await serve(hub);
    const streams = await Promise.all([openStream(socket), openStream(socket)]);
    await waitFor(() => hub.size === 2, "two streams");
    hub.closeAll();
    expect(hub.size).toBe(0);
    await Promise.all(streams.map((s) => s.ended));
  });

  it("disconnects a client that does not read once its backlog passes maxBufferedBytes; others carry on", async () => {
    const log = new EventLog(4096, 1);
    const limit = 256 * 1024;
    const hub = new EventHub(log, 60_000, limit);
    const { socket } = await serve(hub);

    const reader = await openStream(socket);
    // The slow consumer: a raw connection that sends a request and then never reads.
    const slow: Socket = connect(socket);
    cleanups.push(() => void slow.destroy());
    await new Promise<void>((r) => slow.once("connect", () => r()));
    slow.pause();
    const slowClosed = new Promise<void>((r) => slow.once("close", () => r()));
    slow.write("GET /v1/events HTTP/1.1\r\nhost: localhost\r\n\r\n");
    await waitFor(() => hub.size === 2, "both streams");

    const big = "x".repeat(32 * 1024);
    let published = 0;
    while (hub.dropped === 0 && published < 2_000) {
      hub.publish(
        log.appendSession({ type: "session_registered", reason: "registered", session: session(published, `/${big}`) }),
      );
      published++;
      await new Promise((r) => setImmediate(r)); // let the reader read
    }
    expect(hub.dropped).toBe(1);
    expect(hub.size).toBe(1);
    // Reading what was sent before the drop, the slow client then sees its connection end.
    let slowText = "";
    slow.setEncoding("utf8");
    slow.on("data", (chunk: string) => {
      slowText += chunk;
    });
    slow.resume();
    await slowClosed;
    const slowIds = [...slowText.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(slowIds.length).toBeGreaterThan(0);
    expect(slowIds).toEqual(Array.from({ length: slowIds.length }, (_, i) => i + 1)); // a clean prefix
    expect(slowIds.length).toBeLessThan(published); // the event that found it too far behind never went out

    // The reader was never dropped and gets everything, including what comes next.
    hub.publish(log.appendSession({ type: "session_registered", reason: "registered", session: session(9_999) }));
    await waitFor(() => eventIds(reader.text()).length === published + 1, "every event on the reading stream");
    expect(hub.dropped).toBe(1);
  });
});

describe("EventHub against a fake response", () => {
  it("writes the headers it was given, turns the socket timeout off and writes the opening comment", () => {
    const hub = new EventHub(new EventLog(4, 1));
    const res = new FakeResponse();
    hub.open(res.asResponse(), undefined, BASE);
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ ...BASE, "content-type": "text/event-stream; charset=utf-8" });
    expect(res.socketTimeout).toBe(0);
    expect(res.writes).toEqual([": claudemesh events\n\n"]);
    hub.closeAll();
  });

  it("drops a stream whose writableLength exceeds maxBufferedBytes and never writes to it again", () => {
    const log = new EventLog(16, 1);
    const hub = new EventHub(log, 60_000, 1_000);
    const slow = new FakeResponse();
    const fine = new FakeResponse();
    hub.open(slow.asResponse(), undefined, BASE);
    hub.open(fine.asResponse(), undefined, BASE);
    const [e1, e2, e3] = appendN(log, 3) as [NumberedEvent, NumberedEvent, NumberedEvent];

    slow.writableLength = 1_000; // at the bound: still written to
    hub.publish(e1);
    expect(slow.writes).toContain(sseFrame(e1));
    expect(slow.destroyed).toBe(false);

    slow.writableLength = 1_001;
    hub.publish(e2);
    expect(slow.destroyed).toBe(true);
    expect(slow.writes).not.toContain(sseFrame(e2));
    expect(hub.dropped).toBe(1);
    expect(hub.size).toBe(1);

    hub.publish(e3);
    expect(slow.writes.filter((w) => w.startsWith("id: "))).toEqual([sseFrame(e1)]);
    expect(fine.writes.slice(1)).toEqual([sseFrame(e1), sseFrame(e2), sseFrame(e3)]);
    expect(hub.dropped).toBe(1);
    hub.closeAll();
  });

  it("sends keep-alives on the interval and stops them at closeAll()", () => {
    vi.useFakeTimers();
    const hub = new EventHub(new EventLog(4, 1), 1_000);
    const res = new FakeResponse();
    hub.open(res.asResponse(), undefined, BASE);
    vi.advanceTimersByTime(999);
    expect(res.writes).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(res.writes.slice(1)).toEqual([": keep-alive\n\n"]);
    vi.advanceTimersByTime(2_000);
    expect(res.writes.slice(1)).toEqual([": keep-alive\n\n", ": keep-alive\n\n", ": keep-alive\n\n"]);
    hub.closeAll();
    expect(res.ended).toBe(true);
    expect(hub.size).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(res.writes).toHaveLength(4);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("drops a stalled stream on a keep-alive too", () => {
    vi.useFakeTimers();
    const hub = new EventHub(new EventLog(4, 1), 1_000, 10);
    const res = new FakeResponse();
    hub.open(res.asResponse(), undefined, BASE);
    res.writableLength = 11;
    vi.advanceTimersByTime(1_000);
    expect(res.destroyed).toBe(true);
    expect(hub.dropped).toBe(1);
    hub.closeAll();
  });
});
