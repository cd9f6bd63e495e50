// Process helpers. Every process a benchmark starts is tracked by pid and killed by pid, never by
// name: other people's `sleep` and `node` processes on this machine are none of our business.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

const tracked = new Set();
const tempDirs = new Set();

export function track(pid) {
  if (Number.isInteger(pid) && pid > 0) tracked.add(pid);
}

export function untrack(pid) {
  tracked.delete(pid);
}

/** Sends a signal to one pid; a pid that is already gone is fine. */
export function signalPid(pid, signal = "SIGKILL") {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if (error.code === "ESRCH") return false;
    throw error;
  }
}

/** The one-letter state of a process, or undefined when no process holds the pid. */
export function processState(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "latin1");
    return text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** Gone, or a zombie (an orphan whose new parent has not reaped it yet is still gone for us). */
export function isGone(pid) {
  const state = processState(pid);
  return state === undefined || state === "Z" || state === "X";
}

export async function waitGone(pid, timeoutMs = 5_000) {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (isGone(pid)) return true;
    await sleep(5);
  }
  return isGone(pid);
}

/** SIGTERM, a bounded wait, then SIGKILL. */
export async function stopPid(pid, { graceMs = 3_000 } = {}) {
  if (!isGone(pid)) {
    signalPid(pid, "SIGTERM");
    if (!(await waitGone(pid, graceMs))) {
      signalPid(pid, "SIGKILL");
      await waitGone(pid, 2_000);
    }
  }
  untrack(pid);
}

/** Last-resort cleanup (Ctrl-C, an uncaught error): SIGKILL every pid still tracked, remove every temp dir. */
export function killAllTracked() {
  for (const pid of tracked) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  tracked.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function trackedCount() {
  return tracked.size;
}

/**
 * Starts `count` distinct long-lived `sleep` processes: real pids with real start times for the
 * reaper to probe. One small `sh` forks them (forking 2,000 times from a 50 MB node process would
 * itself be a benchmark) and prints each pid. Stop with `stop()`; every pid is killed by number.
 */
export async function spawnSleepers(count) {
  const script = 'i=0; while [ "$i" -lt "$1" ]; do sleep 100000 & echo $!; i=$((i+1)); done; echo ready; wait';
  const shell = spawn("/bin/sh", ["-c", script, "sleepers", String(count)], { stdio: ["ignore", "pipe", "inherit"] });
  track(shell.pid);
  const pids = [];
  let buffered = "";
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // The sleepers first: their parent (the sh, still waiting on them) then reaps them.
    for (const pid of pids) {
      signalPid(pid, "SIGKILL");
      untrack(pid);
    }
    for (const pid of pids) await waitGone(pid, 2_000);
    signalPid(shell.pid, "SIGKILL");
    await waitGone(shell.pid, 2_000);
    untrack(shell.pid);
  };
  try {
    await new Promise((resolve, reject) => {
      shell.once("error", reject);
      shell.once("exit", (code) => reject(new Error(`sleeper shell exited early (${code})`)));
      shell.stdout.setEncoding("utf8");
      shell.stdout.on("data", (chunk) => {
        buffered += chunk;
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line === "ready") resolve();
          else if (/^\d+$/.test(line)) {
            const pid = Number(line);
            pids.push(pid);
            track(pid);
          }
          nl = buffered.indexOf("\n");
        }
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  shell.removeAllListeners("exit");
  if (pids.length !== count) {
    await stop();
    throw new Error(`asked for ${count} sleepers, got ${pids.length}`);
  }
  return { pids, shellPid: shell.pid, stop };
}

/** A private temp dir (mkdtemp makes it 0700, as the daemon requires). Short: socket paths are limited. */
export function makeTempDir(prefix = "cmb-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeDir(dir) {
  if (!dir) return;
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  tempDirs.delete(dir);
}

export function tempDirCount() {
  return tempDirs.size;
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS is in KiB). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU time this process's reaped children used, in ms (utime+stime of waited-for children). */
export function childrenCpuMs(ticksPerSecond = 100) {
  const text = readFileSync("/proc/self/stat", "latin1");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // After the command name: index 0 is field 3 (state); cutime is field 16, cstime field 17.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticksPerSecond;
}

/** The environment for a CLI run: the caller's, without any session or daemon variables. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("CLAUDEMESH_")) env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Runs one command to completion; returns its wall time in ms. Throws on a non-zero exit. */
export function timedRun(argv, env, expectStatus = 0) {
  const t0 = performance.now();
  const result = spawnSync(argv[0], argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
  const ms = performance.now() - t0;
  if (result.error) throw result.error;
  if (result.status !== expectStatus) {
    throw new Error(
      `\`${argv.slice(1).join(" ")}\` exited ${result.status ?? result.signal}: ${String(result.stderr).trim().slice(0, 300)}`,
    );
  }
  return { ms, stdout: String(result.stdout) };
}

/** timedRun with `input` written to the command's stdin (a hook's JSON, as Claude Code sends it). */
export function timedRunWithInput(argv, env, input, expectStatus = 0) {
  const t0 = performance.now();
  const result = spawnSync(argv[0], argv.slice(1), { env, input, stdio: ["pipe", "pipe", "pipe"], timeout: 30_000 });
  const ms = performance.now() - t0;
  if (result.error) throw result.error;
  if (result.status !== expectStatus) {
    throw new Error(
      `\`${argv.slice(1).join(" ")}\` exited ${result.status ?? result.signal}: ${String(result.stderr).trim().slice(0, 300)}`,
    );
  }
  return { ms, stdout: String(result.stdout), stderr: String(result.stderr) };
}
