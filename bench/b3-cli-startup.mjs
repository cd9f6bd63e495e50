// B3: how long a CLI call takes, start to exit. Every `claudemesh` call is a fresh Node process,
// so the floor is Node's own start-up: `node -e 0` is the baseline, measured interleaved with the
// CLI so that both see the same machine. spawnSync keeps the timing to one process and its exit
// (hyperfine would do too, but it cannot interleave four commands run by run, and may be absent).
import { PATHS, startDaemon } from "./lib/daemon.mjs";
import { createPool, newToken, registerMany, registrationBody } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { cleanEnv, makeTempDir, removeDir, spawnSleepers, timedRun } from "./lib/proc.mjs";
import { fmtMs, fmtRange, fmtRatio, summarize } from "./lib/stats.mjs";

export const id = "B3";
export const title = "CLI start-up";

const SESSIONS = 20;

export async function run({ quick, log }) {
  const rounds = quick ? 10 : 30;
  const node = process.execPath;
  const dir = makeTempDir();
  const env = cleanEnv({ CLAUDEMESH_DAEMON_DIR: dir, CLAUDEMESH_NO_AUTOSTART: "1" });
  const sleepers = await spawnSleepers(1);
  let daemon;
  let samples;
  try {
    // The daemon the CLI itself would start (its bundled dist/daemon.js), with 20 sessions.
    daemon = await startDaemon(dir, { program: PATHS.cliDaemon });
    const pool = createPool(daemon.socket, 8);
    try {
      await registerMany(pool, SESSIONS, (i) => registrationBody(sleepers.pids[0], newToken(), i), 8);
    } finally {
      await pool.close();
    }
    const listed = timedRun([node, PATHS.cli, "sessions", "list"], env).stdout.trim().split("\n").length;
    if (listed !== SESSIONS) throw new Error(`sessions list printed ${listed} lines, expected ${SESSIONS}`);
    log(`B3: ${rounds} interleaved runs of each command`);
    const commands = {
      "node -e 0": [node, "-e", "0"],
      "claudemesh --version": [node, PATHS.cli, "--version"],
      "claudemesh sessions list": [node, PATHS.cli, "sessions", "list"],
      "claudemesh daemon status": [node, PATHS.cli, "daemon", "status"],
    };
    samples = await interleave(
      Object.entries(commands).map(([name, argv]) => ({ name, run: () => timedRun(argv, env) })),
      { rounds, warmup: 2 },
    );
  } finally {
    await daemon?.stop();
    await sleepers.stop();
    removeDir(dir);
  }

  const base = summarize(field(samples["node -e 0"], "ms"));
  const rows = Object.keys(samples).map((name) => {
    const s = summarize(field(samples[name], "ms"));
    return { command: name, ms: s, ratio: s.median / base.median, overheadMs: s.median - base.median };
  });
  const list = rows.find((r) => r.command === "claudemesh sessions list");
  return {
    baseline: "`node -e 0` (the same Node binary starting and exiting), interleaved run by run",
    sizes: { sessions: SESSIONS },
    repetitions: { runsPerCommand: rounds, warmupRuns: 2 },
    notes: [
      `Wall time of spawnSync per run (stdout and stderr piped, so \`sessions list\` prints its tab-separated form), ${rounds} runs per command, interleaved command by command; daemon running with ${SESSIONS} sessions; CLAUDEMESH_DAEMON_DIR set to a temp dir.`,
    ],
    tables: [
      {
        title: `Wall time per run, ${rounds} runs each`,
        header: ["command", "median", "min–max", "over node -e 0", "ratio to node -e 0"],
        rows: rows.map((r) => [r.command, fmtMs(r.ms.median), fmtRange(r.ms), fmtMs(r.overheadMs), fmtRatio(r.ratio)]),
      },
    ],
    goals: [
      {
        goal: "`sessions list` ≤ 1.5× `node -e 0`",
        measured: `${fmtRatio(list.ratio)} (${fmtMs(list.ms.median)} vs ${fmtMs(base.median)})`,
        met: list.ratio <= 1.5,
      },
    ],
    data: rows,
  };
}
