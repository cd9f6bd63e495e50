// Linux probe: reads /proc/<pid>/stat directly. No fork, no subprocess, no shell.
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { forEachSliced, type SliceOptions } from "../slicing.js";
import { DEAD, type ProbeResult, type ProcessProbe } from "./probe.js";
import { isExitedState, parseProcStat } from "./proc-stat.js";

/** The system calls the probe needs, injectable so that error paths can be tested. */
export interface LinuxProcIO {
  /** Contents of /proc/<pid>/stat; throws an errno error when it cannot be read. */
  readStat(pid: number): string;
  /** This boot's id, so that a pid and start time from a previous boot never match. */
  readBootId(): string;
  /** kill(pid, 0): throws ESRCH when no process holds the pid, EPERM when it is not ours. */
  signalZero(pid: number): void;
}

// One buffer for every read: a stat line is a few hundred bytes, comm at most 64.
const statBuffer = Buffer.allocUnsafe(4096);

export const nodeLinuxProcIO: LinuxProcIO = {
  readStat(pid) {
    const fd = openSync(`/proc/${pid}/stat`, "r");
    try {
      const n = readSync(fd, statBuffer, 0, statBuffer.length, 0);
      return statBuffer.toString("latin1", 0, n);
    } finally {
      closeSync(fd);
    }
  },
  readBootId() {
    return readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
  },
  signalZero(pid) {
    process.kill(pid, 0);
  },
};

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export class LinuxProcProbe implements ProcessProbe {
  readonly #io: LinuxProcIO;
  readonly #slice: SliceOptions;
  #bootTag: string | undefined;

  constructor(io: LinuxProcIO = nodeLinuxProcIO, slice: SliceOptions = {}) {
    this.#io = io;
    this.#slice = slice;
  }

  async probe(pids: readonly number[]): Promise<Map<number, ProbeResult>> {
    const results = new Map<number, ProbeResult>();
    await forEachSliced(pids, (pid) => results.set(pid, this.probeOne(pid)), this.#slice);
    return results;
  }

  /** Synchronous: one open/read/close of a /proc file, a few microseconds. */
  probeOne(pid: number): ProbeResult {
    let text: string;
    try {
      text = this.#io.readStat(pid);
    } catch (error) {
      // No stat file (or not readable, e.g. /proc mounted with hidepid): ask the kernel directly.
      return this.#signalProbe(pid, errnoCode(error));
    }
    const stat = parseProcStat(text);
    if (stat === undefined) return { state: "unknown", reason: `unparseable /proc/${pid}/stat` };
    if (isExitedState(stat.state)) return DEAD;
    return { state: "alive", startTime: `${this.#bootPrefix()}${stat.startTicks}` };
  }

  #signalProbe(pid: number, readError: string | undefined): ProbeResult {
    try {
      this.#io.signalZero(pid);
      return { state: "alive", startTime: null };
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ESRCH") return DEAD;
      // Permission denied means a process holds the pid: it is alive, only not ours.
      if (code === "EPERM") return { state: "alive", startTime: null };
      return { state: "unknown", reason: `stat ${readError ?? "error"}, kill ${code ?? "error"}` };
    }
  }

  #bootPrefix(): string {
    if (this.#bootTag === undefined) {
      try {
        this.#bootTag = `${this.#io.readBootId().replaceAll("-", "").slice(0, 12)}:`;
      } catch {
        this.#bootTag = "";
      }
    }
    return this.#bootTag;
  }
}
