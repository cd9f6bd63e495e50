// Linux probe: reads /proc/<pid>/stat directly. No fork, no subprocess, no shell.
//
// Opening /proc/<pid>/stat costs the kernel far more than reading it (a path walk through procfs
// and a fresh inode), so recurring probes (the reaper's sweeps) keep the file of each live pid
// open and only re-read it (pread at offset 0, which makes the kernel write the line afresh). A
// held file is bound to the process it was opened for, not to the number: once that process has
// been reaped a read fails (ESRCH), even if another process has taken the pid since. A failed
// read therefore drops the held file and probes the pid afresh, which then sees the new process
// and its different start time. Correctness never depends on the held files: a pid without one
// (cache full, one-off call, or an IO that cannot hold files) gets an open/read/close as before.
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { forEachSliced, type SliceOptions } from "../slicing.js";
import { DEAD, type ProbeOptions, type ProbeResult, type ProcessProbe } from "./probe.js";
import { isExitedState, parseProcStat } from "./proc-stat.js";

/** The system calls the probe needs, injectable so that error paths can be tested. */
export interface LinuxProcIO {
  /** Contents of /proc/<pid>/stat (open, read, close); throws an errno error when it cannot be read. */
  readStat(pid: number): string;
  /** This boot's id, so that a pid and start time from a previous boot never match. */
  readBootId(): string;
  /** kill(pid, 0): throws ESRCH when no process holds the pid, EPERM when it is not ours. */
  signalZero(pid: number): void;
  // Held files. The probe holds files open only when the IO has all three.
  /** Opens /proc/<pid>/stat for reading and returns the fd; throws an errno error. */
  openStat?(pid: number): number;
  /** Reads the whole file from offset 0 (pread); throws an errno error (ESRCH once the process is gone). */
  preadStat?(fd: number): string;
  /** Closes an fd from openStat. */
  closeStat?(fd: number): void;
  /** Contents of /proc/self/limits, for the default number of files to hold. */
  readLimits?(): string;
}

// One buffer for every read: a stat line is a few hundred bytes, comm at most 64.
const statBuffer = Buffer.allocUnsafe(4096);

function preadToString(fd: number): string {
  const n = readSync(fd, statBuffer, 0, statBuffer.length, 0);
  return statBuffer.toString("latin1", 0, n);
}

export const nodeLinuxProcIO: Required<LinuxProcIO> = {
  readStat(pid) {
    const fd = openSync(`/proc/${pid}/stat`, "r");
    try {
      return preadToString(fd);
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
  openStat(pid) {
    // libuv opens with O_CLOEXEC: children we spawn never inherit these.
    return openSync(`/proc/${pid}/stat`, "r");
  },
  preadStat: preadToString,
  closeStat(fd) {
    closeSync(fd);
  },
  readLimits() {
    return readFileSync("/proc/self/limits", "latin1");
  },
};

/**
 * The soft "Max open files" limit in the text of /proc/<pid>/limits: a number, Infinity for
 * "unlimited", undefined when the line is missing or unreadable. Pure.
 */
export function parseMaxOpenFiles(limits: string): number | undefined {
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/, 1)[0];
  if (soft === "unlimited") return Number.POSITIVE_INFINITY;
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
}

export const MAX_HELD_STAT_FILES = 4096;
/** How many files to hold when the soft limit is unknown. */
export const FALLBACK_HELD_STAT_FILES = 256;

/** Files to hold open given the soft open-files limit: a quarter of it, at most 4096. Pure. */
export function defaultMaxCachedFds(softLimit: number | undefined): number {
  if (softLimit === undefined) return FALLBACK_HELD_STAT_FILES;
  return Math.min(MAX_HELD_STAT_FILES, Math.floor(softLimit / 4));
}

export interface LinuxProcProbeOptions extends SliceOptions {
  /**
   * Most /proc/<pid>/stat files held open between probes. Default: a quarter of the soft
   * RLIMIT_NOFILE, at most 4096 (256 when the limit cannot be read). 0 holds none.
   */
  maxCachedFds?: number;
  /** A held file is closed once this many consecutive recurring probes did not ask for its pid. Default 2. */
  evictAfterProbes?: number;
}

interface HeldStat {
  readonly fd: number;
  /** The latest recurring call that asked for this pid. */
  lastAsked: number;
}

interface HeldStatIO {
  openStat(pid: number): number;
  preadStat(fd: number): string;
  closeStat(fd: number): void;
}

/** What one probe() call may do with held files: holding new ones is for recurring calls only. */
interface CallContext {
  /** The recurring call's number; undefined for a one-off call, which holds no new file. */
  readonly call: number | undefined;
  readonly epoch: number;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export class LinuxProcProbe implements ProcessProbe {
  readonly #io: LinuxProcIO;
  readonly #heldIO: HeldStatIO | undefined;
  readonly #options: LinuxProcProbeOptions;
  readonly #evictAfter: number;
  #maxHeld: number | undefined;
  #bootTag: string | undefined;
  readonly #held = new Map<number, HeldStat>();
  /** Number of the latest recurring call to start. */
  #calls = 0;
  /** Bumped by close(): a call that started before it holds no new file. */
  #epoch = 0;

  constructor(io: LinuxProcIO = nodeLinuxProcIO, options: LinuxProcProbeOptions = {}) {
    this.#io = io;
    const { openStat, preadStat, closeStat } = io;
    this.#heldIO =
      openStat && preadStat && closeStat
        ? { openStat: openStat.bind(io), preadStat: preadStat.bind(io), closeStat: closeStat.bind(io) }
        : undefined;
    this.#options = options;
    this.#evictAfter = Math.max(1, options.evictAfterProbes ?? 2);
    this.#maxHeld = this.#heldIO === undefined ? 0 : options.maxCachedFds;
  }

  /** How many /proc/<pid>/stat files are held open now. */
  get cachedFds(): number {
    return this.#held.size;
  }

  /**
   * Every call reads a pid's held file when there is one. Only recurring calls (the reaper's
   * sweeps) open files to hold, and close those of pids they stopped asking for.
   */
  async probe(pids: readonly number[], options: ProbeOptions = {}): Promise<Map<number, ProbeResult>> {
    const results = new Map<number, ProbeResult>();
    const call = options.recurring === true ? ++this.#calls : undefined;
    const context: CallContext = { call, epoch: this.#epoch };
    try {
      await forEachSliced(pids, (pid) => results.set(pid, this.#probePid(pid, context)), this.#options);
    } finally {
      if (call !== undefined) this.#evictUnasked(call);
    }
    return results;
  }

  /** Synchronous and one-off: one read of a held file, or one open/read/close; microseconds. */
  probeOne(pid: number): ProbeResult {
    return this.#probePid(pid, { call: undefined, epoch: this.#epoch });
  }

  /** Closes every held file. The probe stays usable (recurring calls hold files again). */
  close(): void {
    this.#epoch++;
    for (const [pid, held] of this.#held) this.#drop(pid, held);
  }

  #probePid(pid: number, { call, epoch }: CallContext): ProbeResult {
    const held = this.#held.get(pid);
    if (held !== undefined) {
      let text: string | undefined;
      try {
        text = (this.#heldIO as HeldStatIO).preadStat(held.fd);
      } catch {
        // The process this file was opened for is gone (ESRCH), or the file is unusable: the pid
        // may have been reused since, so drop the file and look afresh.
      }
      if (text !== undefined) {
        const result = this.#interpret(pid, text);
        if (result.state !== "alive") this.#drop(pid, held);
        else if (call !== undefined && held.lastAsked < call) held.lastAsked = call;
        return result;
      }
      this.#drop(pid, held);
    }
    if (call !== undefined && epoch === this.#epoch && this.#held.size < this.#maxHeldFds()) {
      return this.#openAndHold(pid, call);
    }
    let text: string;
    try {
      text = this.#io.readStat(pid);
    } catch (error) {
      // No stat file (or not readable, e.g. /proc mounted with hidepid): ask the kernel directly.
      return this.#signalProbe(pid, errnoCode(error));
    }
    return this.#interpret(pid, text);
  }

  /** Opens and reads /proc/<pid>/stat, keeping the file open when the process is alive. */
  #openAndHold(pid: number, call: number): ProbeResult {
    const io = this.#heldIO as HeldStatIO;
    let fd: number;
    try {
      fd = io.openStat(pid);
    } catch (error) {
      return this.#signalProbe(pid, errnoCode(error));
    }
    let text: string;
    try {
      text = io.preadStat(fd);
    } catch (error) {
      this.#closeQuietly(fd);
      return this.#signalProbe(pid, errnoCode(error));
    }
    const result = this.#interpret(pid, text);
    if (result.state === "alive") this.#held.set(pid, { fd, lastAsked: call });
    else this.#closeQuietly(fd);
    return result;
  }

  #interpret(pid: number, text: string): ProbeResult {
    const stat = parseProcStat(text);
    if (stat === undefined) return { state: "unknown", reason: `unparseable /proc/${pid}/stat` };
    if (isExitedState(stat.state)) return DEAD;
    return { state: "alive", startTime: `${this.#bootPrefix()}${stat.startTicks}` };
  }

  /**
   * Closes the files of pids that the last `evictAfterProbes` recurring calls did not ask for.
   * Meant for one recurring caller, whose calls do not overlap (the Reaper's sweeps never do):
   * with two, each one's calls count against the other's pids, which costs re-opens, never a
   * wrong answer.
   */
  #evictUnasked(call: number): void {
    const cutoff = call - this.#evictAfter;
    for (const [pid, held] of this.#held) if (held.lastAsked <= cutoff) this.#drop(pid, held);
  }

  #drop(pid: number, held: HeldStat): void {
    this.#held.delete(pid);
    this.#closeQuietly(held.fd);
  }

  #closeQuietly(fd: number): void {
    try {
      (this.#heldIO as HeldStatIO).closeStat(fd);
    } catch {
      // EBADF or EIO: the fd is released either way.
    }
  }

  #maxHeldFds(): number {
    if (this.#maxHeld === undefined) {
      let soft: number | undefined;
      try {
        soft = parseMaxOpenFiles(this.#io.readLimits?.() ?? "");
      } catch {
        soft = undefined;
      }
      this.#maxHeld = defaultMaxCachedFds(soft);
    }
    return this.#maxHeld;
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
