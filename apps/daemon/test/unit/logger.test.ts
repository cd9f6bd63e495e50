import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, formatLogLine, type Logger, type LogLevel } from "../../src/logger.js";
import { TempDirs } from "./helpers.js";

const dirs = new TempDirs();
const loggers: Logger[] = [];
const fds: number[] = [];
afterEach(() => {
  try {
    for (const logger of loggers.splice(0)) logger.close();
    for (const fd of fds.splice(0)) closeSync(fd);
  } finally {
    dirs.removeAll();
  }
});

const T = Date.UTC(2030, 0, 2, 3, 4, 5, 678);

function fileLogger(options: { maxBytes?: number; level?: LogLevel } = {}) {
  const dir = dirs.make("cmu-log-");
  const file = join(dir, "daemon.log");
  const logger = createLogger({ file, now: () => T, ...options });
  loggers.push(logger);
  return { dir, file, logger };
}

function records(path: string): Record<string, unknown>[] {
  const text = readFileSync(path, "utf8");
  if (text === "") return [];
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("formatLogLine", () => {
  it("is one JSON line with time, level, pid and msg first, then the fields", () => {
    const line = formatLogLine("warn", "something happened", { route: "/v1/health", count: 3 }, T);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.indexOf("\n")).toBe(line.length - 1);
    const record = JSON.parse(line) as Record<string, unknown>;
    expect(record).toEqual({
      time: "2030-01-02T03:04:05.678Z",
      level: "warn",
      pid: process.pid,
      msg: "something happened",
      route: "/v1/health",
      count: 3,
    });
    expect(Object.keys(record).slice(0, 4)).toEqual(["time", "level", "pid", "msg"]);
  });

  it("keeps a message with newlines on one line", () => {
    const line = formatLogLine("info", "two\nlines", { note: "a\nb" }, T);
    expect(line.split("\n")).toHaveLength(2);
    expect((JSON.parse(line) as { msg: string }).msg).toBe("two\nlines");
  });

  it("works without fields", () => {
    expect(JSON.parse(formatLogLine("debug", "bare", undefined, T))).toEqual({
      time: "2030-01-02T03:04:05.678Z",
      level: "debug",
      pid: process.pid,
      msg: "bare",
    });
  });

  it("serializes an Error's name, message and code", () => {
    const error = Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    const record = JSON.parse(formatLogLine("error", "write failed", { error }, T)) as {
      error: Record<string, unknown>;
    };
    expect(record.error).toMatchObject({ name: "Error", message: "no space left on device", code: "ENOSPC" });
    expect(typeof record.error.stack).toBe("string");

    class CustomError extends Error {
      override readonly name = "CustomError";
    }
    const plain = JSON.parse(formatLogLine("error", "x", { error: new CustomError("boom") }, T)) as {
      error: Record<string, unknown>;
    };
    expect(plain.error).toMatchObject({ name: "CustomError", message: "boom" });
    expect(plain.error).not.toHaveProperty("code");
  });

  it("redacts token, authorization and token_hash, whatever their case", () => {
    const secret = "ab".repeat(32);
    const line = formatLogLine(
      "info",
      "careless caller",
      {
        token: secret,
        Authorization: `ClaudeMesh-Session ${secret}`,
        TOKEN_HASH: secret,
        Token: secret,
        session_id: "kept",
      },
      T,
    );
    expect(line).not.toContain(secret);
    expect(JSON.parse(line)).toMatchObject({
      token: "[redacted]",
      Authorization: "[redacted]",
      TOKEN_HASH: "[redacted]",
      Token: "[redacted]",
      session_id: "kept",
    });
  });
});

describe("file logger", () => {
  it("creates the file 0600 and appends one JSON line per call", () => {
    const { file, logger } = fileLogger();
    logger.info("first", { n: 1 });
    logger.error("second", { error: new Error("bad") });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = records(file);
    expect(lines.map((r) => [r.level, r.msg])).toEqual([
      ["info", "first"],
      ["error", "second"],
    ]);
    expect(lines[0]).toMatchObject({ time: "2030-01-02T03:04:05.678Z", pid: process.pid, n: 1 });
  });

  it("appends to an existing file instead of truncating it", () => {
    const { file, logger } = fileLogger();
    logger.info("from the first run");
    logger.close();
    loggers.pop();
    const again = createLogger({ file });
    loggers.push(again);
    again.info("from the second run");
    expect(records(file).map((r) => r.msg)).toEqual(["from the first run", "from the second run"]);
  });

  it("respects the level threshold (info by default)", () => {
    const { file, logger } = fileLogger();
    logger.debug("hidden");
    logger.info("shown");
    expect(records(file).map((r) => r.msg)).toEqual(["shown"]);

    const { file: warnFile, logger: warnLogger } = fileLogger({ level: "warn" });
    warnLogger.debug("d");
    warnLogger.info("i");
    warnLogger.warn("w");
    warnLogger.error("e");
    expect(records(warnFile).map((r) => r.level)).toEqual(["warn", "error"]);

    const { file: debugFile, logger: debugLogger } = fileLogger({ level: "debug" });
    debugLogger.debug("d");
    expect(records(debugFile).map((r) => r.level)).toEqual(["debug"]);
  });

  it("rotates to <file>.1 when maxBytes would be exceeded, keeping one rotated file", () => {
    const lineBytes = Buffer.byteLength(formatLogLine("info", "line 00", undefined, T));
    const maxBytes = lineBytes * 3 + 5; // room for three lines, not four
    const { dir, file, logger } = fileLogger({ maxBytes });

    for (let i = 0; i < 3; i++) logger.info(`line 0${i}`);
    expect(existsSync(`${file}.1`)).toBe(false);
    logger.info("line 03"); // would pass maxBytes: rotate first
    expect(records(`${file}.1`).map((r) => r.msg)).toEqual(["line 00", "line 01", "line 02"]);
    expect(records(file).map((r) => r.msg)).toEqual(["line 03"]);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    for (let i = 4; i < 7; i++) logger.info(`line 0${i}`); // 03..05 fill it, 06 rotates again
    expect(records(`${file}.1`).map((r) => r.msg)).toEqual(["line 03", "line 04", "line 05"]);
    expect(records(file).map((r) => r.msg)).toEqual(["line 06"]);
    expect(readdirSync(dir).sort()).toEqual(["daemon.log", "daemon.log.1"]);
    for (const name of ["daemon.log", "daemon.log.1"])
      expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(maxBytes);
  });

  it("counts what the file already holds toward maxBytes", () => {
    const dir = dirs.make("cmu-log-");
    const file = join(dir, "daemon.log");
    writeFileSync(file, `${"x".repeat(90)}\n`, { mode: 0o600 });
    const logger = createLogger({ file, maxBytes: 100, now: () => T });
    loggers.push(logger);
    logger.info("pushes it over");
    expect(readFileSync(`${file}.1`, "utf8")).toBe(`${"x".repeat(90)}\n`);
    expect(records(file).map((r) => r.msg)).toEqual(["pushes it over"]);
  });

  it("writes a line longer than maxBytes rather than losing it", () => {
    const { file, logger } = fileLogger({ maxBytes: 10 });
    logger.info("a line far longer than ten bytes");
    expect(records(file).map((r) => r.msg)).toEqual(["a line far longer than ten bytes"]);
  });

  it("keeps logging to the current file when rotation fails, and never writes into another file", () => {
    const { file, logger } = fileLogger({ maxBytes: 200 });
    mkdirSync(`${file}.1`); // rename(daemon.log, daemon.log.1) now fails with EISDIR
    logger.info("before rotation", { pad: "p".repeat(100) });
    logger.info("rotation fails here", { pad: "p".repeat(100) });
    // Whatever file is opened next may get the descriptor number the logger used.
    const other = join(dirs.make("cmu-other-"), "other");
    const fd = openSync(other, "w+", 0o600);
    fds.push(fd);
    logger.info("after the failed rotation");
    logger.error("still logging");
    expect(readFileSync(other, "utf8")).toBe("");
    expect(records(file).map((r) => r.msg)).toEqual([
      "before rotation",
      "rotation fails here",
      "after the failed rotation",
      "still logging",
    ]);
  });

  it("close() is final: later lines and a second close() touch no other file", () => {
    const { file, logger } = fileLogger();
    logger.info("last words");
    logger.close();
    const other = join(dirs.make("cmu-other-"), "other");
    const fd = openSync(other, "w+", 0o600);
    fds.push(fd);
    logger.info("after close");
    expect(() => logger.close()).not.toThrow();
    expect(readFileSync(other, "utf8")).toBe("");
    writeFileSync(fd, "still open"); // the second close() did not close someone else's descriptor
    expect(readFileSync(other, "utf8")).toBe("still open");
    expect(records(file).map((r) => r.msg)).toEqual(["last words"]);
  });
});
