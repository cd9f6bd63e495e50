// Everything a command needs from its surroundings, gathered once and passed in, so commands can
// be driven in tests with another environment, home, output streams or clock.
import { homedir } from "node:os";
import { type DaemonPaths, daemonPaths, resolveDaemonDir } from "@claudemesh/client";

export interface Output {
  write(text: string): void;
  /**
   * Writes and resolves once the text has been handed to the system (rejects when it could not
   * be: a closed pipe). What marks a message surfaced waits for this.
   */
  writeConfirmed?(text: string): Promise<void>;
  readonly isTTY: boolean;
}

export interface CliContext {
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
  readonly cwd: string;
  readonly paths: DaemonPaths;
  readonly stdout: Output;
  readonly stderr: Output;
  /** Colour only on a terminal, and never with NO_COLOR set. */
  readonly color: boolean;
  now(): number;
}

function stream(s: NodeJS.WriteStream): Output {
  return {
    write: (text) => void s.write(text),
    writeConfirmed: (text) =>
      new Promise((resolve, reject) => {
        s.write(text, (error) => (error ? reject(error) : resolve()));
      }),
    isTTY: s.isTTY === true,
  };
}

export function processContext(): CliContext {
  const env = process.env;
  const home = homedir();
  const stdout = stream(process.stdout);
  return {
    env,
    home,
    cwd: process.cwd(),
    // Only CLAUDEMESH_DAEMON_DIR or the home dir decide where the daemon is (field note 2).
    paths: daemonPaths(resolveDaemonDir(env, home)),
    stdout,
    stderr: stream(process.stderr),
    color: stdout.isTTY && (env.NO_COLOR === undefined || env.NO_COLOR === ""),
    now: Date.now,
  };
}

/** `claudemesh: message` on stderr. */
export function warn(ctx: CliContext, message: string): void {
  ctx.stderr.write(`claudemesh: ${message}\n`);
}

/**
 * Writes to stdout and waits until the text is handed over: false when it could not be (a closed
 * pipe). What marks messages surfaced waits for this, and marks nothing on false.
 */
export async function writtenOut(ctx: CliContext, text: string): Promise<boolean> {
  if (text === "") return true;
  if (ctx.stdout.writeConfirmed === undefined) {
    ctx.stdout.write(text);
    return true;
  }
  try {
    await ctx.stdout.writeConfirmed(text);
    return true;
  } catch {
    return false;
  }
}
