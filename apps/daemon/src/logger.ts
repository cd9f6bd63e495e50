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

/** Copies a field value for logging: errors made plain, secrets redacted at any depth. */
function clean(value: unknown, depth: number): unknown {
  if (value instanceof Error) return serializeError(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object" || value === null) return value;
  if (depth >= 5) return "[too deep]";
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  const out: LogFields = {};
  for (const [key, v] of Object.entries(value))
    out[key] = SECRET_KEYS.has(key.toLowerCase()) ? "[redacted]" : clean(v, depth + 1);
  return out;
}

export function formatLogLine(level: LogLevel, msg: string, fields: LogFields | undefined, time: number): string {
  const record: LogFields = { time: new Date(time).toISOString(), level, pid: process.pid, msg };
  // No field may overwrite the record's own keys.
  for (const [key, value] of Object.entries(clean(fields ?? {}, 0) as LogFields))
    if (!(key in record)) record[key] = value;
  try {
    return `${JSON.stringify(record)}\n`;
  } catch (error) {
    return `${JSON.stringify({ time: record.time, level, pid: process.pid, msg, log_error: String(error) })}\n`;
  }
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
  // Never write to or close a descriptor we no longer own: its number may by now belong to
  // another file or to a client's socket. Undefined once closed.
  let fd: number | undefined = openSync(path, "a", 0o600);
  let size = fstatSync(fd).size;
  return {
    write(line) {
      if (fd === undefined) return;
      const bytes = Buffer.byteLength(line);
      if (size + bytes > maxBytes && size > 0) {
        try {
          // Rename and open the new file before closing the old one: if rotation fails, the
          // current file stays open and in use.
          renameSync(path, `${path}.1`);
          const next = openSync(path, "a", 0o600);
          closeSync(fd);
          fd = next;
          size = 0;
        } catch {
          // Cannot rotate (read-only dir, odd file in the way): keep appending.
        }
      }
      try {
        writeSync(fd, line);
        size += bytes;
      } catch {
        // A full disk must not take the daemon down through its own logging.
      }
    },
    close() {
      if (fd === undefined) return;
      const open = fd;
      fd = undefined;
      closeSync(open);
    },
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
