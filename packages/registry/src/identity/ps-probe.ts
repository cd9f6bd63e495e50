// Portable probe (macOS, BSD): one batched, asynchronous `ps` for the whole sweep. Never one
// subprocess per session, never a synchronous one.
import { execFile } from "node:child_process";
import type { ProbeResult, ProcessProbe } from "./probe.js";
import { DEAD } from "./probe.js";
import { parsePsOutput } from "./ps-output.js";

export type PsRunner = (args: readonly string[], timeoutMs: number) => Promise<string>;

/**
 * Runs ps with a C locale (so lstart does not depend on the user's) and a timeout.
 * ps exits 1 both when some pid is not found (its output for the others is still good) and on a
 * usage error; only the latter writes to stderr, and it must never read as "every pid is dead".
 */
export function createPsRunner(command = "ps"): PsRunner {
  return (args, timeoutMs) =>
    new Promise((resolve, reject) => {
      execFile(
        command,
        [...args],
        { env: { ...process.env, LC_ALL: "C" }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, windowsHide: true },
        (error, stdout, stderr) => {
          const notFoundOnly = error?.code === 1 && error.killed !== true && stderr.trim() === "";
          if (error && !notFoundOnly) reject(error);
          else resolve(stdout);
        },
      );
    });
}

export const runPs: PsRunner = createPsRunner();

export class PsProbe implements ProcessProbe {
  constructor(
    readonly run: PsRunner = runPs,
    readonly timeoutMs = 10_000,
  ) {}

  async probe(pids: readonly number[]): Promise<Map<number, ProbeResult>> {
    const results = new Map<number, ProbeResult>();
    if (pids.length === 0) return results;
    let stdout: string;
    try {
      stdout = await this.run(["-o", "pid=,stat=,lstart=", "-p", pids.join(",")], this.timeoutMs);
    } catch (error) {
      const reason = `ps failed: ${(error as Error).message}`;
      for (const pid of pids) results.set(pid, { state: "unknown", reason });
      return results;
    }
    const rows = parsePsOutput(stdout);
    for (const pid of pids) {
      const row = rows.get(pid);
      // ps lists every process whatever its owner, so absence means no process holds the pid.
      if (row === undefined || row.stat.startsWith("Z")) results.set(pid, DEAD);
      else results.set(pid, { state: "alive", startTime: `ps:${row.lstart}` });
    }
    return results;
  }
}
