// B5: what a session costs in daemon memory. Each size gets a fresh daemon, started with a
// bench-only preload (`node --expose-gc --import bench/lib/gc-probe.mjs`, nothing in the product)
// that forces two full garbage collections on SIGUSR2 and writes process.memoryUsage() to a file.
// Per daemon: empty and idle → RSS, then a forced GC → the empty figures; N registrations, settled
// (the state file written, RSS still) → RSS "settled"; a forced GC → the figures after GC.
// Per-session bytes = (after GC with N − after GC empty, same daemon) / N: the baseline is the
// same daemon with nothing in it, measured the same way; beside it a bare node process with the
// same preload (Node's own floor). The whole sweep runs several times, so the spread from one
// repetition to the next is in the table. (Without the forced GC, RSS after a burst depends on
// when V8's memory reducer happens to run, 10–20 s after allocation stops: that figure moved
// from run to run.)
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PATHS, startDaemon, startServer } from "./lib/daemon.mjs";
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
import { fmtBytes, fmtInt, fmtMs, fmtRatio, summarize } from "./lib/stats.mjs";

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

const PROBE = pathToFileURL(join(PATHS.root, "bench/lib/gc-probe.mjs"));

/** Node arguments that load the GC probe, writing to `file` (named in the import URL's query). */
function probed(file) {
  const url = new URL(PROBE);
  url.searchParams.set("out", file);
  return { nodeArgs: ["--expose-gc", "--import", url.href] };
}

/** Forces the full GCs in `pid` (SIGUSR2 to its probe) and returns the line it wrote: the n-th. */
async function gcProbe(pid, file, n, timeoutMs = 30_000) {
  process.kill(pid, "SIGUSR2");
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    await sleep(20);
    let lines = [];
    try {
      lines = readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
    } catch {
      // not written yet
    }
    if (lines.length >= n) {
      const line = JSON.parse(lines[n - 1]);
      if (line.seq !== n) throw new Error(`GC probe of pid ${pid} wrote line ${line.seq}, expected ${n}`);
      return line;
    }
  }
  throw new Error(`GC probe of pid ${pid} wrote nothing in ${timeoutMs} ms`);
}

/**
 * One fresh daemon with the probe: empty (settled) RSS, empty after GC, N registrations, settled
 * RSS and heap, after GC. Returns the row; the daemon is stopped before it returns.
 */
async function measureSize(size, pids, { quietMs, timeoutMs }) {
  const dir = makeTempDir();
  const probeFile = join(dir, "gc-probe.jsonl");
  const daemonDir = join(dir, "daemon");
  let daemon;
  let pool;
  try {
    daemon = await startDaemon(daemonDir, probed(probeFile));
    const statePath = join(daemonDir, "sessions.jsonl");
    await settle(daemon.pid, statePath, { quietMs, timeoutMs });
    const emptyRss = rssBytes(daemon.pid);
    const emptyGc = await gcProbe(daemon.pid, probeFile, 1);
    const emptyHeap = await heapUsed(daemon.socket);
    const t0 = performance.now();
    if (size > 0) {
      pool = createPool(daemon.socket, 64);
      await registerMany(pool, size, (i) => registrationBody(pids[i % pids.length], newToken(), i), 64);
      await pool.close();
      pool = undefined;
    }
    const registerMs = performance.now() - t0;
    // Nothing to settle with no registrations (and the probe's own GC just moved RSS).
    if (size > 0) await settle(daemon.pid, statePath, { quietMs, timeoutMs });
    const settledRss = rssBytes(daemon.pid);
    const heap = await heapUsed(daemon.socket);
    const afterGc = await gcProbe(daemon.pid, probeFile, 2);
    const health = await healthOf(daemon.socket);
    if (health.sessions !== size) throw new Error(`daemon holds ${health.sessions} sessions, expected ${size}`);
    let stateFileBytes = 0;
    try {
      stateFileBytes = statSync(statePath).size;
    } catch {
      // no sessions, no file
    }
    const per = (bytes) => (size > 0 ? bytes / size : Number.NaN);
    return {
      sessions: size,
      emptyRss,
      settledRss,
      perSessionSettled: per(settledRss - emptyRss),
      // V8's own view right after settling (uncollected garbage included), from prom-client.
      settledHeapUsed: heap.used,
      settledHeapTotal: heap.total,
      settledHeapPerSession: per(heap.used - emptyHeap.used),
      // After two forced full GCs, from the probe (process.memoryUsage()).
      emptyGcRss: emptyGc.rss,
      emptyGcHeapUsed: emptyGc.heapUsed,
      gcRss: afterGc.rss,
      gcHeapUsed: afterGc.heapUsed,
      gcHeapTotal: afterGc.heapTotal,
      gcExternal: afterGc.external,
      gcMs: afterGc.gcMs,
      perSessionGcRss: per(afterGc.rss - emptyGc.rss),
      perSessionGcHeap: per(afterGc.heapUsed - emptyGc.heapUsed),
      perSessionGcExternal: per(afterGc.external - emptyGc.external),
      registerMs,
      registrationsPerSec: size > 0 ? (size / registerMs) * 1000 : Number.NaN,
      stateFileBytes,
    };
  } finally {
    await pool?.close();
    await daemon?.stop();
    removeDir(dir);
  }
}

/** Node's own floor: a bare node:http server (B2's) with the same preload, after the same GCs. */
async function measureBareNode() {
  const dir = makeTempDir();
  const probeFile = join(dir, "gc-probe.jsonl");
  const socket = join(dir, "bare.sock");
  let bare;
  try {
    bare = await startServer(PATHS.bareServer, [socket], socket, probed(probeFile));
    await sleep(200);
    const gc = await gcProbe(bare.pid, probeFile, 1);
    return { rss: gc.rss, heapUsed: gc.heapUsed };
  } finally {
    await bare?.stop();
    removeDir(dir);
  }
}

const spreadOf = (values) => {
  const s = summarize(values);
  return { ...s, spread: s.max - s.min };
};

export async function run({ quick, log }) {
  const sizes = quick ? [0, 1_000, 5_000] : [0, 1_000, 10_000, 100_000];
  const rounds = quick ? 2 : 3;
  const options = quick ? { quietMs: 400, timeoutMs: 5_000 } : { quietMs: 1_000, timeoutMs: 20_000 };
  const sleepers = await spawnSleepers(LIVE_PIDS);
  const perRound = sizes.map(() => []);
  const bareNode = [];
  try {
    for (let round = 0; round < rounds; round++) {
      log(`B5: repetition ${round + 1}/${rounds}: bare node with the probe`);
      bareNode.push(await measureBareNode());
      for (const [i, size] of sizes.entries()) {
        log(`B5: repetition ${round + 1}/${rounds}: fresh daemon, ${fmtInt(size)} sessions`);
        perRound[i].push(await measureSize(size, sleepers.pids, options));
      }
    }
  } finally {
    await sleepers.stop();
  }
  const pick = (rows, name) => spreadOf(rows.map((r) => r[name]));
  const rows = sizes.map((size, i) => {
    const reps = perRound[i];
    return {
      sessions: size,
      repetitions: reps.length,
      emptyRss: pick(reps, "emptyRss"),
      emptyGcRss: pick(reps, "emptyGcRss"),
      emptyGcHeapUsed: pick(reps, "emptyGcHeapUsed"),
      settledRss: pick(reps, "settledRss"),
      perSessionSettled: pick(reps, "perSessionSettled"),
      settledHeapUsed: pick(reps, "settledHeapUsed"),
      settledHeapPerSession: pick(reps, "settledHeapPerSession"),
      gcRss: pick(reps, "gcRss"),
      gcHeapUsed: pick(reps, "gcHeapUsed"),
      perSessionGcRss: pick(reps, "perSessionGcRss"),
      perSessionGcHeap: pick(reps, "perSessionGcHeap"),
      perSessionGcExternal: pick(reps, "perSessionGcExternal"),
      gcMs: pick(reps, "gcMs"),
      registrationsPerSec: pick(reps, "registrationsPerSec"),
      stateFileBytes: pick(reps, "stateFileBytes"),
      runs: reps,
    };
  });
  const bare = { rss: spreadOf(bareNode.map((b) => b.rss)), heapUsed: spreadOf(bareNode.map((b) => b.heapUsed)) };
  const empty = rows[0];
  const largest = rows.at(-1);
  const at = `at ${fmtInt(largest.sessions)} sessions${quick ? "; full run: 100,000" : ""}`;
  const withSpread = (s, fmt = fmtBytes) => `${fmt(s.median)} (${fmt(s.min)} – ${fmt(s.max)})`;
  const dash = (r, s, fmt) => (r.sessions > 0 ? withSpread(s, fmt) : "—");
  return {
    baseline:
      "the same daemon with no sessions, after the same forced full GC (a fresh daemon per size and repetition); beside it, a bare node:http server with the same preload",
    sizes: { sessions: sizes, livePids: LIVE_PIDS },
    repetitions: { rounds, perSizePerRound: 1 },
    notes: [
      `Sessions registered over HTTP, 64 in flight, spread over ${LIVE_PIDS} live \`sleep\` pids, with the fields \`launch\` sends (token, pid, session_id, mesh, display_name, cwd). ${rounds} repetitions of the whole sweep (bare node, then every size, each on a fresh daemon); figures are the median (min – max) over repetitions.`,
      "After GC: the daemon runs as `node --expose-gc --import bench/lib/gc-probe.mjs <daemon>` (a bench-only preload; the product is unchanged). On SIGUSR2 the probe runs two full synchronous `gc()` 20 ms apart, then V8's low-memory collection (HeapProfiler.collectGarbage through an in-process inspector session, which also shrinks the heap and returns its free pages), reads the heap, waits 100 ms and reads RSS (process.memoryUsage). Per session = (after GC with N − after GC empty) / N, both figures from the same daemon.",
      `"Settled": RSS and the state file unchanged for ${options.quietMs} ms after the last registration, no GC forced; per session against the same daemon's RSS before any registration. Settled heap is prom-client's nodejs_heap_size_used_bytes at that moment: live data plus garbage not yet collected.`,
      `Node's floor (bare node:http server with the same preload, after the same GCs): RSS ${withSpread(bare.rss)}, heap used ${withSpread(bare.heapUsed)}; the empty daemon after GC: RSS ${withSpread(empty.emptyGcRss)}, heap used ${withSpread(empty.emptyGcHeapUsed)} (${fmtRatio(empty.emptyGcRss.median / bare.rss.median)} the bare RSS).`,
    ],
    tables: [
      {
        title: `Daemon memory by sessions registered, after a forced full GC (median and min – max of ${rounds} repetitions)`,
        header: [
          "sessions",
          "RSS empty, after GC",
          "RSS after GC",
          "per session, RSS after GC",
          "heap used after GC",
          "per session, heap after GC",
          "per session, external after GC",
          "GC time",
        ],
        rows: rows.map((r) => [
          fmtInt(r.sessions),
          withSpread(r.emptyGcRss),
          withSpread(r.gcRss),
          dash(r, r.perSessionGcRss),
          withSpread(r.gcHeapUsed),
          dash(r, r.perSessionGcHeap),
          dash(r, r.perSessionGcExternal),
          withSpread(r.gcMs, fmtMs),
        ]),
      },
      {
        title: `Right after the registrations settle, no GC forced (median and min – max of ${rounds} repetitions)`,
        header: [
          "sessions",
          "RSS empty",
          "RSS settled",
          "per session (settled)",
          "JS heap used, settled",
          "heap used per session, settled",
          "state file",
          "registrations/s (64 in flight)",
        ],
        rows: rows.map((r) => [
          fmtInt(r.sessions),
          fmtBytes(r.emptyRss.median),
          withSpread(r.settledRss),
          dash(r, r.perSessionSettled),
          withSpread(r.settledHeapUsed),
          dash(r, r.settledHeapPerSession),
          r.sessions > 0 ? fmtBytes(r.stateFileBytes.median) : "—",
          r.sessions > 0 ? fmtInt(r.registrationsPerSec.median) : "—",
        ]),
      },
    ],
    goals: [
      {
        goal: `≤ 1 KiB per session, RSS after a forced full GC (${at})`,
        measured: `${fmtBytes(largest.perSessionGcRss.median)} (${fmtBytes(largest.perSessionGcRss.min)} – ${fmtBytes(largest.perSessionGcRss.max)} over ${rounds}; heap ${fmtBytes(largest.perSessionGcHeap.median)})`,
        met: largest.perSessionGcRss.median <= 1024,
      },
      {
        goal: `≤ 1 KiB per session, right after the registrations settle (${at})`,
        measured: `${fmtBytes(largest.perSessionSettled.median)} (${fmtBytes(largest.perSessionSettled.min)} – ${fmtBytes(largest.perSessionSettled.max)})`,
        met: largest.perSessionSettled.median <= 1024,
      },
    ],
    data: { rows, bareNode: bare },
  };
}
