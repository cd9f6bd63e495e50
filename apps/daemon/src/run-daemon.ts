// The daemon program: arguments, logging destination, signals, fatal errors, exit code.
import { homedir } from "node:os";
import { DaemonDirError, daemonPaths, ensureDaemonDir } from "@claudemesh/client";
import { DAEMON_USAGE, parseDaemonArgs, UsageError } from "./args.js";
import { type RunningDaemon, startDaemon } from "./daemon.js";
import { LockHeldError } from "./lock.js";
import { createLogger, type Logger } from "./logger.js";
import { MemberKeyFileError } from "./mesh/member-key-file.js";
import { onStopSignal, releaseStopSignals } from "./stop-signals.js";

/** Hard limit on a shutdown: past it the process exits whatever is still pending. */
export const SHUTDOWN_HARD_DEADLINE_MS = 2_000;

function say(message: string): void {
  process.stderr.write(`claudemesh-daemon: ${message}\n`);
}

/** Runs the daemon until it stops; resolves with the process exit code. */
export async function runDaemon(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: ReturnType<typeof parseDaemonArgs>;
  try {
    args = parseDaemonArgs(argv, env, homedir());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    say(`${error.message}\n${DAEMON_USAGE}`);
    return 2;
  }
  if (args === "help") {
    process.stdout.write(`${DAEMON_USAGE}\n`);
    return 0;
  }

  const paths = daemonPaths(args.dir);
  let logger: Logger;
  try {
    // The log file lives in the dir: check the dir before writing anything into it.
    ensureDaemonDir(paths.dir);
    logger = createLogger(args.foreground ? {} : { file: paths.log });
  } catch (error) {
    say(error instanceof DaemonDirError ? error.message : `cannot prepare ${paths.dir}: ${(error as Error).message}`);
    return 1;
  }

  let daemon: RunningDaemon | undefined;
  let stopRequested: string | undefined;
  const stop = (reason: string, code: number) => {
    stopRequested ??= reason;
    // Whatever hangs, the process ends within the deadline.
    setTimeout(() => {
      logger.error("shutdown deadline passed; exiting now", { reason });
      process.exit(code || 1);
    }, SHUTDOWN_HARD_DEADLINE_MS).unref();
    if (daemon) void daemon.shutdown(reason, code);
  };
  const onFatal = (error: unknown) => {
    logger.error("uncaught error; shutting down", { error: error instanceof Error ? error : String(error) });
    stop("uncaught error", 1);
    if (!daemon) process.exit(1);
  };
  onStopSignal((signal) => stop(signal, 0));
  process.on("uncaughtException", onFatal);
  process.on("unhandledRejection", onFatal);

  try {
    daemon = await startDaemon({
      dir: args.dir,
      logger,
      reaperIntervalMs: args.reaperIntervalMs,
      selfCheckIntervalMs: args.selfCheckIntervalMs,
      maintenanceIntervalMs: args.maintenanceIntervalMs,
    });
  } catch (error) {
    // These say what is wrong and what to do; anything else is unexpected, with its stack.
    const explained =
      error instanceof LockHeldError || error instanceof DaemonDirError || error instanceof MemberKeyFileError;
    const message = explained ? (error as Error).message : `failed to start: ${(error as Error).message}`;
    // Losing a start-up race to another daemon is normal when many CLIs start at once.
    if (error instanceof LockHeldError) logger.info(message);
    else if (explained) logger.error(message);
    else logger.error(message, { error: error as Error });
    // Detached, the log is the place; a person at a terminal gets the message too.
    if (!args.foreground && process.stderr.isTTY) say(message);
    logger.close();
    releaseStopSignals();
    return 1;
  }
  if (stopRequested !== undefined) void daemon.shutdown(stopRequested);
  const code = await daemon.stopped;
  process.off("uncaughtException", onFatal);
  process.off("unhandledRejection", onFatal);
  releaseStopSignals();
  logger.close();
  return code;
}
