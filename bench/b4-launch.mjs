// B4: `claudemesh launch -- true`, the whole life of a session around a program that does
// nothing: mint a token, find (or start) the daemon, register, run the program, deregister.
// With the daemon running, and with no daemon (launch must start one: each such run gets a fresh
// daemon dir, and the daemon it started is stopped by the pid in its lock file, untimed, before
// the next run); and cold, as a newcomer's first launch: a fresh, empty HOME per run, no
// CLAUDEMESH_ variable at all, no ~/.claudemesh (launch creates the dirs; the daemon makes its
// member key). Baselines: `node -e 0` (the floor of any Node CLI), `true` (the program alone),
// node spawning `true` (a Node CLI that runs a program and waits) and node spawning `node -e 0`
// (two Node start-ups in series, the least an auto-start can cost).
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PATHS, startDaemon } from "./lib/daemon.mjs";
import { createClient, sendOk } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { cleanEnv, isGone, makeTempDir, removeDir, stopPid, timedRun, track } from "./lib/proc.mjs";
import { fmtMs, fmtRange, fmtRatio, summarize } from "./lib/stats.mjs";

export const id = "B4";
export const title = "`launch -- true`, daemon running and absent";

/** Stops the daemon a launch auto-started in `dir`, by the pid its lock file records. */
async function stopAutoStarted(dir) {
  let pid;
  try {
    pid = JSON.parse(readFileSync(join(dir, "daemon.lock"), "utf8")).pid;
  } catch (error) {
    throw new Error(`launch left no readable daemon.lock in ${dir}: ${error.message}`);
  }
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`daemon.lock in ${dir} holds no pid`);
  if (isGone(pid)) throw new Error(`the daemon launch started (pid ${pid}) is already gone`);
  track(pid);
  await stopPid(pid);
}

/** A newcomer's environment: the caller's less every CLAUDEMESH_ and XDG_ variable, HOME empty. */
function newcomerEnv(home) {
  const env = cleanEnv({ HOME: home });
  for (const key of Object.keys(env)) if (key.startsWith("XDG_")) delete env[key];
  return env;
}

export async function run({ quick, log }) {
  const rounds = quick ? 5 : 20;
  const node = process.execPath;
  const runningDir = makeTempDir();
  const absentDirs = []; // daemon dirs a launch may have started a daemon in, to clean up
  let daemon;
  let samples;
  try {
    daemon = await startDaemon(runningDir, { program: PATHS.cliDaemon });
    const runningEnv = cleanEnv({ CLAUDEMESH_DAEMON_DIR: runningDir, CLAUDEMESH_NO_AUTOSTART: "1" });
    log(`B4: ${rounds} interleaved runs of each command`);
    samples = await interleave(
      [
        { name: "true", run: () => timedRun(["true"], runningEnv) },
        { name: "node -e 0", run: () => timedRun([node, "-e", "0"], runningEnv) },
        {
          name: "node spawning true",
          run: () => timedRun([node, "-e", 'require("node:child_process").spawnSync("true")'], runningEnv),
        },
        {
          name: "node spawning node -e 0",
          run: () =>
            timedRun(
              [node, "-e", 'require("node:child_process").spawnSync(process.execPath, ["-e", "0"])'],
              runningEnv,
            ),
        },
        {
          name: "launch -- true (daemon running)",
          run: () => timedRun([node, PATHS.cli, "launch", "--", "true"], runningEnv),
        },
        {
          name: "launch -- true (daemon absent)",
          run: async () => {
            const dir = makeTempDir();
            absentDirs.push(dir);
            const result = timedRun(
              [node, PATHS.cli, "launch", "--", "true"],
              cleanEnv({ CLAUDEMESH_DAEMON_DIR: dir }),
            );
            await stopAutoStarted(dir); // untimed
            removeDir(dir);
            return result;
          },
        },
        {
          name: "launch -- true (cold: fresh HOME, no daemon dir)",
          run: async () => {
            const root = makeTempDir();
            const home = join(root, "home");
            mkdirSync(home, { mode: 0o700 });
            const dir = join(home, ".claudemesh", "daemon");
            absentDirs.push(root);
            const result = timedRun([node, PATHS.cli, "launch", "--", "true"], newcomerEnv(home));
            await stopAutoStarted(dir); // untimed
            removeDir(root);
            return result;
          },
        },
      ],
      { rounds, warmup: 1 },
    );
    // Every launch deregistered its session on the way out.
    const client = createClient(daemon.socket);
    try {
      const health = JSON.parse((await sendOk(client, { path: "/v1/health" })).text);
      if (health.sessions !== 0) throw new Error(`${health.sessions} sessions left registered after the launches`);
    } finally {
      await client.close();
    }
  } finally {
    await daemon?.stop();
    removeDir(runningDir);
    for (const dir of absentDirs) {
      // A run that failed half-way may have left its daemon running: stop it by its lock's pid.
      try {
        const lock = [join(dir, "daemon.lock"), join(dir, "home", ".claudemesh", "daemon", "daemon.lock")].find(
          (path) => {
            try {
              readFileSync(path);
              return true;
            } catch {
              return false;
            }
          },
        );
        const pid = JSON.parse(readFileSync(lock, "utf8")).pid;
        if (Number.isInteger(pid) && pid > 0 && !isGone(pid)) await stopPid(pid);
      } catch {
        // no lock: nothing was started, or it was already stopped
      }
      removeDir(dir);
    }
  }

  const stat = (name) => summarize(field(samples[name], "ms"));
  const base = stat("node -e 0");
  const rows = Object.keys(samples).map((name) => {
    const s = stat(name);
    return { command: name, ms: s, ratio: s.median / base.median };
  });
  const running = rows.find((r) => r.command.endsWith("(daemon running)"));
  const absent = rows.find((r) => r.command.endsWith("(daemon absent)"));
  const cold = rows.find((r) => r.command.includes("(cold"));
  const twoStarts = rows.find((r) => r.command === "node spawning node -e 0");
  const spawnTrue = rows.find((r) => r.command === "node spawning true");
  return {
    baseline:
      "`node -e 0` (the floor of any Node CLI), `true` (the program alone), node spawning `true`, node spawning `node -e 0` (two start-ups in series), interleaved run by run",
    sizes: {},
    repetitions: { runsPerCommand: rounds, warmupRuns: 1 },
    notes: [
      `Wall time of spawnSync per run, ${rounds} runs per command, interleaved. "Absent": a fresh daemon dir per run (CLAUDEMESH_DAEMON_DIR, the dir exists, empty), so launch auto-starts the daemon inside the timed part; that daemon is stopped by the pid in its daemon.lock after the timing.`,
      `"Cold": a newcomer's first launch. Per run a fresh empty HOME, no CLAUDEMESH_ or XDG_ variable, no ~/.claudemesh: launch creates ~/.claudemesh/daemon (0700), finds no login service, spawns the daemon, which makes its member key and its files there. Against absent it adds the dir creation and the default-path resolution, nothing else: the daemon dir holds everything claudemesh keeps (key, state, log), and Node 20 keeps no compile cache on disk. What it cannot undo is the OS page cache: node and the built files were read by the runs before (dropping the cache would need root and would hit everyone on this shared machine), so a first launch after boot also pays their reads from disk.`,
      `Cold against the floors: ${fmtRatio(cold.ms.median / twoStarts.ms.median)} two Node start-ups in series (${fmtMs(twoStarts.ms.median)}), ${fmtRatio(cold.ms.median / running.ms.median)} the warm launch; warm against node spawning true (${fmtMs(spawnTrue.ms.median)}): ${fmtRatio(running.ms.median / spawnTrue.ms.median)}.`,
    ],
    tables: [
      {
        title: `Wall time per run, ${rounds} runs each`,
        header: ["command", "median", "min–max", "ratio to node -e 0", "ratio to node spawning node -e 0"],
        rows: rows.map((r) => [
          r.command,
          fmtMs(r.ms.median),
          fmtRange(r.ms),
          fmtRatio(r.ratio),
          fmtRatio(r.ms.median / twoStarts.ms.median),
        ]),
      },
    ],
    goals: [
      {
        goal: "launch with the daemon running ≤ 2× `node -e 0`",
        measured: `${fmtRatio(running.ratio)} (${fmtMs(running.ms.median)})`,
        met: running.ratio <= 2,
      },
      {
        goal: "launch with the daemon absent ≤ 3× `node -e 0` (fresh daemon dir, and cold: fresh HOME)",
        measured: `absent ${fmtRatio(absent.ratio)} (${fmtMs(absent.ms.median)}), cold ${fmtRatio(cold.ratio)} (${fmtMs(cold.ms.median)}; ${fmtRatio(cold.ms.median / twoStarts.ms.median)} two Node start-ups in series)`,
        met: absent.ratio <= 3 && cold.ratio <= 3,
      },
    ],
    data: rows,
  };
}
