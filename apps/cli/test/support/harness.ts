// End-to-end harness: drives the BUILT `claudemesh` binary as a user would, each test in its own
// sandbox (a temp dir holding the daemon dir and a work dir), with piped stdio (never a TTY).
// The process, polling and HTTP primitives are @claudemesh/testkit's.
//
// Cleanup rules: every process is ended by pid (never by name). Children started here are killed
// with their descendants; the daemon is found through `<dir>/daemon.lock` (and killed only if it
// serves this dir: a stale lock may name anyone); programs that outlive
// their `launch` are recorded by the test with `sandbox.adopt(pid)`. A daemon still running for
// the sandbox's dir after that is a leak: it is killed by pid and the test fails.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Children,
  http,
  killLockedDaemon,
  killPid,
  lockPid,
  makeTempDir,
  processGone,
  processTable,
  type Result,
  type Running,
  removeDir,
  spawnCaptured,
  type WireSession,
  waitFor,
} from "@claudemesh/testkit";
import type { TestContext } from "vitest";

export { killPid, processGone, type Result, type Running, type WireSession, waitFor } from "@claudemesh/testkit";

export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
/** The hook's own entry, which launch's Claude Code hooks run. */
export const HOOK_ENTRY = fileURLToPath(new URL("../../dist/hook.cjs", import.meta.url));
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

export interface RunOptions {
  /** Added to (or, with undefined values, removed from) the sandbox's environment. */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Written to the command's stdin (closed at once otherwise). */
  readonly input?: string;
  /** Another script of the build to run instead of dist/cli.js (e.g. HOOK_ENTRY). */
  readonly entry?: string;
}

/** The test process's environment without any session or daemon variable of the developer's own. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("CLAUDEMESH_") && key !== "NODE_OPTIONS" && key !== "NO_COLOR") env[key] = value;
  }
  return env;
}

/** A GET over the daemon's socket, bypassing the CLI (to compare with what the API says). */
export const httpGet = (socketPath: string, path: string) => http(socketPath, "GET", path);

/** A test's own world: `dir` is its CLAUDEMESH_DAEMON_DIR, `work` the cwd of every command. */
export class Sandbox {
  readonly root: string;
  readonly dir: string;
  readonly work: string;
  readonly socket: string;
  readonly lock: string;
  readonly log: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly children = new Children();
  private readonly adopted = new Set<number>();
  private readonly cleanups: (() => Promise<void>)[] = [];

  constructor() {
    // Short names: the socket path must fit in 107 bytes.
    this.root = makeTempDir("cmt-");
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

  /** Starts `claudemesh <args>` with piped stdio (stdin closed at once, after `input` if given). */
  spawn(args: readonly string[], options: RunOptions = {}): Running {
    const env: NodeJS.ProcessEnv = { ...this.env };
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    return spawnCaptured(process.execPath, [options.entry ?? CLI, ...args], {
      cwd: options.cwd ?? this.work,
      env,
      children: this.children,
      ...(options.input !== undefined && { input: options.input }),
    });
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
    return lockPid(this.lock);
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
    const res = await http(this.socket, "GET", "/v1/metrics");
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

  /** Runs `fn` at cleanup, before any process is stopped (e.g. closing a client the test connected). */
  onCleanup(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    const problems: string[] = [];
    for (const fn of this.cleanups) await fn().catch((error: unknown) => problems.push(String(error)));
    await this.children.stopAll();
    for (const pid of this.adopted) await killPid(pid);
    await killLockedDaemon(this.lock, this.dir);
    for (const pid of await this.daemonProcesses()) {
      problems.push(`daemon pid ${pid} for ${this.dir} outlived the test and its lock`);
      await killPid(pid);
    }
    removeDir(this.root);
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

/** A session launched for a test: it lives until the test ends it (or the sandbox is cleaned up). */
export interface Peer {
  readonly name: string;
  readonly id: string;
  /** The environment of a command run inside this session. */
  readonly env: Record<string, string>;
  end(): void;
}

/** Launches a session named `name` (with more launch options); resolves once it is listed. */
export async function peer(sb: Sandbox, name: string, options: readonly string[] = []): Promise<Peer> {
  sb.spawn(
    launchArgs(
      `put "tok.${name}" "$CLAUDEMESH_IPC_TOKEN_FILE"\nput "id.${name}" "$CLAUDEMESH_SESSION_ID"\ngate "gate.${name}"`,
      ["--name", name, ...options],
    ),
  );
  const tokenFile = await sb.waitForFile(`tok.${name}`);
  const id = await sb.waitForFile(`id.${name}`);
  await waitFor(async () => (await sb.sessions()).some((s) => s.session_id === id), `${name} to be listed`);
  return { name, id, env: { CLAUDEMESH_IPC_TOKEN_FILE: tokenFile }, end: () => sb.touch(`gate.${name}`) };
}

export const CLI_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * A session without its presence (key and attestation expiry): what survives a daemon restart
 * unchanged, since a restored session gets a fresh key.
 */
export function withoutPresence<T extends object>(session: T): Omit<T, "session_pubkey" | "attestation_expires_at"> {
  const {
    session_pubkey: _key,
    attestation_expires_at: _expiry,
    ...rest
  } = session as T & {
    session_pubkey?: unknown;
    attestation_expires_at?: unknown;
  };
  return rest;
}
