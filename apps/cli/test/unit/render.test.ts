// What `sessions list` and `sessions watch` print, on a terminal and in a pipe, with and without colour.
import type { SessionEvent } from "@claudemesh/client";
import { daemonPaths } from "@claudemesh/client";
import type { Session } from "@claudemesh/registry";
import { describe, expect, it } from "vitest";
import { renderSessions } from "../../src/commands/sessions.js";
import { renderEvent, renderInitial } from "../../src/commands/watch.js";
import type { CliContext } from "../../src/context.js";

const NOW = 1_800_000_000_000;
const HOME = "/home/ada";

function fakeContext({ tty, color }: { tty: boolean; color: boolean }): CliContext {
  const sink = { write: () => {}, isTTY: tty };
  return {
    env: {},
    home: HOME,
    cwd: `${HOME}/src`,
    paths: daemonPaths("/d"),
    stdout: sink,
    stderr: { write: () => {}, isTTY: tty },
    color,
    now: () => NOW,
  };
}

function session(overrides: Partial<Session> = {}): Session {
  return {
    session_id: "3f2a9c1e-0000-4000-8000-000000000001",
    mesh: "default",
    display_name: "api",
    pid: 4242,
    cwd: `${HOME}/src/api`,
    start_time: "boot:1",
    registered_at: NOW - 90_000,
    token_prefix: "0123abcd",
    ...overrides,
  } as Session;
}

const SESSIONS = [
  session(),
  session({
    session_id: "worker-with-a-longer-id",
    display_name: "background worker",
    mesh: "backend",
    pid: 7,
    cwd: "/srv/work",
    registered_at: NOW - 3 * 3_600_000,
  }),
  session({ session_id: "s3", display_name: "no cwd", cwd: undefined, registered_at: NOW - 2_000 }),
];

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for escape sequences is the point
const ESCAPE = /\x1b\[/;

describe("renderSessions", () => {
  it("piped: tab-separated rows, no header, nothing truncated, ~ for home", () => {
    expect(renderSessions(fakeContext({ tty: false, color: false }), SESSIONS)).toBe(
      [
        "3f2a9c1e-0000-4000-8000-000000000001\tapi\tdefault\t4242\t1m\t~/src/api",
        "worker-with-a-longer-id\tbackground worker\tbackend\t7\t3h\t/srv/work",
        "s3\tno cwd\tdefault\t4242\t2s\t-",
        "",
      ].join("\n"),
    );
  });

  it("piped: never coloured, even when the context allows colour", () => {
    const out = renderSessions(fakeContext({ tty: false, color: true }), SESSIONS);
    expect(out).not.toMatch(ESCAPE);
    expect(out).not.toContain("SESSION");
  });

  it("piped: a tab or newline inside a value cannot split a row", () => {
    const out = renderSessions(fakeContext({ tty: false, color: false }), [session({ display_name: "a\tb\nc" })]);
    expect(out.split("\n")).toHaveLength(2);
    expect(out.split("\t")).toHaveLength(6);
  });

  it("terminal: an aligned table with a header, no colour without ctx.color", () => {
    const out = renderSessions(fakeContext({ tty: true, color: false }), SESSIONS);
    expect(out).not.toMatch(ESCAPE);
    const lines = out.trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]?.split(/\s{2,}/)).toEqual(["SESSION", "NAME", "MESH", "PID", "AGE", "CWD"]);
    // Every column starts where its header starts.
    const header = lines[0] as string;
    const starts = ["NAME", "MESH", "PID", "AGE", "CWD"].map((h) => header.indexOf(h));
    for (const line of lines.slice(1)) {
      for (const start of starts) expect(line[start - 1]).toBe(" ");
    }
    expect(lines[1]).toMatch(/^3f2a9c1e-0000-4000-8000-000000000001\s+api\s+default\s+4242\s+1m\s+~\/src\/api$/);
    expect(lines[3]).toMatch(/\s-$/);
  });

  it("terminal with colour: only the header is bold", () => {
    const out = renderSessions(fakeContext({ tty: true, color: true }), SESSIONS);
    const [header, ...rows] = out.trimEnd().split("\n");
    expect(header?.startsWith("\x1b[1mSESSION ")).toBe(true);
    expect(header?.endsWith("CWD\x1b[22m")).toBe(true);
    for (const row of rows) expect(row).not.toMatch(ESCAPE);
    // Same text as without colour.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping escape sequences
    expect(out.replace(/\x1b\[\d+m/g, "")).toBe(renderSessions(fakeContext({ tty: true, color: false }), SESSIONS));
  });

  it("terminal: an empty list is the header alone", () => {
    expect(renderSessions(fakeContext({ tty: true, color: false }), []).trimEnd()).toBe(
      "SESSION  NAME  MESH  PID  AGE  CWD",
    );
    expect(renderSessions(fakeContext({ tty: false, color: false }), [])).toBe("");
  });
});

describe("renderEvent", () => {
  const registered: SessionEvent = { type: "session_registered", id: 1, reason: "registered", session: session() };
  const exited: SessionEvent = { type: "session_deregistered", id: 2, reason: "exited", session: session() };

  it("piped: `+`/`-`/`~`, the reason, then the session's columns, tab-separated", () => {
    const ctx = fakeContext({ tty: false, color: false });
    const updated: SessionEvent = { type: "session_updated", id: 3, reason: "updated", session: session() };
    expect(renderEvent(ctx, updated)).toBe(
      "~\tupdated\t3f2a9c1e-0000-4000-8000-000000000001\tapi\tdefault\t4242\t1m\t~/src/api\n",
    );
    expect(renderEvent(ctx, registered)).toBe(
      "+\tregistered\t3f2a9c1e-0000-4000-8000-000000000001\tapi\tdefault\t4242\t1m\t~/src/api\n",
    );
    expect(renderEvent(ctx, exited)).toBe(
      "-\texited\t3f2a9c1e-0000-4000-8000-000000000001\tapi\tdefault\t4242\t1m\t~/src/api\n",
    );
  });

  it("piped: never coloured", () => {
    const ctx = fakeContext({ tty: false, color: true });
    expect(renderEvent(ctx, registered)).not.toMatch(ESCAPE);
    expect(renderEvent(ctx, exited)).not.toMatch(ESCAPE);
  });

  it("terminal without colour: one readable line, no escapes", () => {
    const ctx = fakeContext({ tty: true, color: false });
    const line = renderEvent(ctx, exited);
    expect(line).not.toMatch(ESCAPE);
    expect(line).not.toContain("\t");
    expect(line).toMatch(
      /^- exited\s+3f2a9c1e-0000-4000-8000-000000000001 {2}api {2}default {2}4242 {2}1m {2}~\/src\/api\n$/,
    );
  });

  it("terminal with colour: green for a new session, red for a removed one", () => {
    const ctx = fakeContext({ tty: true, color: true });
    const plain = fakeContext({ tty: true, color: false });
    expect(renderEvent(ctx, registered)).toBe(`\x1b[32m${renderEvent(plain, registered)}\x1b[39m`);
    expect(renderEvent(ctx, exited)).toBe(`\x1b[31m${renderEvent(plain, exited)}\x1b[39m`);
  });
});

describe("renderInitial (sessions watch)", () => {
  it("gives piped initial rows the 8 columns of event lines", () => {
    const ctx = fakeContext({ tty: false, color: false });
    const lines = renderInitial(ctx, SESSIONS).trimEnd().split("\n");
    expect(lines).toHaveLength(SESSIONS.length);
    for (const line of lines) {
      const cells = line.split("\t");
      expect(cells.slice(0, 2)).toEqual(["=", "live"]);
      expect(cells).toHaveLength(8);
    }
  });

  it("is the ordinary table on a terminal", () => {
    const ctx = fakeContext({ tty: true, color: false });
    expect(renderInitial(ctx, SESSIONS)).toBe(renderSessions(ctx, SESSIONS));
  });
});
