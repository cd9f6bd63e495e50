// The daemon's JSON log lines, readable on a terminal: time, level, pid, message, then the
// fields as key=value. Pure. A line that is not a JSON record (a crash's stderr) stays as it is.
import { formatTime } from "@claudemesh/client";

const LEVEL_COLOUR: Record<string, string> = { debug: "2", info: "0", warn: "33", error: "31" };
const OWN_KEYS = new Set(["time", "level", "pid", "msg"]);
const PLAIN = /^[^\s"=]+$/;

function value(v: unknown): string {
  if (typeof v === "string") return PLAIN.test(v) ? v : JSON.stringify(v);
  if (typeof v === "object" && v !== null) {
    // An error's stack is for --json; on a terminal its name, code and message say enough.
    const { stack: _stack, ...rest } = v as Record<string, unknown>;
    return JSON.stringify(rest);
  }
  return String(v);
}

export function renderLogLine(line: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof record !== "object" || record === null || typeof record.msg !== "string") return line;
  const time = typeof record.time === "string" ? Date.parse(record.time) : Number.NaN;
  const when = Number.isNaN(time) ? "?" : `${formatTime(time)}.${String(time % 1000).padStart(3, "0")}`;
  const level = String(record.level ?? "info");
  const fields = Object.entries(record)
    .filter(([key]) => !OWN_KEYS.has(key))
    .map(([key, v]) => `${key}=${value(v)}`)
    .join(" ");
  const head = `${when} ${level.toUpperCase().padEnd(5)} [${String(record.pid ?? "?")}] ${record.msg}`;
  const text = fields === "" ? head : `${head}  ${fields}`;
  const colour = LEVEL_COLOUR[level];
  return color && colour !== undefined && colour !== "0" ? `\x1b[${colour}m${text}\x1b[39;22m` : text;
}

/** Renders whole lines of a chunk; what is left after the last newline waits for the next chunk. */
export class LogLineRenderer {
  #partial = "";
  constructor(readonly color: boolean) {}

  feed(chunk: string): string {
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop() ?? "";
    return lines.map((l) => `${renderLogLine(l, this.color)}\n`).join("");
  }
}
