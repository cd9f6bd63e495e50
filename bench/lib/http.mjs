// The benchmark's HTTP client: undici over the Unix socket, identical for the daemon and for the
// bare baseline server, so the client's own cost cancels out of every ratio. Pools keep
// connections alive; `connections` = requests in flight, one request per connection at a time.
import { randomBytes, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, Pool } from "undici";
import { Samples } from "./stats.mjs";

export function createPool(socketPath, connections) {
  return new Pool("http://localhost", {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connect: { socketPath },
  });
}

/** One keep-alive connection, for sequential requests. */
export function createClient(socketPath) {
  return new Client("http://localhost", { pipelining: 1, keepAliveTimeout: 30_000, connect: { socketPath } });
}

export const newToken = () => randomBytes(32).toString("hex");

/** A registration body shaped like the one `claudemesh launch` sends. */
export function registrationBody(pid, token = newToken(), i = 0) {
  return JSON.stringify({
    token,
    pid,
    session_id: randomUUID(),
    mesh: "default",
    display_name: `bench-${i}`,
    cwd: `/home/bench/projects/app-${i}`,
  });
}

const JSON_HEADERS = { "content-type": "application/json" };

/** Sends one request and reads the whole body. Returns `{ status, text }`. */
export async function send(dispatcher, { method = "GET", path, body, headers }) {
  const res = await dispatcher.request({
    method,
    path,
    body,
    headers: body === undefined ? headers : { ...JSON_HEADERS, ...headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, text };
}

export async function sendOk(dispatcher, options) {
  const res = await send(dispatcher, options);
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${options.method ?? "GET"} ${options.path} answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
  return res;
}

/**
 * Closed loop: `inFlight` workers, each sending its next request as soon as the previous one is
 * answered, for `durationMs`. Returns the count, errors, elapsed time and every latency (ms).
 * Building the request (a few µs) falls inside the timed span, alike for every server.
 */
export async function closedLoop(dispatcher, { inFlight, durationMs, makeRequest }) {
  const latencies = new Samples();
  let errors = 0;
  let firstError;
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await send(dispatcher, makeRequest());
        if (res.status < 200 || res.status > 299) throw new Error(`status ${res.status}: ${res.text.slice(0, 200)}`);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= error;
        if (errors > 100) throw new Error(`more than 100 failed requests; first: ${firstError.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - started;
  return { count: latencies.length, errors, firstError, elapsedMs, latencies: latencies.values() };
}

/**
 * Open loop: `ratePerSecond` requests spread evenly over `durationMs`, each sent at its time
 * whether or not earlier ones were answered, so a stalled server cannot slow the load down (no
 * coordinated omission): requests due during a stall queue up and each one's latency shows it.
 * A 1 ms timer sends whatever is due; latency runs from the moment a request is handed to the
 * pool (queueing for a free connection included).
 */
export async function openLoop(dispatcher, { ratePerSecond, durationMs, makeRequest }) {
  const total = Math.round((ratePerSecond * durationMs) / 1000);
  const interval = 1000 / ratePerSecond;
  const latencies = new Samples();
  const pending = [];
  let errors = 0;
  let firstError;
  let maxLateMs = 0;
  const started = performance.now();
  let i = 0;
  while (i < total) {
    const now = performance.now();
    for (; i < total && started + i * interval <= now; i++) {
      maxLateMs = Math.max(maxLateMs, now - (started + i * interval));
      pending.push(
        (async (request) => {
          const t0 = performance.now();
          try {
            const res = await send(dispatcher, request);
            if (res.status < 200 || res.status > 299)
              throw new Error(`status ${res.status}: ${res.text.slice(0, 200)}`);
            latencies.push(performance.now() - t0);
          } catch (error) {
            errors++;
            firstError ??= error;
          }
        })(makeRequest(i)),
      );
    }
    if (i < total) await sleep(1);
  }
  await Promise.allSettled(pending);
  return { count: latencies.length, errors, firstError, latencies: latencies.values(), sent: total, maxLateMs };
}

/** Registers many sessions with `inFlight` requests at a time. `bodies(i)` gives the i-th body. */
export async function registerMany(dispatcher, count, body, inFlight = 64) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await sendOk(dispatcher, { method: "POST", path: "/v1/sessions/register", body: body(i) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, Math.max(count, 1)) }, worker));
}

/**
 * One GET on a fresh connection with node:http (no pool, nothing kept alive): used to poll a
 * starting server, where an undici pool would keep retrying a socket that is not there yet.
 * Resolves with the status, or rejects with the socket error (ENOENT, ECONNREFUSED…).
 */
export function probeOnce(socketPath, path = "/v1/health", timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, method: "GET", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls until `path` answers 200. Returns ms from `since` (a performance.now() value) to that answer. */
export async function waitReady(socketPath, { since = performance.now(), timeoutMs = 15_000, isAlive } = {}) {
  const end = performance.now() + timeoutMs;
  let last;
  while (performance.now() < end) {
    try {
      const status = await probeOnce(socketPath);
      if (status === 200) return performance.now() - since;
      last = new Error(`status ${status}`);
    } catch (error) {
      last = error;
    }
    if (isAlive && !isAlive()) throw new Error(`server exited before it was ready (last: ${last?.message})`);
    await sleep(1);
  }
  throw new Error(`not ready within ${timeoutMs} ms (last: ${last?.message})`);
}

/** A value from Prometheus text format, e.g. `metricValue(text, "nodejs_eventloop_lag_max_seconds")`. */
export function metricValue(text, name) {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+|NaN)$`, "m").exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

/** A metric summed over its label sets that hold every `labels` pair (Prometheus text). */
export function metricSum(text, name, labels = {}) {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== "{" && line[name.length] !== " ")) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(" ").pop());
  }
  return total;
}

/** Registers session `sessionId` (named the same) in `mesh` for process `pid`; its token. */
export async function registerInMesh(dispatcher, pid, sessionId, mesh) {
  const token = newToken();
  await sendOk(dispatcher, {
    method: "POST",
    path: "/v1/sessions/register",
    body: JSON.stringify({ token, pid, session_id: sessionId, display_name: sessionId, mesh }),
  });
  return token;
}

/** Acks every unsurfaced message of a session (untimed), so no inbox nears its 1,000; how many. */
export async function drainInbox(dispatcher, token) {
  const headers = { authorization: `ClaudeMesh-Session ${token}` };
  const res = await sendOk(dispatcher, { path: "/v1/inbox", headers });
  const ids = JSON.parse(res.text).messages.map((m) => m.id);
  if (ids.length > 0) {
    await sendOk(dispatcher, {
      method: "POST",
      path: "/v1/inbox/mark",
      body: JSON.stringify({ ids, state: "acked" }),
      headers,
    });
  }
  return ids.length;
}
