// Processes, always by pid: nothing here finds or kills a process by its name, so a test can
// never hit a developer's own daemon or another suite's processes.
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import { waitFor } from "./wait.js";

/** The one-letter state from /proc/<pid>/stat (Z for a zombie), or undefined when unreadable. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name in parentheses may hold anything, ")" included: the state follows the last one.
    const end = stat.lastIndexOf(")");
    return stat.slice(end + 2, end + 3);
  } catch {
    return undefined;
  }
}

/** Is `pid` gone? A zombie counts as gone: in containers nobody may ever reap an orphan. */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
  const state = procState(pid);
  // Unreadable: gone between the two looks on Linux; elsewhere there is no /proc, and it lives.
  if (state === undefined) return process.platform === "linux" && !existsSync(`/proc/${pid}`);
  return state === "Z" || state === "X";
}

/** The command line of `pid`, arguments joined by spaces; "" when it is gone. */
export function cmdline(pid: number): string {
  try {
    if (process.platform === "linux") return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    return execFileSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

/** Resident set size in KiB, from /proc/<pid>/status. */
export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1]);
}

/** How many file descriptors `pid` holds open. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** SIGCONT (it may be stopped) then SIGKILL `pid`, and wait until it is gone. */
export async function killPid(pid: number): Promise<void> {
  // 0 or a negative number would signal a whole process group, the test runner's included.
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`killPid: not a pid: ${pid}`);
  for (const signal of ["SIGCONT", "SIGKILL"] as const) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return; // already gone
      throw error;
    }
  }
  await waitFor(() => processGone(pid), `pid ${pid} to end`, 10_000);
}

/** Signals a child of this process and waits for its exit (so that it is reaped, not a zombie). */
export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}

export interface ProcessRow {
  readonly pid: number;
  readonly ppid: number;
  readonly args: string;
}

const execFileAsync = promisify(execFile);

/** `ps -eo pid,ppid,args` as rows: one batched look at every process. */
export async function processTable(): Promise<ProcessRow[]> {
  const { stdout } = await execFileAsync("ps", ["-eo", "pid=,ppid=,args="], { maxBuffer: 16 * 1024 * 1024 });
  return stdout
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] as string }));
}

/** Every pid below `pid` in the process tree (of `table`, or of a fresh `processTable()`). */
export async function descendants(pid: number, table?: readonly ProcessRow[]): Promise<number[]> {
  const rows = table ?? (await processTable());
  const out: number[] = [];
  const walk = (parent: number) => {
    for (const row of rows) {
      if (row.ppid === parent && !out.includes(row.pid)) {
        out.push(row.pid);
        walk(row.pid);
      }
    }
  };
  walk(pid);
  return out;
}

/** Started (a child that failed to spawn has no pid and never exits) and not yet exited. */
const running = (child: ChildProcess) =>
  child.pid !== undefined && child.exitCode === null && child.signalCode === null;

/** The children a test file (or fixture) started; `stopAll()` ends each one with its descendants. */
export class Children {
  readonly #children = new Set<ChildProcess>();

  track<T extends ChildProcess>(child: T): T {
    this.#children.add(child);
    child.once("exit", () => this.#children.delete(child));
    return child;
  }

  /** A long-running process to stand in for a session's program. */
  sleeper(seconds = 300): ChildProcess {
    return this.track(spawn("sleep", [String(seconds)], { stdio: "ignore" }));
  }

  async stopAll(): Promise<void> {
    const live = [...this.#children].filter(running);
    if (live.length === 0) return;
    // One look at the tree for all of them; the descendants first, so that none is orphaned
    // (and reparented out of sight) by its parent's death.
    const table = await processTable();
    await Promise.all(
      live.map(async (child) => {
        for (const pid of await descendants(child.pid as number, table)) await killPid(pid);
        await killAndWait(child, "SIGKILL");
      }),
    );
  }
}

/**
 * Stops a child with `signal` (SIGCONT first: a paused process would never act on it), SIGKILL
 * after 10 s, and waits for its exit. Nothing to do when it is not running.
 */
export async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGCONT");
  child.kill(signal);
  const deadline = new Promise<"late">((resolve) => setTimeout(resolve, 10_000, "late").unref());
  if ((await Promise.race([exited, deadline])) === "late") {
    await killPid(child.pid as number);
    await exited;
  }
}

/** SIGSTOP, waited for until the kernel shows the process stopped (Linux). */
export async function pausePid(pid: number, what: string): Promise<void> {
  process.kill(pid, "SIGSTOP");
  if (process.platform === "linux") await waitFor(() => procState(pid) === "T", `${what} ${pid} to stop`);
}

/** SIGCONT, waited for until the kernel shows the process running again (Linux). */
export async function resumePid(pid: number, what: string): Promise<void> {
  process.kill(pid, "SIGCONT");
  if (process.platform === "linux") await waitFor(() => procState(pid) !== "T", `${what} ${pid} to continue`);
}
