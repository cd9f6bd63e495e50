// B5: what a session costs in daemon memory. Each size gets a fresh daemon; its RSS is read from
// /proc/<pid>/status (VmRSS) once it is idle and empty, then again after N registrations have
// settled (the state file written, RSS still), and once more after an idle spell: V8 collects
// the garbage of a burst only when its memory reducer runs (~10–15 s after allocation stops), so
// "just settled" and "idle" differ by the burst's garbage. Per-session bytes = (RSS_N − RSS_0) / N,
// against that same daemon's empty RSS: the baseline is the daemon itself with nothing in it.
import { statSync } from "node:fs";
import { join } from "node:path";
import { startDaemon } from "./lib/daemon.mjs";
import {
  createClient,
  createPool,
  metricValue,
  newToken,
  registerMany,
  registrationBody,
  sendOk,
} from "./lib/http.mjs";
import { makeTempDir, removeDir, rssBytes, sleep, spawnSleepers } from "./lib/proc.mjs";
import { fmtBytes, fmtInt } from "./lib/stats.mjs";

export const id = "B5";
export const title = "Daemon memory per session";

const LIVE_PIDS = 4;

/** Waits until RSS and the state file have stopped changing for `quietMs`, at most `timeoutMs`. */
async function settle(pid, statePath, { quietMs, timeoutMs }) {
  const end = performance.now() + timeoutMs;
  let last = "";
  let since = performance.now();
  while (performance.now() < end) {
    let mtime = 0;
    try {
      mtime = statSync(statePath).mtimeMs;
    } catch {
      // not written yet (no sessions)
    }
    const now = `${rssBytes(pid)}:${mtime}`;
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return;
    }
    await sleep(100);
  }
}

/** Leaves the daemon idle for `ms`, sampling its RSS; returns the lowest RSS seen. */
async function idleLowestRss(pid, ms) {
  const end = performance.now() + ms;
  let lowest = rssBytes(pid);
  while (performance.now() < end) {
    await sleep(250);
    lowest = Math.min(lowest, rssBytes(pid));
  }
  return lowest;
}

async function healthOf(socket) {
  const client = createClient(socket);
  try {
    return JSON.parse((await sendOk(client, { path: "/v1/health" })).text);
  } finally {
    await client.close();
  }
}

async function heapUsed(socket) {
  const client = createClient(socket);
  try {
    const text = (await sendOk(client, { path: "/v1/metrics" })).text;
    return {
      used: metricValue(text, "nodejs_heap_size_used_bytes"),
      total: metricValue(text, "nodejs_heap_size_total_bytes"),
    };
  } finally {
    await client.close();
  }
}

/**
 * Fresh daemon, empty RSS, N registrations, settled RSS. Returns the row and a promise that
 * completes it with the idle RSS and then stops the daemon: the idle spells of the sizes overlap
 * (an idle daemon needs no CPU), so the next size can be measured meanwhile.
 */
async function measureSize(size, pids, { quietMs, timeoutMs, idleMs }) {
  const dir = makeTempDir();
  let daemon;
  let pool;
  const cleanup = async () => {
    await pool?.close();
    await daemon?.stop();
    removeDir(dir);
  };
  try {
    daemon = await startDaemon(dir);
    const statePath = join(dir, "sessions.jsonl");
    await settle(daemon.pid, statePath, { quietMs, timeoutMs });
    const emptyRss = rssBytes(daemon.pid);
    const emptyHeap = await heapUsed(daemon.socket);
    const t0 = performance.now();
    if (size > 0) {
      pool = createPool(daemon.socket, 64);
      await registerMany(pool, size, (i) => registrationBody(pids[i % pids.length], newToken(), i), 64);
      await pool.close();
      pool = undefined;
    }
    const registerMs = performance.now() - t0;
    await settle(daemon.pid, statePath, { quietMs, timeoutMs });
    const settledRss = rssBytes(daemon.pid);
    const heap = await heapUsed(daemon.socket);
    const health = await healthOf(daemon.socket);
    if (health.sessions !== size) throw new Error(`daemon holds ${health.sessions} sessions, expected ${size}`);
    let stateFileBytes = 0;
    try {
      stateFileBytes = statSync(statePath).size;
    } catch {
      // no sessions, no file
    }
    const per = (bytes) => (size > 0 ? bytes / size : Number.NaN);
    const row = {
      sessions: size,
      emptyRss,
      settledRss,
      perSessionSettled: per(settledRss - emptyRss),
      // V8's own view right after settling (uncollected garbage included).
      emptyHeapUsed: emptyHeap.used,
      heapUsed: heap.used,
      heapTotal: heap.total,
      heapPerSession: per(heap.used - emptyHeap.used),
      registerMs,
      registrationsPerSec: size > 0 ? (size / registerMs) * 1000 : Number.NaN,
      stateFileBytes,
    };
    const idled = (async () => {
      try {
        row.idleRss = await idleLowestRss(daemon.pid, idleMs);
        const after = await healthOf(daemon.socket);
        if (after.sessions !== size)
          throw new Error(`daemon holds ${after.sessions} sessions after idling, expected ${size}`);
      } finally {
        await cleanup();
      }
    })();
    return { row, idled };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

export async function run({ quick, log }) {
  const sizes = quick ? [0, 1_000, 5_000] : [0, 1_000, 10_000, 100_000];
  const options = quick
    ? { quietMs: 400, timeoutMs: 5_000, idleMs: 1_000 }
    : { quietMs: 1_000, timeoutMs: 20_000, idleMs: 30_000 };
  const sleepers = await spawnSleepers(LIVE_PIDS);
  const rows = [];
  const idling = [];
  let outcomes = [];
  try {
    for (const size of sizes) {
      log(`B5: fresh daemon, ${size} sessions`);
      const { row, idled } = await measureSize(size, sleepers.pids, options);
      rows.push(row);
      idling.push(idled);
    }
    log(`B5: waiting for the idle spells (${options.idleMs / 1000} s after each size settled)`);
  } finally {
    // Every daemon is stopped by its idle spell's cleanup, failed or not.
    outcomes = await Promise.allSettled(idling);
    await sleepers.stop();
  }
  const failed = outcomes.find((o) => o.status === "rejected");
  if (failed) throw failed.reason;
  // Idle figures are against the empty daemon's idle RSS: its own empty RSS was read before its
  // start-up garbage was collected, so it would not compare like with like.
  const idleBase = rows[0].idleRss;
  for (const r of rows) r.perSessionIdle = r.sessions > 0 ? (r.idleRss - idleBase) / r.sessions : Number.NaN;
  const largest = rows.at(-1);
  const at = `at ${fmtInt(largest.sessions)} sessions${quick ? "; full run: 100,000" : ""}`;
  return {
    baseline: "the same daemon's own RSS before any registration (a fresh daemon per size)",
    sizes: { sessions: sizes, livePids: LIVE_PIDS },
    repetitions: { perSize: 1 },
    notes: [
      `Sessions registered over HTTP, 64 in flight, spread over ${LIVE_PIDS} live \`sleep\` pids, with the fields \`launch\` sends (token, pid, session_id, mesh, display_name, cwd).`,
      `"Settled": RSS and the state file unchanged for ${options.quietMs} ms after the last registration. "Idle": the lowest RSS in the ${options.idleMs / 1000} s that follow with no requests at all (V8's memory reducer collects a burst's garbage some 10–20 s after allocation stops); per session against the empty daemon's idle RSS (first row), measured the same way.`,
      "JS heap used is prom-client's nodejs_heap_size_used_bytes right after settling: live data plus garbage not yet collected.",
    ],
    tables: [
      {
        title: "Daemon RSS by sessions registered (one fresh daemon per row)",
        header: [
          "sessions",
          "empty RSS",
          "RSS settled",
          "per session (settled)",
          "RSS idle (lowest)",
          "per session (idle)",
          "JS heap used (total), settled",
          "heap used per session",
          "state file",
          "registrations/s (64 in flight)",
        ],
        rows: rows.map((r) => [
          fmtInt(r.sessions),
          fmtBytes(r.emptyRss),
          fmtBytes(r.settledRss),
          r.sessions > 0 ? fmtBytes(r.perSessionSettled) : "—",
          fmtBytes(r.idleRss),
          r.sessions > 0 ? fmtBytes(r.perSessionIdle) : "—",
          `${fmtBytes(r.heapUsed)} (${fmtBytes(r.heapTotal)})`,
          r.sessions > 0 ? fmtBytes(r.heapPerSession) : "—",
          r.stateFileBytes > 0 ? fmtBytes(r.stateFileBytes) : "—",
          r.sessions > 0 ? fmtInt(r.registrationsPerSec) : "—",
        ]),
      },
    ],
    goals: [
      {
        goal: `≤ 1 KiB per session, idle daemon (${at})`,
        measured: fmtBytes(largest.perSessionIdle),
        met: largest.perSessionIdle <= 1024,
      },
      {
        goal: `≤ 1 KiB per session, right after the registrations settle (${at})`,
        measured: fmtBytes(largest.perSessionSettled),
        met: largest.perSessionSettled <= 1024,
      },
    ],
    data: rows,
  };
}
