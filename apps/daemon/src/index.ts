export { DaemonDirError, ensureDaemonDir } from "@claudemesh/client";
export { DAEMON_USAGE, type DaemonArgs, parseDaemonArgs } from "./args.js";
export { type DaemonOptions, DEFAULTS, type RunningDaemon, startDaemon } from "./daemon.js";
export { LockHeldError, type LockOwner } from "./lock.js";
export { createLogger, type Logger } from "./logger.js";
export { runDaemon } from "./run-daemon.js";
export { DAEMON_VERSION } from "./version.js";
