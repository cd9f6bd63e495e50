// Structured logs: one JSON object per line, to stderr in the foreground or to daemon.log (0600,
// size-capped, one rotated file) when detached. Writes are synchronous so that the last words
// before a crash reach the file, and they are rare enough (lifecycle, faults) not to matter.
import { closeSync, fstatSync, openSync, renameSync, writeSync } from "node:fs";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  close(): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

// A token must never reach a log, whatever a caller passes by mistake.
const SECRET_KEYS = new Set(["token", "authorization", "token_hash"]);

function serializeError(error: Error): LogFields {
  const code = (error as NodeJS.ErrnoException).code;
  return { name: error.name, message: error.message, ...(code && { code }), stack: error.stack };
}

export function formatLogLine(level: LogLevel, msg: string, fields: LogFields | undefined, time: number): string {
  const record: LogFields = { time: new Date(time).toISOString(), level, pid: process.pid, msg };
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (SECRET_KEYS.has(key.toLowerCase())) record[key] = "[redacted]";
    else record[key] = value instanceof Error ? serializeError(value) : value;
  }
  return `${JSON.stringify(record)}\n`;
}

/** Where lines go: a file descriptor, optionally rotated when it grows past maxBytes. */
interface Sink {
  write(line: string): void;
  close(): void;
}

function stderrSink(): Sink {
  return {
    write: (line) => {
      try {
        writeSync(2, line);
      } catch {
        // stderr closed: nothing sensible left to do with a log line.
      }
    },
    close: () => {},
  };
}

/** Appends to `path` (0600); past `maxBytes` it becomes `path.1` and a fresh file starts. */
function fileSink(path: string, maxBytes: number): Sink {
  let fd = openSync(path, "a", 0o600);
  let size = fstatSync(fd).size;
  return {
    write(line) {
      try {
        const bytes = Buffer.byteLength(line);
        if (size + bytes > maxBytes && size > 0) {
          closeSync(fd);
          renameSync(path, `${path}.1`);
          fd = openSync(path, "a", 0o600);
          size = 0;
        }
        writeSync(fd, line);
        size += bytes;
      } catch {
        // A full disk must not take the daemon down through its own logging.
      }
    },
    close: () => closeSync(fd),
  };
}

export interface LoggerOptions {
  /** Log file path; stderr when absent. */
  file?: string;
  maxBytes?: number;
  level?: LogLevel;
  now?: () => number;
}

export const DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024;

export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.file ? fileSink(options.file, options.maxBytes ?? DEFAULT_LOG_MAX_BYTES) : stderrSink();
  const threshold = LEVELS[options.level ?? "info"];
  const now = options.now ?? Date.now;
  const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    if (LEVELS[level] >= threshold) sink.write(formatLogLine(level, msg, fields, now()));
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error"), close: () => sink.close() };
}
