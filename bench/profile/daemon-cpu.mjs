// CPU profile of the real daemon under one benchmark's load, to explain a missed goal.
// The daemon runs with `node --cpu-prof`; on stop the profile is summarised: time by function,
// and how long each stretch inside the functions that can hold the event loop lasted.
//
//   node bench/profile/daemon-cpu.mjs persist  [--sessions 10000] [--rate 1000] [--seconds 3]
//   node bench/profile/daemon-cpu.mjs register|me|list [--in-flight 16] [--seconds 3] [--server bare]
// With `list --server bare --body-sessions 100` the bare server answers a list of that many
// sessions instead of its small fixed body: the ceiling of a list route that did no serialising.
//   node bench/profile/daemon-cpu.mjs sweep    [--sessions 10000] [--seconds 3]   (reaper every 100 ms)
import { spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PATHS } from "../lib/daemon.mjs";
import {
  closedLoop,
  createClient,
  createPool,
  metricValue,
  newToken,
  openLoop,
  registerMany,
  registrationBody,
  sendOk,
  waitReady,
} from "../lib/http.mjs";
import { makeTempDir, removeDir, spawnSleepers, stopPid, track } from "../lib/proc.mjs";
import { stateFileText as stateText } from "../lib/state.mjs";
import { latencySummary, Samples } from "../lib/stats.mjs";
import { report } from "./cpuprofile.mjs";

// `… | head` closes stdout early: keep going so that the finally below still cleans up.
process.stdout.on("error", () => {});

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sessions: { type: "string", default: "10000" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "3" },
    "in-flight": { type: "string", default: "16" },
    server: { type: "string", default: "daemon" },
    "body-sessions": { type: "string" },
    out: { type: "string" }, // keep the .cpuprofile files in this dir
  },
});
const scenario = positionals[0] ?? "persist";
const sessions = Number(values.sessions);
const durationMs = Number(values.seconds) * 1000;
const inFlight = Number(values["in-flight"]);
const HOLDING = [
  "writeFileAtomic",
  "writeSync",
  "fsyncSync",
  "encodeEntry",
  "forEachSliced",
  "snapshot",
  "handle",
  "(garbage collector)",
];

const dir = makeTempDir();
const profDir = values.out ?? join(dir, "profile");
const sleepers = await spawnSleepers(scenario === "sweep" ? Math.min(sessions, 2000) : 50);
let pid;
try {
  // Sessions come from a state file (restored at start), so that no registration traffic and no
  // state write lands in the profile of the sweep scenario.
  if ((scenario === "persist" || scenario === "sweep") && sessions > 0) {
    writeFileSync(join(dir, "sessions.jsonl"), stateText(sessions, sleepers.pids), { mode: 0o600 });
  }
  const bare = values.server === "bare";
  const socket = join(dir, bare ? "bare.sock" : "daemon.sock");
  const bodyFile = join(dir, "body.json");
  if (bare && values["body-sessions"] !== undefined) {
    const now = Date.now();
    const list = Array.from({ length: Number(values["body-sessions"]) }, (_, i) => ({
      session_id: crypto.randomUUID(),
      mesh: "default",
      display_name: `bench-${i}`,
      pid: sleepers.pids[0],
      cwd: `/home/bench/projects/app-${i}`,
      start_time: new LinuxProcProbe().probeOne(sleepers.pids[0]).startTime,
      registered_at: now,
      token_prefix: newToken().slice(0, 8),
    }));
    writeFileSync(bodyFile, JSON.stringify({ sessions: list }));
  }
  const program = bare
    ? [PATHS.bareServer, socket, ...(values["body-sessions"] === undefined ? [] : [bodyFile])]
    : [
        PATHS.daemonMain,
        "--foreground",
        "--dir",
        dir,
        ...(scenario === "sweep" ? ["--reaper-interval-ms", "100"] : []),
      ];
  const child = spawn(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, ...program], { stdio: "ignore" });
  pid = child.pid;
  track(pid);
  await waitReady(socket);
  const client = createClient(socket);
  const pool = createPool(socket, Math.max(inFlight, 32));
  const livePid = sleepers.pids[0];
  const tokens = Array.from({ length: 100 }, newToken);
  let result;
  if (scenario === "persist") {
    if (!bare) await sendOk(client, { path: "/v1/metrics" });
    const run = await openLoop(pool, {
      ratePerSecond: Number(values.rate),
      durationMs,
      makeRequest: (i) => ({
        method: "POST",
        path: "/v1/sessions/register",
        body: registrationBody(livePid, newToken(), i),
      }),
    });
    result = { ...latencySummary(run.latencies), clientLateMaxMs: run.maxLateMs };
  } else if (scenario === "sweep") {
    await sendOk(client, { path: "/v1/metrics" });
    const latencies = new Samples();
    const end = performance.now() + durationMs;
    while (performance.now() < end) {
      const t0 = performance.now();
      await sendOk(client, { path: "/v1/health" });
      latencies.push(performance.now() - t0);
    }
    result = latencySummary(latencies.values());
  } else {
    await registerMany(pool, 100, (i) => registrationBody(livePid, tokens[i], i), 16);
    let i = 0;
    const make = {
      register: () => ({
        method: "POST",
        path: "/v1/sessions/register",
        body: registrationBody(livePid, newToken(), i++),
      }),
      me: () => ({
        method: "GET",
        path: "/v1/sessions/me",
        headers: { authorization: `ClaudeMesh-Session ${tokens[i++ % 100]}` },
      }),
      list: () => ({ method: "GET", path: "/v1/sessions" }),
    }[scenario];
    if (!make) throw new Error(`unknown scenario ${scenario}`);
    const run = await closedLoop(pool, { inFlight, durationMs, makeRequest: make });
    result = { reqPerSec: Math.round((run.count / run.elapsedMs) * 1000), ...latencySummary(run.latencies) };
  }
  if (!bare) {
    const metrics = (await sendOk(client, { path: "/v1/metrics" })).text;
    result.daemonLagMaxMs = metricValue(metrics, "nodejs_eventloop_lag_max_seconds") * 1000;
    result.daemonLagP99Ms = metricValue(metrics, "nodejs_eventloop_lag_p99_seconds") * 1000;
  }
  await client.close();
  await pool.close();
  await stopPid(pid);
  pid = undefined;
  const fmt = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
  process.stdout.write(`${scenario} (${values.server}): ${JSON.stringify(fmt)}\n`);
  for (const file of readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"))) {
    process.stdout.write(`${report(join(profDir, file), HOLDING)}\n`);
  }
} finally {
  if (pid !== undefined) await stopPid(pid);
  await sleepers.stop();
  removeDir(dir); // the profile goes with it unless --out put it elsewhere
}
