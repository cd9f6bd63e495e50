// B6: (a) daemon start until ready — spawn to the first 200 on /v1/health — with a state file of
// N persisted sessions that all restore (live pids, start times as LinuxProcProbe reads them),
// against a start with no state; interleaved. (b) The cost of persistence: with N sessions
// registered, an even 1,000 registrations/s (open loop: a stall cannot slow the load down), each
// changing the state the daemon then writes to disk, against the same load on a daemon that
// starts empty, whose state file stays small.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startDaemon } from "./lib/daemon.mjs";
import { createClient, createPool, metricValue, newToken, openLoop, registrationBody, sendOk } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { makeTempDir, removeDir, spawnSleepers } from "./lib/proc.mjs";
import { stateFileText } from "./lib/state.mjs";
import { fmtInt, fmtMs, fmtRange, fmtRatio, latencySummary, summarize } from "./lib/stats.mjs";

export const id = "B6";
export const title = "Daemon start with persisted sessions, and persistence under load";

const LIVE_PIDS = 50;
const RATE = 1_000;

/** A temp daemon dir holding `stateText` as its state file (or none). */
function prepareDir(stateText) {
  const dir = makeTempDir();
  if (stateText !== undefined) writeFileSync(join(dir, "sessions.jsonl"), stateText, { mode: 0o600 });
  return dir;
}

async function get(socket, path) {
  const client = createClient(socket);
  try {
    return (await sendOk(client, { path })).text;
  } finally {
    await client.close();
  }
}

const healthOf = async (socket) => JSON.parse(await get(socket, "/v1/health"));
const metricsText = (socket) => get(socket, "/v1/metrics");

/** Starts a daemon on `stateText`, returns spawn → first 200 on /v1/health, and checks the restore. */
async function timeStart(stateText, expected) {
  const dir = prepareDir(stateText);
  let daemon;
  try {
    daemon = await startDaemon(dir);
    const health = await healthOf(daemon.socket);
    if (health.sessions !== expected) throw new Error(`restored ${health.sessions} sessions, expected ${expected}`);
    return { readyMs: daemon.readyMs };
  } finally {
    await daemon?.stop();
    removeDir(dir);
  }
}

/** Registers at RATE/s for `durationMs` on a daemon started from `stateText`; latency p99 and max. */
async function persistenceLoad(stateText, expected, pid, durationMs) {
  const dir = prepareDir(stateText);
  let daemon;
  let pool;
  try {
    daemon = await startDaemon(dir);
    const before = await healthOf(daemon.socket);
    if (before.sessions !== expected) throw new Error(`restored ${before.sessions} sessions, expected ${expected}`);
    pool = createPool(daemon.socket, 32);
    await metricsText(daemon.socket); // resets the daemon's event-loop lag statistics
    const run = await openLoop(pool, {
      ratePerSecond: RATE,
      durationMs,
      makeRequest: (i) => ({
        method: "POST",
        path: "/v1/sessions/register",
        body: registrationBody(pid, newToken(), i),
      }),
    });
    if (run.errors > 0) throw new Error(`${run.errors} failed registrations; first: ${run.firstError?.message}`);
    const metrics = await metricsText(daemon.socket);
    const after = await healthOf(daemon.socket);
    if (after.sessions !== expected + run.sent)
      throw new Error(`daemon holds ${after.sessions} sessions after the load`);
    return {
      ...latencySummary(run.latencies),
      maxLateMs: run.maxLateMs,
      daemonLagMaxMs: metricValue(metrics, "nodejs_eventloop_lag_max_seconds") * 1000,
    };
  } finally {
    await pool?.close();
    await daemon?.stop();
    removeDir(dir);
  }
}

export async function run({ quick, log }) {
  const sessions = quick ? 2_000 : 10_000;
  const startRounds = quick ? 3 : 7;
  const loadRounds = quick ? 2 : 3;
  const loadMs = quick ? 1_000 : 3_000;
  const sleepers = await spawnSleepers(LIVE_PIDS);
  let start;
  let load;
  try {
    const state = stateFileText(sessions, sleepers.pids);
    log(`B6: start until ready, ${sessions} persisted sessions vs none, ${startRounds} rounds`);
    start = await interleave(
      [
        { name: "persisted", run: () => timeStart(state, sessions) },
        { name: "empty", run: () => timeStart(undefined, 0) },
      ],
      { rounds: startRounds, warmup: 1 },
    );
    log(`B6: ${RATE} registrations/s for ${loadMs} ms on ${sessions} sessions vs on none, ${loadRounds} rounds`);
    load = await interleave(
      [
        { name: "persisted", run: () => persistenceLoad(state, sessions, sleepers.pids[0], loadMs) },
        { name: "empty", run: () => persistenceLoad(undefined, 0, sleepers.pids[0], loadMs) },
      ],
      { rounds: loadRounds, warmup: 0 },
    );
  } finally {
    await sleepers.stop();
  }

  const ready = {
    persisted: summarize(field(start.persisted, "readyMs")),
    empty: summarize(field(start.empty, "readyMs")),
  };
  const lat = (name, key) => summarize(field(load[name], key));
  const loadStats = {
    persisted: {
      p50: lat("persisted", "p50"),
      p99: lat("persisted", "p99"),
      max: lat("persisted", "max"),
      lag: lat("persisted", "daemonLagMaxMs"),
    },
    empty: {
      p50: lat("empty", "p50"),
      p99: lat("empty", "p99"),
      max: lat("empty", "max"),
      lag: lat("empty", "daemonLagMaxMs"),
    },
  };
  const clientLate = Math.max(...field(load.persisted, "maxLateMs"), ...field(load.empty, "maxLateMs"));
  const worstP99 = loadStats.persisted.p99.max;
  return {
    baseline: "the same daemon starting with no state file; for the load, the same load on a daemon that started empty",
    sizes: { persistedSessions: sessions, livePids: LIVE_PIDS, rate: RATE, loadMs },
    repetitions: { startRounds, startWarmup: 1, loadRounds },
    notes: [
      `Start: spawn of \`node apps/daemon/dist/main.js\` until the first 200 on /v1/health (polled every ~1 ms on fresh connections); the persisted file holds ${fmtInt(sessions)} sessions on ${LIVE_PIDS} live pids, written with the registry's encodeState, and every start is checked to restore all of them.`,
      `Load: ${fmtInt(RATE)} registrations/s, evenly spaced, open loop (undici Pool, 32 connections), for ${loadMs} ms; every registration is a new session, so every one changes the state that gets written. The client's timer was at most ${fmtMs(clientLate)} late.`,
    ],
    tables: [
      {
        title: `Start until ready, ${startRounds} interleaved starts each`,
        header: ["state at start", "median", "min–max", "ratio to empty start"],
        rows: [
          [
            `${fmtInt(sessions)} persisted sessions`,
            fmtMs(ready.persisted.median),
            fmtRange(ready.persisted),
            fmtRatio(ready.persisted.median / ready.empty.median),
          ],
          ["no state file", fmtMs(ready.empty.median), fmtRange(ready.empty), "1.00×"],
        ],
      },
      {
        title: `Registration latency at ${fmtInt(RATE)}/s for ${loadMs / 1000} s, ${loadRounds} interleaved runs each (medians; worst run in brackets)`,
        header: ["sessions already registered", "p50", "p99", "max", "daemon event-loop lag max"],
        rows: ["persisted", "empty"].map((name) => [
          name === "persisted" ? fmtInt(sessions) : "0",
          fmtMs(loadStats[name].p50.median),
          `${fmtMs(loadStats[name].p99.median)} (${fmtMs(loadStats[name].p99.max)})`,
          `${fmtMs(loadStats[name].max.median)} (${fmtMs(loadStats[name].max.max)})`,
          `${fmtMs(loadStats[name].lag.median)} (${fmtMs(loadStats[name].lag.max)})`,
        ]),
      },
    ],
    goals: [
      {
        goal: `ready ≤ 500 ms with ${fmtInt(sessions)} persisted sessions${quick ? " (full run: 10,000)" : ""}`,
        measured: fmtMs(ready.persisted.median),
        met: ready.persisted.median <= 500,
      },
      {
        goal: `registration p99 ≤ 5 ms during persistence (${fmtInt(sessions)} sessions, every run)`,
        measured: `worst run ${fmtMs(worstP99)} (median ${fmtMs(loadStats.persisted.p99.median)}; max ${fmtMs(loadStats.persisted.max.max)})`,
        met: worstP99 <= 5,
      },
    ],
    data: { ready, load: loadStats, rawStart: start, rawLoad: load },
  };
}
