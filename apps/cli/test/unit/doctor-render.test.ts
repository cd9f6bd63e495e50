// What `claudemesh doctor` prints: aligned marks on a terminal (colour only when allowed), one
// tab-separated line per check in a pipe, JSON for scripts.
import { describe, expect, it } from "vitest";
import type { Check } from "../../src/doctor/checks.js";
import { renderJson, renderTerminal, renderTsv } from "../../src/doctor/render.js";

const CHECKS: Check[] = [
  { name: "dir", status: "ok", finding: "/d is a directory", fix: null },
  { name: "dir-mode", status: "fail", finding: "mode 0755", fix: "chmod 700 /d", repair: async () => "x" },
  { name: "version", status: "warn", finding: "daemon 0.0.1\tCLI 0.1.0\nskew", fix: "claudemesh daemon restart" },
];

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for escape sequences is the point
const ESCAPE = /\x1b\[/;

describe("doctor output", () => {
  it("piped: status, check, finding, fix; one line each; `-` for no fix; tabs and newlines flattened", () => {
    expect(renderTsv(CHECKS)).toBe(
      [
        "ok\tdir\t/d is a directory\t-",
        "fail\tdir-mode\tmode 0755\tchmod 700 /d",
        "warn\tversion\tdaemon 0.0.1 CLI 0.1.0 skew\tclaudemesh daemon restart",
        "",
      ].join("\n"),
    );
  });

  it("json: {checks:[{name,status,finding,fix}]}, nothing else", () => {
    expect(JSON.parse(renderJson(CHECKS))).toEqual({
      checks: [
        { name: "dir", status: "ok", finding: "/d is a directory", fix: null },
        { name: "dir-mode", status: "fail", finding: "mode 0755", fix: "chmod 700 /d" },
        { name: "version", status: "warn", finding: "daemon 0.0.1\tCLI 0.1.0\nskew", fix: "claudemesh daemon restart" },
      ],
    });
  });

  it("terminal without colour: aligned names, ✓ ! ✗ marks, the fix under a problem, a summary", () => {
    const out = renderTerminal(CHECKS, false);
    expect(out).not.toMatch(ESCAPE);
    expect(out.split("\n")).toEqual([
      "✓ dir       /d is a directory",
      "✗ dir-mode  mode 0755",
      "            fix: chmod 700 /d",
      "! version   daemon 0.0.1 CLI 0.1.0 skew",
      "            fix: claudemesh daemon restart",
      "1 problem, 1 warning",
      "",
    ]);
    expect(renderTerminal(CHECKS.slice(0, 1), false)).toBe("✓ dir  /d is a directory\nno problems found\n");
  });

  it("terminal with colour: only the marks are coloured", () => {
    const out = renderTerminal(CHECKS, true);
    expect(out).toContain("\x1b[32m✓\x1b[39m dir");
    expect(out).toContain("\x1b[31m✗\x1b[39m dir-mode");
    expect(out).toContain("\x1b[33m!\x1b[39m version");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping escape sequences
    expect(out.replace(/\x1b\[\d+m/g, "")).toBe(renderTerminal(CHECKS, false));
  });
});
