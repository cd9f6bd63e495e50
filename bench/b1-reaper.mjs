// B1: one reaper sweep over many sessions whose processes are real and alive.
// Ours: the registry's Reaper with LinuxProcProbe (reads /proc/<pid>/stat, no fork, in slices).
// Baseline: what the original product did at best: ONE batched async `ps -o pid=,lstart= -p <pids>`
// per sweep, parsed, then the same reap decisions. Both sweep the same sessions over the same live
// `sleep` processes, interleaved. Then the real daemon, sweeping every 100 ms with N sessions,
// is asked for /v1/health back to back: does a sweep ever make it wait?
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { DEAD, LinuxProcProbe, Reaper, reapDecision, SessionRegistry } from "../packages/registry/dist/index.js";
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
import { field, interleave } from "./lib/interleave.mjs";
import { childrenCpuMs, makeTempDir, removeDir, sleep, spawnSleepers } from "./lib/proc.mjs";
import { fmtInt, fmtMs, fmtRange, fmtRatio, latencySummary, Samples, summarize } from "./lib/stats.mjs";

export const id = "B1";
export const title = "Reaper sweep over live processes";

const MAX_PIDS = 2000;

/** The baseline's own parser for `ps -o pid=,lstart=` (PsProbe asks for an extra column). */
function parsePsLstart(stdout) {
  const rows = new Map();
  for (const line of stdout.split("\n")) {
    const match = /^\s*(\d+)\s+(\S.*?)\s*$/.exec(line);
    if (match) rows.set(Number(match[1]), match[2].replace(/\s+/g, " "));
  }
  return rows;
}

/** One batched, asynchronous ps for every pid, C locale. Exit 1 with empty stderr = some pid not found. */
function psLstart(pids) {
  return new Promise((resolve, reject) => {
    execFile(
      "ps",
      ["-o", "pid=,lstart=", "-p", pids.join(",")],
      { env: { ...process.env, LC_ALL: "C" }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && !(error.code === 1 && stderr.trim() === "")) reject(error);
        else resolve(parsePsLstart(stdout));
      },
    );
  });
}

/** The baseline sweep: ps for the unique pids, then the same decisions and removals as ours. */
async function baselineSweep(registry) {
  const snapshot = registry.snapshot();
  const rows = await psLstart([...new Set(snapshot.map((s) => s.pid))]);
  let removed = 0;
  for (const entry of snapshot) {
    const lstart = rows.get(entry.pid);
    const result = lstart === undefined ? DEAD : { state: "alive", startTime: `ps:${lstart}` };
    const reason = reapDecision(entry.startTime, result);
    if (reason !== null && registry.removeIfUnchanged(entry, reason)) removed++;
  }
  return { checked: snapshot.length, removed };
}

/** Wall time, CPU time (ours and reaped children's) and the worst event-loop delay of one sweep. */
async function measure(sweep) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const children0 = childrenCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const report = await sweep();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const childMs = childrenCpuMs() - children0;
  // One more tick of the monitor, so that the delay caused by the sweep's last slice is recorded.
  await sleep(3);
  delay.disable();
  const removed =
    typeof report.removed === "number" ? report.removed : report.removed.exited + report.removed.pid_reused;
  return {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    childMs,
    eldMaxMs: delay.max / 1e6,
    checked: report.checked,
    removed,
  };
}

function fillRegistries(size, pids, ourStartTimes, psStartTimes) {
  const ours = new SessionRegistry();
  const base = new SessionRegistry();
  for (let i = 0; i < size; i++) {
    const pid = pids[i % pids.length];
    const registration = { token: newToken(), session_id: `s-${i}`, mesh: "default", display_name: `s${i}`, pid };
    ours.register(registration, ourStartTimes.get(pid));
    base.register(registration, psStartTimes.get(pid));
  }
  return { ours, base };
}

/** The real daemon with `size` sessions: back-to-back /v1/health and the daemon's own lag metric. */
async function daemonWindow(size, pids, { windows, windowMs, settleMs }) {
  const dir = makeTempDir();
  let daemon;
  let pool;
  let client;
  try {
    daemon = await startDaemon(dir, { reaperIntervalMs: 100 });
    pool = createPool(daemon.socket, 64);
    await registerMany(pool, size, (i) => registrationBody(pids[i % pids.length], newToken(), i), 64);
    await pool.close();
    pool = undefined;
    // Let the state file write and a few sweeps pass: we measure the steady state.
    await sleep(settleMs);
    client = createClient(daemon.socket);
    const all = new Samples();
    const perWindow = [];
    let metrics = (await sendOk(client, { path: "/v1/metrics" })).text; // resets the lag statistics
    for (let w = 0; w < windows; w++) {
      const sweeps0 = metricValue(metrics, "claudemesh_reaper_sweep_duration_seconds_count");
      const sweepSum0 = metricValue(metrics, "claudemesh_reaper_sweep_duration_seconds_sum");
      const latencies = new Samples();
      const end = performance.now() + windowMs;
      while (performance.now() < end) {
        const t0 = performance.now();
        await sendOk(client, { path: "/v1/health" });
        const ms = performance.now() - t0;
        latencies.push(ms);
        all.push(ms);
      }
      metrics = (await sendOk(client, { path: "/v1/metrics" })).text;
      const sweeps = metricValue(metrics, "claudemesh_reaper_sweep_duration_seconds_count") - sweeps0;
      const sweepSum = metricValue(metrics, "claudemesh_reaper_sweep_duration_seconds_sum") - sweepSum0;
      perWindow.push({
        ...latencySummary(latencies.values()),
        lagMaxMs: metricValue(metrics, "nodejs_eventloop_lag_max_seconds") * 1000,
        lagP99Ms: metricValue(metrics, "nodejs_eventloop_lag_p99_seconds") * 1000,
        sweeps,
        meanSweepMs: sweeps > 0 ? (sweepSum / sweeps) * 1000 : Number.NaN,
      });
    }
    const health = JSON.parse((await sendOk(client, { path: "/v1/health" })).text);
    if (health.sessions !== size) throw new Error(`daemon holds ${health.sessions} sessions, expected ${size}`);
    return {
      health: latencySummary(all.values()),
      lagMaxMs: summarize(field(perWindow, "lagMaxMs")),
      lagP99Ms: summarize(field(perWindow, "lagP99Ms")),
      healthP99Ms: summarize(field(perWindow, "p99")),
      sweeps: perWindow.reduce((n, w) => n + w.sweeps, 0),
      meanSweepMs: summarize(field(perWindow, "meanSweepMs")),
      windows: perWindow,
    };
  } finally {
    await client?.close();
    await pool?.close();
    await daemon?.stop();
    removeDir(dir);
  }
}

export async function run({ quick, log }) {
  const sizes = quick ? [100, 1_000] : [100, 1_000, 10_000];
  const rounds = quick ? 5 : 15;
  const daemonOptions = quick
    ? { windows: 3, windowMs: 300, settleMs: 400 }
    : { windows: 3, windowMs: 1_000, settleMs: 1_500 };
  const sleepers = await spawnSleepers(Math.min(Math.max(...sizes), MAX_PIDS));
  const results = [];
  let machineProcesses;
  let control;
  try {
    const probe = new LinuxProcProbe();
    const ourStartTimes = new Map(sleepers.pids.map((pid) => [pid, probe.probeOne(pid).startTime]));
    const psRows = await psLstart(sleepers.pids);
    // ps reads every process on the machine, ours only the ones asked for: record how many there were.
    machineProcesses = readdirSync("/proc").filter((name) => /^\d+$/.test(name)).length;
    const psStartTimes = new Map(sleepers.pids.map((pid) => [pid, `ps:${psRows.get(pid)}`]));
    // Control: the same daemon and the same health loop with no sessions, so no sweep work at all.
    // Whatever lag it shows is this machine's floor (scrapes, GC, other tenants), not the reaper.
    log("B1: daemon with no sessions (control)");
    control = await daemonWindow(0, sleepers.pids, daemonOptions);
    for (const size of sizes) {
      const pids = sleepers.pids.slice(0, Math.min(size, MAX_PIDS));
      log(`B1: ${size} sessions over ${pids.length} live sleep processes`);
      const { ours, base } = fillRegistries(size, pids, ourStartTimes, psStartTimes);
      const reaper = new Reaper(ours, probe);
      const samples = await interleave(
        [
          { name: "ours", run: () => measure(() => reaper.sweep()) },
          { name: "ps", run: () => measure(() => baselineSweep(base)) },
        ],
        { rounds, warmup: 2 },
      );
      for (const s of [...samples.ours, ...samples.ps]) {
        if (s.checked !== size || s.removed !== 0) {
          throw new Error(`a sweep checked ${s.checked} and removed ${s.removed} of ${size} live sessions`);
        }
      }
      const stat = (variant, name) => summarize(field(samples[variant], name));
      const row = {
        sessions: size,
        pids: pids.length,
        repetitions: rounds,
        ours: { wallMs: stat("ours", "wallMs"), cpuMs: stat("ours", "cpuMs"), eldMaxMs: stat("ours", "eldMaxMs") },
        ps: {
          wallMs: stat("ps", "wallMs"),
          cpuMs: stat("ps", "cpuMs"),
          eldMaxMs: stat("ps", "eldMaxMs"),
          // Children's CPU is counted by the kernel in 10 ms ticks: the mean over all rounds is the honest figure.
          childCpuMsMean: field(samples.ps, "childMs").reduce((a, b) => a + b, 0) / rounds,
        },
      };
      row.speedup = row.ps.wallMs.median / row.ours.wallMs.median;
      row.cpuRatio = (row.ps.cpuMs.median + row.ps.childCpuMsMean) / row.ours.cpuMs.median;
      log(`B1: daemon with ${size} sessions, reaper every 100 ms`);
      row.daemon = await daemonWindow(size, pids, daemonOptions);
      results.push(row);
    }
  } finally {
    await sleepers.stop();
  }

  const largest = results.at(-1);
  const worstDaemonLag = Math.max(...results.map((r) => r.daemon.lagMaxMs.max));
  const worstMedianLag = Math.max(...results.map((r) => r.daemon.lagMaxMs.median));
  const pidNote = results.map((r) => `${fmtInt(r.sessions)} sessions on ${fmtInt(r.pids)} pids`).join(", ");
  return {
    baseline:
      "one batched async `ps -o pid=,lstart= -p <unique pids>` (LC_ALL=C, execFile) per sweep, parsed by its own parser, then the same reap decisions",
    sizes: { sessions: sizes, distinctPids: results.map((r) => r.pids) },
    repetitions: { sweepRounds: rounds, warmupRounds: 2, daemonWindows: daemonOptions.windows },
    notes: [
      `Live processes: ${pidNote} (distinct \`sleep\` processes, sessions spread round-robin). All ${fmtInt(sleepers.pids.length)} sleepers run during every size, so the machine had ${fmtInt(machineProcesses)} processes throughout: ps scans them all whatever it is asked for, the /proc probe reads only the pids asked for.`,
      "CPU = user+system of the benchmark process (process.cpuUsage); for ps, plus the ps child's CPU (mean per sweep from the kernel's 10 ms child-time ticks).",
      `Daemon columns: the real daemon (reaper every 100 ms), ${daemonOptions.windows} windows of ${daemonOptions.windowMs} ms of back-to-back GET /v1/health on one keep-alive connection; lag = prom-client's nodejs_eventloop_lag_max_seconds per window (1 ms timer, so ≥ 1 ms even when idle). Figures: median of the windows (max of the windows). The control row is the same daemon with no sessions: its lag is the floor of this machine, not the reaper's.`,
    ],
    tables: [
      {
        title: "Sweep wall time and CPU, in process (ours vs one batched ps)",
        header: [
          "sessions",
          "pids",
          "ours wall (median)",
          "ours min–max",
          "ps wall (median)",
          "ps min–max",
          "speed-up",
          "ours CPU",
          "ps CPU (self + child)",
          "CPU ratio",
          "max loop delay during our sweep",
        ],
        rows: results.map((r) => [
          fmtInt(r.sessions),
          fmtInt(r.pids),
          fmtMs(r.ours.wallMs.median),
          fmtRange(r.ours.wallMs),
          fmtMs(r.ps.wallMs.median),
          fmtRange(r.ps.wallMs),
          fmtRatio(r.speedup),
          fmtMs(r.ours.cpuMs.median),
          `${fmtMs(r.ps.cpuMs.median)} + ${fmtMs(r.ps.childCpuMsMean)}`,
          fmtRatio(r.cpuRatio),
          `${fmtMs(r.ours.eldMaxMs.median)} (max ${fmtMs(r.ours.eldMaxMs.max)})`,
        ]),
      },
      {
        title: "The real daemon sweeping every 100 ms: /v1/health latency and event-loop lag",
        header: [
          "sessions",
          "health requests",
          "health p50",
          "health p99",
          "health max",
          "daemon lag max (median of windows)",
          "daemon lag max (worst window)",
          "daemon lag p99",
          "sweeps in windows",
          "mean sweep (daemon metric)",
        ],
        rows: [{ sessions: 0, daemon: control }, ...results].map((r) => [
          r.sessions === 0 ? "0 (control)" : fmtInt(r.sessions),
          fmtInt(r.daemon.health.count),
          fmtMs(r.daemon.health.p50),
          fmtMs(r.daemon.health.p99),
          fmtMs(r.daemon.health.max),
          fmtMs(r.daemon.lagMaxMs.median),
          fmtMs(r.daemon.lagMaxMs.max),
          fmtMs(r.daemon.lagP99Ms.median),
          fmtInt(r.daemon.sweeps),
          fmtMs(r.daemon.meanSweepMs.median),
        ]),
      },
    ],
    goals: [
      {
        goal: `sweep ≥ 4× faster than one batched ps at ${fmtInt(largest.sessions)} sessions${quick ? " (full run: 10,000)" : ""}`,
        measured: fmtRatio(largest.speedup),
        met: largest.speedup >= 4,
      },
      {
        goal: "daemon max event-loop delay ≤ 10 ms while sweeping",
        measured: `median window ${fmtMs(worstMedianLag)}, worst window ${fmtMs(worstDaemonLag)} (control with no sessions: ${fmtMs(control.lagMaxMs.median)}, worst ${fmtMs(control.lagMaxMs.max)})`,
        met: worstDaemonLag <= 10,
      },
    ],
    data: { sizes: results, daemonControl: control },
  };
}
