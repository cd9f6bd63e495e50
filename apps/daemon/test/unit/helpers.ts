// Shared helpers for the unit tests: temp dirs that are always removed and polling with a
// deadline (both from @claudemesh/testkit), and a Logger that records what it was told.
import { TempDirs as KitTempDirs } from "@claudemesh/testkit";
import type { LogFields, Logger, LogLevel } from "../../src/logger.js";

export { waitFor } from "@claudemesh/testkit";

/** Temp dirs made by one test file; call `removeAll()` in afterEach. */
export class TempDirs extends KitTempDirs {
  constructor() {
    super("cmu-");
  }
}

export interface LogRecord {
  level: LogLevel;
  msg: string;
  fields: LogFields | undefined;
}

export class RecordingLogger implements Logger {
  readonly records: LogRecord[] = [];
  closed = false;

  debug(msg: string, fields?: LogFields): void {
    this.records.push({ level: "debug", msg, fields });
  }
  info(msg: string, fields?: LogFields): void {
    this.records.push({ level: "info", msg, fields });
  }
  warn(msg: string, fields?: LogFields): void {
    this.records.push({ level: "warn", msg, fields });
  }
  error(msg: string, fields?: LogFields): void {
    this.records.push({ level: "error", msg, fields });
  }
  close(): void {
    this.closed = true;
  }

  at(level: LogLevel): LogRecord[] {
    return this.records.filter((r) => r.level === level);
  }
}
