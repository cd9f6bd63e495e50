// Every route, header and error of the contract, against a real daemon on a real socket.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { SseParser } from "@claudemesh/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../src/daemon.js";
import { createLogger } from "../../src/logger.js";
import { DAEMON_VERSION } from "../../src/version.js";
import {
  authorized,
  cleanup,
  http,
  killAndWait,
  rawExchange,
  register,
  spawnSleeper,
  tempDir,
  token,
  waitFor,
} from "../harness.js";

let daemon: RunningDaemon;
let socket: string;
let dir: string;
const sleeper = spawnSleeper();
const pid = sleeper.pid as number;

beforeAll(async () => {
  dir = tempDir();
  daemon = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
  socket = daemon.socketPath;
});

afterAll(async () => {
  await daemon.shutdown("test end");
  await cleanup();
});

function errorOf(res: { json: () => unknown }) {
  return (res.json() as { error: { code: string; message: string } }).error;
}

describe("common headers and refusals", () => {
  it("answers /v1/version with the version headers on every response", async () => {
    const res = await http(socket, "GET", "/v1/version");
    expect(res.status).toBe(200);
    expect(res.headers["claudemesh-version"]).toBe(DAEMON_VERSION);
    expect(res.headers["claudemesh-api"]).toBe("1");
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual({
      daemon_version: DAEMON_VERSION,
      ipc_api: "v1",
      ipc_features: expect.arrayContaining(["events"]),
      schema_version: 1,
    });
    const notFound = await http(socket, "GET", "/nope");
    expect(notFound.headers["claudemesh-version"]).toBe(DAEMON_VERSION);
    expect(notFound.headers["claudemesh-api"]).toBe("1");
  });

  it("answers /v1/health", async () => {
    const res = await http(socket, "GET", "/v1/health");
    expect(res.json()).toEqual({
      ok: true,
      pid: process.pid,
      uptime_ms: expect.any(Number),
      sessions: expect.any(Number),
      // Started here, not by a service manager.
      managed_by: null,
      member_fingerprint: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/),
      host: expect.any(String),
    });
  });

  it.each([
    ["GET", "/", 404, "not_found"],
    ["GET", "/v1/sessions/", 404, "not_found"],
    ["GET", "/v1/../v1/version", 404, "not_found"],
    ["GET", "/v1/sessions/me/../../version", 404, "not_found"],
    ["PUT", "/v1/sessions", 405, "method_not_allowed"],
    ["POST", "/v1/version", 405, "method_not_allowed"],
    ["GET", "/v1/sessions/register", 405, "method_not_allowed"],
    ["PATCH", "/v1/sessions", 405, "method_not_allowed"],
  ])("%s %s → %i %s", async (method, path, status, code) => {
    const res = await http(socket, method, path);
    expect(res.status).toBe(status);
    expect(errorOf(res).code).toBe(code);
  });

  it("names the allowed methods on 405", async () => {
    const res = await http(socket, "DELETE", "/v1/sessions");
    expect(res.headers.allow).toBe("GET, HEAD");
  });

  it("refuses any request with an Origin or Referer header (403)", async () => {
    for (const header of ["origin", "referer"]) {
      const res = await http(socket, "GET", "/v1/health", { headers: { [header]: "http://localhost" } });
      expect(res.status).toBe(403);
      expect(errorOf(res).code).toBe("forbidden");
    }
  });

  it.each([["/v1/sessions?token=abc"], ["/v1/sessions/me?access_token=x"], [`/v1/sessions?x=${token(7)}`]])(
    "refuses a token in the query string: %s",
    async (path) => {
      const res = await http(socket, "GET", path, { headers: authorized(token(7)) });
      expect(res.status).toBe(400);
      expect(errorOf(res)).toEqual({ code: "bad_request", message: expect.stringContaining("Authorization header") });
    },
  );

  it("answers HEAD like GET without a body", async () => {
    const res = await http(socket, "HEAD", "/v1/health");
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
  });

  it("answers malformed HTTP and oversized headers in the contract's error form", async () => {
    const garbage = await rawExchange(socket, "THIS IS NOT HTTP\r\n\r\n");
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    expect(JSON.parse(garbage.slice(garbage.indexOf("\r\n\r\n") + 4))).toEqual({
      error: { code: "bad_request", message: "malformed HTTP request" },
    });
    const huge = await rawExchange(socket, `GET /v1/health HTTP/1.1\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431/);
    expect(huge).toContain('"code":"header_too_large"');
  });
});

describe("slow and idle clients", () => {
  it("closes an idle connection and a slowloris sender with 408 while others are served", async () => {
    const outcome = (write: (conn: import("node:net").Socket) => void) => {
      const conn = connect(socket);
      let received = "";
      let closed = false;
      conn.on("data", (chunk: Buffer) => {
        received += chunk.toString();
      });
      conn.on("close", () => {
        closed = true;
      });
      conn.on("error", () => {});
      write(conn);
      return { received: () => received, closed: () => closed };
    };
    const idle = outcome(() => {});
    let drip: NodeJS.Timeout | undefined;
    const slow = outcome((conn) => {
      conn.write("GET /v1/health HTTP/1.1\r\n");
      drip = setInterval(() => conn.writable && conn.write("x-drip: 1\r\n"), 200);
    });
    expect((await http(socket, "GET", "/v1/health")).status).toBe(200);
    await waitFor(() => idle.closed() && slow.closed(), "both connections closed by the daemon", 20_000);
    clearInterval(drip);
    for (const client of [idle, slow]) {
      expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
      expect(client.received()).toContain('"code":"request_timeout"');
    }
  });
});

describe("registration", () => {
  it("registers with defaults, lists the session, and resolves its token", async () => {
    const res = await register(socket, { token: token(1), pid, cwd: "/home/dev/project", mesh: "alpha" });
    expect(res.status).toBe(200);
    const body = res.json() as { ok: boolean; registered_at: number; replaced: boolean };
    expect(body).toEqual({ ok: true, registered_at: expect.any(Number), replaced: false });
    const me = await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(1)) });
    expect(me.status).toBe(200);
    expect(me.json()).toEqual({
      session: {
        session_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        mesh: "alpha",
        display_name: "project",
        pid,
        cwd: "/home/dev/project",
        start_time: expect.stringMatching(/:\d+$/),
        registered_at: body.registered_at,
        token_prefix: token(1).slice(0, 8),
        session_pubkey: expect.stringMatching(/^[0-9a-f]{64}$/),
        member_fingerprint: expect.stringMatching(/^SHA256:/),
        attestation_expires_at: expect.any(Number),
        summary: null,
        status: null,
        inbound: "accept",
        origin: "local",
      },
    });
  });

  it("replaces the entry holding the same session id under another token", async () => {
    await register(socket, { token: token(2), pid, session_id: "shared-id" });
    const res = await register(socket, { token: token(3), pid, session_id: "shared-id", display_name: "new" });
    expect(res.json()).toMatchObject({ ok: true, replaced: true });
    expect((await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(2)) })).status).toBe(401);
    const me = await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(3)) });
    expect((me.json() as { session: { display_name: string } }).session.display_name).toBe("new");
  });

  it.each([
    ["{bad json", "invalid_json"],
    ["", "invalid_json"],
    [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), "invalid_json"],
    ["[1,2]", "invalid_field"],
    [JSON.stringify({ pid: 1 }), "invalid_field"],
    [JSON.stringify({ token: token(4), pid: -3 }), "invalid_field"],
    [JSON.stringify({ token: token(4), pid: 2.5 }), "invalid_field"],
    [JSON.stringify({ token: token(4), pid: 1e30 }), "invalid_field"],
    [JSON.stringify({ token: token(4), pid, session_id: "../../etc/passwd" }), "invalid_field"],
    [JSON.stringify({ token: token(4), pid, mesh: "UPPER" }), "invalid_field"],
    [JSON.stringify({ token: "short", pid }), "invalid_field"],
  ])("refuses body %j with %s", async (body, code) => {
    const res = await http(socket, "POST", "/v1/sessions/register", {
      headers: { "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe(code);
    expect((await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(4)) })).status).toBe(401);
  });

  it("names the field and the rule in the message", async () => {
    const res = await register(socket, { token: token(4), pid: 0 });
    expect(errorOf(res).message).toBe("pid: must be an integer from 1 to 2147483647");
  });

  it("refuses a pid that no process holds", async () => {
    const dead = spawnSleeper();
    await killAndWait(dead);
    const res = await register(socket, { token: token(5), pid: dead.pid });
    expect(res.status).toBe(400);
    expect(errorOf(res)).toEqual({ code: "invalid_field", message: `pid: no running process has pid ${dead.pid}` });
  });

  it("refuses a body over 64 KiB with 413, declared or streamed", async () => {
    const big = JSON.stringify({ token: token(6), pid, pad: "x".repeat(70_000) });
    const declared = await register(socket, JSON.parse(big));
    expect(declared.status).toBe(413);
    expect(errorOf(declared).code).toBe("payload_too_large");
    const chunked = await http(socket, "POST", "/v1/sessions/register", {
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      body: big,
    });
    expect(chunked.status).toBe(413);
  });

  it("refuses a non-JSON content type", async () => {
    const res = await http(socket, "POST", "/v1/sessions/register", {
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ token: token(6), pid }),
    });
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe("bad_request");
  });
});

describe("sessions", () => {
  it("lists oldest first and filters by mesh", async () => {
    await register(socket, { token: token(10), pid, mesh: "beta", session_id: "b1" });
    await register(socket, { token: token(11), pid, mesh: "beta", session_id: "b2" });
    const res = await http(socket, "GET", "/v1/sessions?mesh=beta");
    const sessions = (res.json() as { sessions: { session_id: string; registered_at: number }[] }).sessions;
    expect(sessions.map((s) => s.session_id)).toEqual(["b1", "b2"]);
    const all = (await http(socket, "GET", "/v1/sessions")).json() as { sessions: { registered_at: number }[] };
    const times = all.sessions.map((s) => s.registered_at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const bad = await http(socket, "GET", "/v1/sessions?mesh=Not%20Valid");
    expect(bad.status).toBe(400);
    expect(errorOf(bad).code).toBe("invalid_field");
  });

  it("answers 401 on /me without a token, with a malformed header, or an unknown token", async () => {
    for (const headers of [{}, { authorization: "Bearer abc" }, authorized("nothex"), authorized(token(999))]) {
      for (const method of ["GET", "DELETE"]) {
        const res = await http(socket, method, "/v1/sessions/me", { headers });
        expect(res.status).toBe(401);
        expect(errorOf(res).code).toBe("unauthorized");
      }
    }
  });

  it("deregisters with DELETE /v1/sessions/me", async () => {
    await register(socket, { token: token(20), pid, session_id: "to-delete" });
    const res = await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(token(20)) });
    expect(res.json()).toEqual({ ok: true });
    expect((await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(20)) })).status).toBe(401);
    const list = (await http(socket, "GET", "/v1/sessions")).text;
    expect(list).not.toContain("to-delete");
  });

  it("never returns a token or a token hash from any route", async () => {
    const secret = "c0ffee".repeat(11).slice(0, 64);
    expect((await register(socket, { token: secret, pid, session_id: "secret-holder" })).status).toBe(200);
    const hash = createHash("sha256").update(secret).digest("hex");
    const bodies = await Promise.all(
      ["/v1/version", "/v1/health", "/v1/sessions", "/v1/sessions/me", "/v1/metrics"].map(
        async (path) => (await http(socket, "GET", path, { headers: authorized(secret) })).text,
      ),
    );
    for (const body of bodies) {
      expect(body).not.toContain(secret);
      expect(body).not.toContain(hash);
      expect(body).not.toContain("token_hash");
    }
    await waitFor(() => readFileSync(join(dir, "sessions.jsonl"), "utf8").includes(hash), "state written");
    expect(readFileSync(join(dir, "sessions.jsonl"), "utf8")).not.toContain(secret);
  });

  it("removes a session within a reaper interval once its process is SIGKILLed", async () => {
    const victim = spawnSleeper();
    await register(socket, { token: token(30), pid: victim.pid, session_id: "victim" });
    await killAndWait(victim);
    await waitFor(
      async () => (await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(30)) })).status === 401,
      "the reaper to remove the dead session",
    );
  });
});

describe("events", () => {
  /** Opens /v1/events and collects parsed SSE messages. */
  function openStream(headers: Record<string, string> = {}) {
    const parser = new SseParser();
    const messages: { id?: string; event: string; data: string }[] = [];
    let status = 0;
    let contentType = "";
    const req = request({ socketPath: socket, path: "/v1/events", headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      contentType = String(res.headers["content-type"]);
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => messages.push(...parser.feed(chunk)));
    });
    req.end();
    return { messages, status: () => status, contentType: () => contentType, close: () => req.destroy() };
  }

  it("streams registrations and removals with increasing ids, and replays from Last-Event-ID", async () => {
    const stream = openStream();
    await waitFor(() => stream.status() === 200, "stream open");
    expect(stream.contentType()).toMatch(/^text\/event-stream/);
    await register(socket, { token: token(40), pid, session_id: "evt" });
    await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(token(40)) });
    await waitFor(() => stream.messages.length >= 2, "two events");
    const [registered, removed] = stream.messages as [
      { id: string; event: string; data: string },
      { id: string; event: string; data: string },
    ];
    expect(registered.event).toBe("session_registered");
    expect(JSON.parse(registered.data)).toMatchObject({ reason: "registered", session: { session_id: "evt" } });
    expect(removed.event).toBe("session_deregistered");
    expect(JSON.parse(removed.data)).toMatchObject({ reason: "deregistered", session: { session_id: "evt" } });
    expect(Number(removed.id)).toBe(Number(registered.id) + 1);
    stream.close();

    const replay = openStream({ "last-event-id": registered.id });
    await waitFor(() => replay.messages.length >= 1, "replayed event");
    expect(replay.messages[0]).toMatchObject({ id: removed.id, event: "session_deregistered" });
    replay.close();
  });
});

describe("metrics", () => {
  it("serves Prometheus text with sessions, registrations, removals, sweeps and requests", async () => {
    const res = await http(socket, "GET", "/v1/metrics");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    expect(res.headers["claudemesh-version"]).toBe(DAEMON_VERSION);
    for (const name of [
      "claudemesh_sessions ",
      "claudemesh_registrations_total{",
      'claudemesh_removals_total{reason="deregistered"}',
      "claudemesh_reaper_sweep_duration_seconds_bucket",
      'claudemesh_http_requests_total{route="/v1/health",method="GET",status="200"}',
    ]) {
      expect(res.text).toContain(name);
    }
  });
});
