// A program run with its output captured, the way the e2e and reliability suites run the CLI.
import { type ChildProcess, spawn } from "node:child_process";
import type { Children } from "./processes.js";

export interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit (or close). */
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
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** "closed": a pipe closed at once (EOF on the first read); "ignore": /dev/null. */
  readonly stdin?: "closed" | "ignore";
  /** Written to stdin, which is then closed. */
  readonly input?: string;
  /** SIGKILLed after this long, so that a hung program fails its test instead of the suite. */
  readonly timeoutMs?: number;
  /** Where the child is tracked, to be stopped at cleanup. */
  readonly children?: Children;
}

/** Starts `command args` with stdout and stderr captured as text. */
export function spawnCaptured(command: string, args: readonly string[], options: RunOptions = {}): Running {
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: [options.stdin === "ignore" ? "ignore" : "pipe", "pipe", "pipe"],
  });
  options.children?.track(child);
  child.stdin?.on("error", () => {}); // a program that exits without reading its input
  child.stdin?.end(options.input);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const timer =
    options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  const settle = (event: "exit" | "close") =>
    new Promise<Result>((resolve, reject) => {
      child.once("error", reject);
      child.once(event, (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
      });
    });
  const exited = settle("exit");
  const closed = settle("close");
  // Whoever awaits only one of them still sees a spawn failure; the other must not go unhandled.
  exited.catch(() => {});
  closed.catch(() => {});
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return { child, pid: child.pid, stdout: () => stdout, stderr: () => stderr, exited, closed };
}
