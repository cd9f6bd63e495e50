// Help: every command a user can type has a one-line summary and an example in its --help, and a
// mistyped command gets the closest real one suggested.
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/program.js";
import { sandbox } from "../support/harness.js";

/** Every visible command, as the words that reach it. */
function commandPaths(command: Command, prefix: string[] = []): { path: string[]; summary: string }[] {
  return command
    .createHelp()
    .visibleCommands(command)
    .filter((child) => child.name() !== "help")
    .flatMap((child) => {
      const path = [...prefix, child.name()];
      return [{ path, summary: child.summary() }, ...commandPaths(child, path)];
    });
}

const COMMANDS = commandPaths(buildProgram(() => {}));

describe.concurrent("help", () => {
  it("knows the new commands", () => {
    const names = COMMANDS.map((c) => c.path.join(" "));
    for (const name of ["daemon install", "daemon uninstall", "doctor", "completion"]) expect(names).toContain(name);
    expect(names).not.toContain("__complete");
  });

  it.for(COMMANDS.map((c) => [c.path.join(" "), c] as const))(
    "`claudemesh %s --help` has a summary and an example",
    async ([, { path, summary }], context) => {
      expect(summary.length).toBeGreaterThan(0);
      const sb = sandbox(context);
      const res = await sb.run([...path, "--help"]);
      expect(res.code).toBe(0);
      expect(res.stdout.startsWith(`Usage: claudemesh ${path.join(" ")}`)).toBe(true);
      expect(res.stdout).toMatch(/\nExamples?:\n {2}\$ \S/);
    },
  );

  it("the top-level help lists doctor and completion, not the hidden __complete", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/\n {2}doctor\b/);
    expect(res.stdout).toMatch(/\n {2}completion\b/);
    expect(res.stdout).not.toContain("__complete");
  });

  it.for([
    [["doctr"], "doctor"],
    [["completoin", "bash"], "completion"],
    [["daemon", "instal"], "install"],
    [["daemon", "unistall"], "uninstall"],
    [["sesions", "list"], "sessions"],
  ] as const)("`%j` exits 2 and suggests %s", async ([argv, suggestion], context) => {
    const sb = sandbox(context);
    const res = await sb.run(argv);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(`(Did you mean ${suggestion}?)`);
  });

  it("a hidden command is never suggested", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["__complet", "sessions"]);
    expect(res.code).toBe(2);
    expect(res.stderr).not.toContain("__complete");
  });
});
