// Shared helpers for the unit tests: temp dirs that are always removed, polling with a deadline,
// and a Logger that records what it was told.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogFields, Logger, LogLevel } from "../../src/logger.js";

/** Temp dirs made by one test file; call `removeAll()` in afterEach. */
export class TempDirs {
  readonly #dirs: string[] = [];

  make(prefix = "cmu-"): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  removeAll(): void {
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it holds; fails with `what` once the (generous) deadline has passed. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
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
