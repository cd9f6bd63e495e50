// Shared tools of the reliability scenarios: temp daemon dirs, the built CLI and daemon, process
// and /proc readings, and cleanup by pid. Nothing here is ever killed by name.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { daemonPaths } from "@claudemesh/client";

export const CLI = fileURLToPath(new URL("../../apps/cli/dist/cli.js", import.meta.url));
export const DAEMON = fileURLToPath(new URL("../../apps/cli/dist/daemon.js", import.meta.url));
const RESULTS = fileURLToPath(new URL("./.results/figures.jsonl", import.meta.url));

const dirs: string[] = [];
const children = new Set<ChildProcess>();
const daemonDirs = new Set<string>();

export function tempDir(prefix = "cmr-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o700);
  dirs.push(dir);
  return dir;
}

/** A daemon dir: every daemon started in it is stopped by pid at cleanup. */
export function daemonDir(): string {
  const dir = join(tempDir(), "d");
  daemonDirs.add(dir);
  return dir;
}

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the built CLI to completion with the daemon dir in its environment. */
export function cli(
  dir: string,
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
): Promise<Result> {
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CLAUDEMESH_DAEMON_DIR: dir, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return once(child, "close").then(([code, signal]) => {
    clearTimeout(timer);
    return {
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
      stdout,
      stderr,
      ms: performance.now() - started,
    };
  });
}

/** Starts the built CLI without waiting (a launch that runs a while). */
export function cliSpawn(dir: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  return track(
    spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CLAUDEMESH_DAEMON_DIR: dir, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
}

export function daemonPid(dir: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(daemonPaths(dir).lock, "utf8")) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 20_000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** SIGKILLs a pid (continuing it first, in case it is stopped) and waits until it is gone. */
export async function killPid(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGCONT");
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitFor(() => !isAlive(pid) || procState(pid) === "Z", `pid ${pid} to die`, 10_000);
}

/** The one-letter state of a process from /proc (Z for a zombie), or undefined when gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** Resident set size in KiB, from /proc/<pid>/status. */
export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1]);
}

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function spawnSleeper(seconds = 300): ChildProcess {
  return track(spawn("sleep", [String(seconds)], { stdio: "ignore" }));
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One request over the daemon socket; the body may be given raw. */
export function http(
  socket: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error("timeout")));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function token(n: number): string {
  return n.toString(16).padStart(64, "0");
}

export function register(socket: string, body: Record<string, unknown>): Promise<HttpResult> {
  return http(socket, "POST", "/v1/sessions/register", {
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

export async function listSessions(
  socket: string,
): Promise<{ session_id: string; pid: number; display_name: string }[]> {
  const res = await http(socket, "GET", "/v1/sessions");
  return (JSON.parse(res.body) as { sessions: { session_id: string; pid: number; display_name: string }[] }).sessions;
}

/** Starts the built daemon in the foreground on `dir`; resolves once it answers. */
export interface StartedDaemon {
  child: ChildProcess;
  pid: number;
  socket: string;
  /** Everything the daemon logged so far (foreground: JSON lines on stderr). */
  log: () => string;
}

export async function startDaemon(dir: string, args: string[] = []): Promise<StartedDaemon> {
  const child = track(
    spawn(process.execPath, [DAEMON, "--foreground", "--dir", dir, ...args], { stdio: ["ignore", "ignore", "pipe"] }),
  );
  let log = "";
  child.stderr?.on("data", (c: Buffer) => {
    log += c.toString();
  });
  daemonDirs.add(dir);
  const socket = daemonPaths(dir).socket;
  await waitFor(async () => (await http(socket, "GET", "/v1/health")).status === 200, "daemon ready");
  return { child, pid: child.pid as number, socket, log: () => log };
}

/** Appends a scenario's figures for docs/reliability.md (and prints them). */
export function record(scenario: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ scenario, ...figures, at: new Date().toISOString() });
  console.log(`[figures] ${line}`);
  mkdirSync(fileURLToPath(new URL("./.results", import.meta.url)), { recursive: true });
  appendFileSync(RESULTS, `${line}\n`);
}

export async function cleanup(): Promise<void> {
  for (const dir of daemonDirs) {
    const pid = daemonPid(dir);
    // Only a process that is really this dir's daemon: a stale lock's pid may belong to anyone.
    if (pid !== undefined && cmdline(pid).includes(dir)) await killPid(pid);
  }
  daemonDirs.clear();
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }),
  );
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
