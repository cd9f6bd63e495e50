// A fleet for M4: one nats-server with its monitoring port, N real daemons bound to one mesh on
// it (each its own dir and process), sessions registered in the mesh with roles and groups, each
// session's event stream read for `message` events, and the /proc figures (CPU ticks, RSS) of
// every process. Everything is tracked by pid and stopped by pid, as in the other helpers.
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { PATHS, startDaemon } from "./daemon.mjs";
import { createPool, metricValue, newToken, send } from "./http.mjs";
import { startNatsServer, writeMeshBinding } from "./nats.mjs";
import { sleep } from "./proc.mjs";

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * The nats-server of bench/lib/nats.mjs with its monitoring port, plus what M4 reads from it:
 * `varz()` and each stream's state by name (`streams()`, from /jsz).
 */
export async function startMonitoredNats(dir, options = {}) {
  const server = await startNatsServer(dir, { ...options, monitor: true });
  return {
    ...server,
    varz: () => server.monitor("/varz"),
    async streams() {
      const jsz = await server.monitor("/jsz?accounts=true&streams=true");
      const out = {};
      for (const account of jsz?.account_details ?? []) {
        for (const s of account.stream_detail ?? []) out[s.name] = s.state;
      }
      return out;
    },
  };
}

/** CPU time (ms, user + system) and RSS (bytes) of a process, from /proc/<pid>/stat and status. */
export function procSample(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: index 0 is field 3 (state); utime is field 14, stime field 15.
  const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const rss = Number(/^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1] ?? Number.NaN) * 1024;
  return { cpuMs, rss };
}

/**
 * CPU of a set of processes, summed over the windows between start() and stop() (several windows
 * add up), and the largest RSS seen at any start, stop or sample().
 */
export class ProcMeter {
  #pids;
  #open;
  constructor(pids) {
    this.#pids = pids;
    this.cpuMs = pids.map(() => 0);
    this.maxRss = pids.map(() => 0);
    this.elapsedMs = 0;
  }
  sample() {
    return this.#pids.map((pid, i) => {
      const s = procSample(pid);
      this.maxRss[i] = Math.max(this.maxRss[i], s.rss);
      return s;
    });
  }
  start() {
    this.#open = { at: performance.now(), samples: this.sample() };
  }
  stop() {
    const now = this.sample();
    for (let i = 0; i < now.length; i++) this.cpuMs[i] += now[i].cpuMs - this.#open.samples[i].cpuMs;
    this.elapsedMs += performance.now() - this.#open.at;
    this.#open = undefined;
  }
  /** Each process's CPU as a share of one core over the windows (1 = one core busy). */
  cores() {
    return this.cpuMs.map((ms) => ms / this.elapsedMs);
  }
}

/** N daemons (the CLI's bundled daemon), each in `<root>/d<i>` with `mesh` bound to `natsUrl`, `parallel` starting at a time. */
export async function startDaemons(root, count, natsUrl, mesh, { parallel = 4, onStarted } = {}) {
  const daemons = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const dir = writeMeshBinding(join(root, `d${i}`), mesh, natsUrl);
      const handle = await startDaemon(dir, { program: PATHS.cliDaemon });
      daemons[i] = { index: i, ...handle, pool: createPool(handle.socket, 16) };
      onStarted?.(daemons[i]);
    }
  };
  // Every worker is let finish (a failed start stops the others taking more), so that each daemon
  // started is in `onStarted`'s hands before the error goes up.
  let failed;
  const guarded = async () => {
    try {
      await worker();
    } catch (error) {
      failed ??= error;
      next = count;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, guarded));
  if (failed !== undefined) throw failed;
  return daemons;
}

/**
 * A request that is safe to send again (a GET, a re-registration with the same token, a mark, a
 * message with an idempotency key), sent again when the connection broke under it: a keep-alive
 * socket the daemon closed (after its 5 s) just as a busy client reused it answers ECONNRESET.
 */
export async function sendRetry(dispatcher, options, tries = 3) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send(dispatcher, options);
    } catch (error) {
      const broken = ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"].includes(error?.code);
      if (!broken || attempt >= tries) throw error;
      retried.count++;
    }
  }
}
/** How many requests sendRetry sent again. */
export const retried = { count: 0 };

/** sendRetry, then a non-2xx answer is an error. */
export async function sendRetryOk(dispatcher, options) {
  const res = await sendRetry(dispatcher, options);
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${options.method ?? "GET"} ${options.path} answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
  return res;
}

/** One daemon's metrics page. */
export async function metricsOf(daemon) {
  return (await sendRetryOk(daemon.pool, { path: "/v1/metrics" })).text;
}

/** Polls every daemon until `metric` is `want(daemon)` on all of them; how long it took (ms). */
export async function waitMetric(daemons, metric, want, { timeoutMs = 60_000, everyMs = 250 } = {}) {
  const since = performance.now();
  const end = since + timeoutMs;
  let values = [];
  let failed;
  while (performance.now() < end) {
    // A daemon too busy to answer (a 408 after its 10 s) is asked again at the next poll.
    values = await Promise.all(
      daemons.map((d) =>
        metricsOf(d).then(
          (text) => metricValue(text, metric),
          (error) => {
            failed = error;
            return Number.NaN;
          },
        ),
      ),
    );
    if (values.every((v, i) => v === want(daemons[i]))) return performance.now() - since;
    await sleep(everyMs);
  }
  const off = values.map((v, i) => [i, v, want(daemons[i])]).filter(([, v, w]) => v !== w);
  throw new Error(
    `${metric} not reached within ${timeoutMs} ms on ${off.length} of ${daemons.length} daemons (first: daemon ${off[0]?.[0]} has ${off[0]?.[1]}, wants ${off[0]?.[2]})${failed ? `; last failed poll: ${failed.message}` : ""}`,
  );
}

/** Registers a session in `mesh` with a role and groups, for process `pid`; its token. */
export async function registerMember(dispatcher, { pid, sessionId, mesh, role, groups }) {
  const token = newToken();
  await sendRetryOk(dispatcher, {
    method: "POST",
    path: "/v1/sessions/register",
    body: JSON.stringify({ token, pid, session_id: sessionId, display_name: sessionId, mesh, role, groups }),
  });
  return token;
}

/**
 * A session's event stream; `onMessage(text, at)` for every `message` event (its text, arrival
 * time). `endedEarly` turns true if the stream ends before close().
 */
export function openMessageStream(socketPath, token, onMessage) {
  let buffer = "";
  let ready;
  const opened = new Promise((resolve, reject) => {
    ready = { resolve, reject };
  });
  const headers = { authorization: `ClaudeMesh-Session ${token}` };
  const handle = { opened, endedEarly: false, close: () => {} };
  let closing = false;
  const req = request({ socketPath, path: "/v1/events", headers, agent: false }, (res) => {
    res.setEncoding("utf8");
    res.on("close", () => {
      if (!closing) handle.endedEarly = true;
    });
    if (res.statusCode !== 200) ready.reject(new Error(`GET /v1/events answered ${res.statusCode}`));
    else ready.resolve();
    res.on("data", (chunk) => {
      const at = performance.now();
      buffer += chunk;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        if (frame.includes("event: message\n")) {
          onMessage(JSON.parse(frame.slice(frame.indexOf("data: ") + 6)).message.text, at);
        }
      }
    });
  });
  req.on("error", (error) => {
    if (!closing) handle.endedEarly = true;
    ready.reject(new Error(`GET /v1/events on ${socketPath}: ${error.message}`));
  });
  req.end();
  handle.close = () => {
    closing = true;
    req.destroy();
  };
  return handle;
}

/** Runs `fn(item)` over `items`, `limit` at a time. */
export async function eachLimit(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
