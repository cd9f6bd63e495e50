// Real daemons for tests: a built daemon program run in the foreground on a dir of the test's
// own, ready once /v1/health answers, stopped by pid. The program is a parameter, so the same
// code runs `apps/daemon/dist/main.js` and the CLI's bundled `dist/daemon.js`, and each daemon
// lives in its own dir, so a test can start as many side by side as it needs.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { http } from "./http.js";
import { type Children, cmdline, killPid } from "./processes.js";
import { waitFor } from "./wait.js";

export interface DaemonExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dir: string;
  readonly socket: string;
  /** Everything it wrote to stderr so far: in the foreground, its log lines and its refusals. */
  stderr(): string;
  readonly exited: Promise<DaemonExit>;
}

export interface DaemonsOptions {
  /** The built entry point, run with the node running the tests. */
  readonly program: string;
  /**
   * Where a dir's socket is: the product's `daemonPaths`. Passed in rather than imported, since
   * @claudemesh/client's own tests use this kit.
   */
  readonly paths: (dir: string) => { readonly socket: string };
  /** Every daemon is tracked here, so that the suite's cleanup stops the ones a test left. */
  readonly children: Children;
}

/** Starts daemons of one program. */
export class Daemons {
  constructor(private readonly options: DaemonsOptions) {}

  /** `<program> --foreground --dir <dir> <args>`, not waited for (a test of a refused start). */
  spawn(dir: string, args: readonly string[] = []): Daemon {
    const child = this.options.children.track(
      spawn(process.execPath, [this.options.program, "--foreground", "--dir", dir, ...args], {
        stdio: ["ignore", "ignore", "pipe"],
      }),
    );
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    const exited = once(child, "exit").then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    const socket = this.options.paths(dir).socket;
    return { child, pid: child.pid as number, dir, socket, stderr: () => stderr, exited };
  }

  /** Spawns a daemon and resolves once it answers; fails at once if it exits instead. */
  async start(dir: string, args: readonly string[] = []): Promise<Daemon> {
    const daemon = this.spawn(dir, args);
    let exit: DaemonExit | undefined;
    daemon.exited.then(
      (e) => {
        exit = e;
      },
      () => {}, // a spawn failure: the wait below times out naming the socket
    );
    await waitFor(
      async () => exit ?? (await http(daemon.socket, "GET", "/v1/health")).status === 200,
      `the daemon on ${dir} to answer /v1/health`,
    );
    if (exit) {
      throw new Error(`the daemon on ${dir} exited (${exit.signal ?? exit.code}) before answering: ${daemon.stderr()}`);
    }
    return daemon;
  }

  /** One daemon in each dir, started side by side. */
  startAll(dirs: readonly string[], args: readonly string[] = []): Promise<Daemon[]> {
    return Promise.all(dirs.map((dir) => this.start(dir, args)));
  }
}

/** Signals the daemon (SIGTERM: a clean stop) and resolves with how it exited. */
export async function stopDaemon(daemon: Daemon, signal: NodeJS.Signals = "SIGTERM"): Promise<DaemonExit> {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill(signal);
  return daemon.exited;
}

/** The pid that a daemon lock file names, if it can be read. */
export function lockPid(lockPath: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(lockPath, "utf8")) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

/**
 * Kills the daemon that a dir's lock names (one the CLI started, not a child of the test), but
 * only a process that really serves `dir`: a stale lock's pid may by now be anyone's.
 */
export async function killLockedDaemon(lockPath: string, dir: string): Promise<void> {
  const pid = lockPid(lockPath);
  if (pid !== undefined && cmdline(pid).includes(dir)) await killPid(pid);
}
