// Where the time of `launch -- true` goes when the daemon must be auto-started (B4): per run,
// from the launch's spawn to the daemon's "daemon ready" log line (CLI start + daemon start), and
// from there to the launch's exit (noticing the daemon is up, register, run, deregister, exit).
// The daemon's own log gives the ready instant (ms) and its start-up inside the program.
//   node bench/profile/launch-absent.mjs [--runs 10]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PATHS } from "../lib/daemon.mjs";
import { cleanEnv, makeTempDir, removeDir, stopPid, timedRun, track } from "../lib/proc.mjs";
import { fmtMs, summarize } from "../lib/stats.mjs";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const rows = [];
for (let i = 0; i < Number(values.runs); i++) {
  const dir = makeTempDir();
  try {
    const startedAt = Date.now();
    const { ms } = timedRun(
      [process.execPath, PATHS.cli, "launch", "--", "true"],
      cleanEnv({ CLAUDEMESH_DAEMON_DIR: dir }),
    );
    const endedAt = startedAt + ms;
    const lines = readFileSync(join(dir, "daemon.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const ready = lines.find((l) => l.msg === "daemon ready");
    const lock = JSON.parse(readFileSync(join(dir, "daemon.lock"), "utf8"));
    track(lock.pid);
    await stopPid(lock.pid);
    const readyAt = Date.parse(ready.time);
    rows.push({
      total: ms,
      untilDaemonReady: readyAt - startedAt,
      daemonInsideProgram: ready.startup_ms,
      afterReady: endedAt - readyAt,
    });
  } finally {
    removeDir(dir);
  }
}
for (const key of ["total", "untilDaemonReady", "daemonInsideProgram", "afterReady"]) {
  const s = summarize(rows.map((r) => r[key]));
  process.stdout.write(`${key.padEnd(20)} median ${fmtMs(s.median)} (${fmtMs(s.min)} – ${fmtMs(s.max)})\n`);
}
process.stdout.write(
  `runs: ${rows.map((r) => `${r.total.toFixed(0)}=${r.untilDaemonReady.toFixed(0)}+${r.afterReady.toFixed(0)}`).join(" ")}\n`,
);
