// End-to-end harness: drives the BUILT `claudemesh` binary as a user would, each test in its own
// sandbox (a temp dir holding the daemon dir and a work dir), with piped stdio (never a TTY).
//
// Cleanup rules: every process is ended by pid (never by name). Children started here are killed
// with their descendants; the daemon is found through `<dir>/daemon.lock`; programs that outlive
// their `launch` are recorded by the test with `sandbox.adopt(pid)`. A daemon still running for
// the sandbox's dir after that is a leak: it is killed by pid and the test fails.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestContext } from "vitest";

export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const SRC = fileURLToPath(new URL("../../src", import.meta.url));

/** Fails loudly when the binary under test is missing or older than its sources. */
function checkBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm --filter claudemesh... build\` first`);
  const built = statSync(CLI).mtimeMs;
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  if (newest(SRC) > built) {
    throw new Error(`${CLI} is older than apps/cli/src: run \`pnpm --filter claudemesh... build\` first`);
  }
}
checkBuilt();

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value (returned) or the deadline passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  deadlineMs = 10_000,
): Promise<Exclude<T, false | undefined | null | 0 | "">> {
  const end = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Exclude<T, false | undefined | null | 0 | "">;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > end) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${detail}`);
    }
    await sleep(25);
  }
}

export interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly ms: number;
}

export interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves at exit (output may still be arriving from descendants that hold the pipes). */
  readonly exited: Promise<Result>;
  /** Resolves once the process exited and its output pipes closed: the complete output. */
  readonly closed: Promise<Result>;
}

export interface RunOptions {
  /** Added to (or, with undefined values, removed from) the sandbox's environment. */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
}

/** The test process's environment without any session or daemon variable of the developer's own. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("CLAUDEMESH_") && key !== "NODE_OPTIONS" && key !== "NO_COLOR") env[key] = value;
  }
  return env;
}

/** Is `pid` gone? A zombie counts as gone: in containers nobody may ever reap an orphan. */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return !existsSync(`/proc/${pid}`) && process.platform === "linux";
  }
}

/** SIGCONT (it may be stopped) then SIGKILL `pid`, and wait until it is gone. */
export async function killPid(pid: number): Promise<void> {
  for (const signal of ["SIGCONT", "SIGKILL"] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  await waitFor(() => processGone(pid), `pid ${pid} to end`, 10_000);
}

const execFileAsync = promisify(execFile);

/** `ps -eo pid,ppid,args` as rows. */
export async function processTable(): Promise<{ pid: number; ppid: number; args: string }[]> {
  const { stdout } = await execFileAsync("ps", ["-eo", "pid=,ppid=,args="], { maxBuffer: 16 * 1024 * 1024 });
  return stdout
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] as string }));
}

/** Every pid below `pid` in the process tree. */
async function descendants(pid: number): Promise<number[]> {
  const table = await processTable();
  const out: number[] = [];
  const walk = (parent: number) => {
    for (const row of table) {
      if (row.ppid === parent && !out.includes(row.pid)) {
        out.push(row.pid);
        walk(row.pid);
      }
    }
  };
  walk(pid);
  return out;
}

export interface LockFile {
  readonly pid: number;
  readonly start_time: string | null;
}

/** A GET over the daemon's socket, bypassing the CLI (to compare with what the API says). */
export function httpGet(socketPath: string, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.end();
  });
}

export interface WireSession {
  session_id: string;
  mesh: string;
  display_name: string;
  pid: number;
  cwd?: string;
  role?: string;
  groups?: string[];
  start_time: string | null;
  registered_at: number;
  token_prefix: string;
}

/** A test's own world: `dir` is its CLAUDEMESH_DAEMON_DIR, `work` the cwd of every command. */
export class Sandbox {
  readonly root: string;
  readonly dir: string;
  readonly work: string;
  readonly socket: string;
  readonly lock: string;
  readonly log: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly children = new Set<ChildProcess>();
  private readonly adopted = new Set<number>();

  constructor() {
    // Short names: the socket path must fit in 107 bytes.
    this.root = mkdtempSync(join(tmpdir(), "cmt-"));
    this.dir = join(this.root, "d");
    this.work = join(this.root, "w");
    mkdirSync(this.work);
    mkdirSync(join(this.root, "t"), { mode: 0o700 });
    this.socket = join(this.dir, "daemon.sock");
    this.lock = join(this.dir, "daemon.lock");
    this.log = join(this.dir, "daemon.log");
    this.env = {
      ...baseEnv(),
      CLAUDEMESH_DAEMON_DIR: this.dir,
      // Token dirs land in the sandbox, so even one left by a SIGKILLed launch is cleaned up.
      TMPDIR: join(this.root, "t"),
      // For programs run by `launch`: how to call the CLI under test.
      CM_NODE: process.execPath,
      CM_CLI: CLI,
    };
  }

  /** Starts `claudemesh <args>` with piped stdio (stdin closed at once). */
  spawn(args: readonly string[], options: RunOptions = {}): Running {
    const env: NodeJS.ProcessEnv = { ...this.env };
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? this.work,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.children.add(child);
    child.stdin?.end();
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    const result = (code: number | null, signal: NodeJS.Signals | null, ms: number): Result => ({
      code,
      signal,
      stdout,
      stderr,
      ms,
    });
    const exited = new Promise<Result>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) => {
        this.children.delete(child);
        resolve(result(code, signal, Date.now() - started));
      });
    });
    const closed = new Promise<Result>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolve(result(code, signal, Date.now() - started)));
    });
    // Whoever awaits only one of them still sees a spawn failure; the other must not go unhandled.
    exited.catch(() => {});
    closed.catch(() => {});
    if (child.pid === undefined) throw new Error("could not start the CLI");
    return { child, pid: child.pid, stdout: () => stdout, stderr: () => stderr, exited, closed };
  }

  /** Runs `claudemesh <args>` to completion. */
  run(args: readonly string[], options: RunOptions = {}): Promise<Result> {
    return this.spawn(args, options).closed;
  }

  /** `sessions list --json`, parsed. */
  async sessions(): Promise<WireSession[]> {
    const res = await this.run(["sessions", "list", "--json"]);
    if (res.code !== 0) throw new Error(`sessions list --json exited ${res.code}: ${res.stderr}`);
    return (JSON.parse(res.stdout) as { sessions: WireSession[] }).sessions;
  }

  /** The pid recorded in `<dir>/daemon.lock`, if there is one. */
  lockPid(): number | undefined {
    try {
      return (JSON.parse(readFileSync(this.lock, "utf8")) as LockFile).pid;
    } catch {
      return undefined;
    }
  }

  /** Pids of live daemon processes serving this sandbox's dir, from `ps`. */
  async daemonProcesses(): Promise<number[]> {
    return (await processTable())
      .filter((row) => row.args.includes("dist/daemon.js") && row.args.split(/\s+/).includes(this.dir))
      .map((row) => row.pid)
      .filter((pid) => !processGone(pid));
  }

  /** The daemon's metrics, as `name{labels}` → value. */
  async metrics(): Promise<Map<string, number>> {
    const res = await httpGet(this.socket, "/v1/metrics");
    const out = new Map<string, number>();
    for (const line of res.text.split("\n")) {
      const m = /^(\S+)\s+(\S+)$/.exec(line);
      if (m && !line.startsWith("#")) out.set(m[1] as string, Number(m[2]));
    }
    return out;
  }

  /** A path inside the work dir. */
  path(name: string): string {
    return join(this.work, name);
  }

  /** Creates a file atomically in the work dir (e.g. the gate a program waits for). */
  touch(name: string): void {
    const temp = this.path(`.${name}.tmp`);
    writeFileSync(temp, "");
    renameSync(temp, this.path(name));
  }

  read(name: string): string {
    return readFileSync(this.path(name), "utf8");
  }

  /** Waits for a file the program writes (atomically, see `program`) and returns its content. */
  async waitForFile(name: string, deadlineMs = 15_000): Promise<string> {
    await waitFor(() => existsSync(this.path(name)), `${name} to appear`, deadlineMs);
    return this.read(name);
  }

  /** Records a process to kill at cleanup (a program that outlived its launch). */
  adopt(pid: number): void {
    this.adopted.add(pid);
  }

  async cleanup(): Promise<void> {
    const problems: string[] = [];
    for (const child of [...this.children]) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      for (const pid of await descendants(child.pid)) await killPid(pid);
      await killPid(child.pid);
    }
    for (const pid of this.adopted) await killPid(pid);
    const daemon = this.lockPid();
    if (daemon !== undefined) await killPid(daemon);
    for (const pid of await this.daemonProcesses()) {
      problems.push(`daemon pid ${pid} for ${this.dir} outlived the test and its lock`);
      await killPid(pid);
    }
    rmSync(this.root, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(problems.join("; "));
  }
}

/** A sandbox cleaned up when the test finishes, pass or fail. */
export function sandbox(context: TestContext): Sandbox {
  if (typeof context?.onTestFinished !== "function") throw new Error("sandbox() needs the test's context");
  const sb = new Sandbox();
  context.onTestFinished(() => sb.cleanup());
  return sb;
}

/**
 * A program for `launch`: `sh -c <script>`. Scripts write their files atomically through
 * `put NAME VALUE` (so a test never reads half a file) and can `gate NAME` to wait for the test
 * to create a file (with a 120 s safety limit, so a forgotten program ends by itself).
 */
export function program(script: string): string[] {
  const prelude = [
    'put() { printf "%s" "$2" > "$1.tmp" && mv "$1.tmp" "$1"; }',
    'gate() { i=0; until [ -e "$1" ] || [ "$i" -ge 2400 ]; do sleep 0.05; i=$((i+1)); done; }',
    'cm() { "$CM_NODE" "$CM_CLI" "$@"; }',
  ].join("\n");
  return ["sh", "-c", `${prelude}\n${script}`];
}

/** `launch [options] -- sh -c <script>`. */
export function launchArgs(script: string, options: readonly string[] = []): string[] {
  return ["launch", ...options, "--", ...program(script)];
}

export const CLI_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;
