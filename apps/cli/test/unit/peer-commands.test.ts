import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { statusPatch } from "../../src/commands/peers.js";
import { checkSendOptions, messageText } from "../../src/commands/send.js";
import { CliError } from "../../src/exit-codes.js";
import { LogLineRenderer, renderLogLine } from "../../src/log-format.js";

function usage(fn: () => unknown): [number, string] | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof CliError) return [error.exitCode, error.message];
    throw error;
  }
  return undefined;
}

describe("status options", () => {
  it("build the patch, none clearing the status", () => {
    expect(statusPatch({})).toBeUndefined();
    expect(statusPatch({ summary: "x", status: "idle", inbound: "hold" })).toEqual({
      summary: "x",
      status: "idle",
      inbound: "hold",
    });
    expect(statusPatch({ status: "none" })).toEqual({ status: null });
    expect(statusPatch({ summary: "" })).toEqual({ summary: "" });
  });

  it("refuse what the daemon would, before asking it (exit 2)", () => {
    expect(usage(() => statusPatch({ status: "busy" }))).toEqual([
      2,
      "invalid --status: must be one of working, idle, waiting or none",
    ]);
    expect(usage(() => statusPatch({ inbound: "maybe" }))).toEqual([
      2,
      "invalid --inbound: must be one of accept, hold, refuse",
    ]);
  });
});

describe("send options and text", () => {
  it("check priority, wait, reply-to and timeout", () => {
    expect(checkSendOptions({ priority: "now", wait: "acked", timeout: 5 })).toEqual({
      priority: "now",
      wait: "acked",
      timeoutS: 5,
    });
    expect(checkSendOptions({}).timeoutS).toBe(60);
    expect(usage(() => checkSendOptions({ priority: "asap" }))?.[0]).toBe(2);
    expect(usage(() => checkSendOptions({ wait: "delivered" }))?.[0]).toBe(2);
    expect(usage(() => checkSendOptions({ replyTo: "abc" }))?.[0]).toBe(2);
    expect(usage(() => checkSendOptions({ timeout: 0 }))?.[0]).toBe(2);
  });

  it("takes the words, or stdin for none or -, without its last newline and with LF line ends", async () => {
    expect(await messageText(["hello", "there"], undefined)).toBe("hello there");
    expect(await messageText([], Readable.from(["a\r\nb\n"]))).toBe("a\nb");
    expect(await messageText(["-"], Readable.from(["x\n\n"]))).toBe("x\n");
    await expect(messageText([], Readable.from([""]))).rejects.toThrow("stdin was empty");
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    await expect(messageText([], tty)).rejects.toThrow("no text");
  });
});

describe("daemon log lines on a terminal", () => {
  const line = JSON.stringify({
    time: "2026-12-01T10:00:00.042Z",
    level: "warn",
    pid: 42,
    msg: "message refused",
    reason: "bad_signature",
    message_id: "0190",
    detail: "two words",
  });

  it("read as time, level, pid, message and key=value fields", () => {
    const text = renderLogLine(line, false);
    expect(text).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.042 WARN {2}\[42\] message refused {2}reason=bad_signature message_id=0190 detail="two words"$/,
    );
    const coloured = renderLogLine(line, true);
    expect([coloured.startsWith("\u001b[33m"), coloured.endsWith("\u001b[39;22m")]).toEqual([true, true]);
    expect(renderLogLine("not json at all", true)).toBe("not json at all");
  });

  it("hold a cut line until its end arrives", () => {
    const renderer = new LogLineRenderer(false);
    expect(renderer.feed(line.slice(0, 20))).toBe("");
    expect(renderer.feed(`${line.slice(20)}\nplain\n`)).toMatch(/message refused.*\nplain\n$/);
  });
});
