// `claudemesh completion bash|zsh|fish` and the hidden `claudemesh __complete sessions` they call.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, launchArgs, type Sandbox, sandbox, waitFor } from "../support/harness.js";

const has = (command: string) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
const SHELLS = ["bash", "zsh", "fish"] as const;
const skipped = (shell: string) => (has(shell) ? "" : ` (skipped: ${shell} is not installed)`);

// Shell snippets that call a completion function the way the shell would, and print the result:
// $1 is the script, the other arguments the words of the command line (the last being completed).
const BASH_DRIVER =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
  'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _claudemesh; printf "%s\\n" "${COMPREPLY[@]}"';
// The completion system's builtins are stubbed to print what they are given.
const ZSH_DRIVER =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh, not a template
  'compdef() {}; source "$1"; shift; _describe() { print -rl -- "${(@P)4}"; }; compadd() { print -rl -- "${(@P)2}"; }; words=("$@"); CURRENT=$#; PREFIX=${words[CURRENT]}; _claudemesh';

/** Every command and subcommand a user can type. */
const NAMES = [
  "launch",
  "sessions",
  "list",
  "me",
  "watch",
  "daemon",
  "start",
  "stop",
  "restart",
  "status",
  "logs",
  "install",
  "uninstall",
  "doctor",
  "completion",
  "peers",
  "send",
  "inbox",
  "whoami",
  "message",
  "mesh",
  "add",
  "remove",
];

/** Writes the script and a `claudemesh` wrapper running the CLI under test; returns their paths. */
async function setup(sb: Sandbox, shell: (typeof SHELLS)[number]): Promise<{ script: string; bin: string }> {
  const res = await sb.run(["completion", shell]);
  expect(res.code).toBe(0);
  const script = join(sb.root, `completion.${shell}`);
  writeFileSync(script, res.stdout);
  const bin = join(sb.root, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "claudemesh"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, "claudemesh"), 0o755);
  return { script, bin };
}

/** Runs bash's completion function for `words` (the last one is being completed); the candidates. */
function completeBash(sb: Sandbox, script: string, bin: string, words: string[]): string[] {
  const res = spawnSync("bash", ["-c", BASH_DRIVER, "_", script, ...words], {
    encoding: "utf8",
    env: { ...sb.env, PATH: `${bin}:${process.env.PATH}` },
  });
  expect(res.stderr).toBe("");
  return res.stdout.split("\n").filter((l) => l !== "");
}

describe.concurrent("completion", () => {
  for (const shell of SHELLS) {
    it(`${shell}: the script names every command and subcommand, and asks __complete for live values`, async (context) => {
      const sb = sandbox(context);
      const res = await sb.run(["completion", shell]);
      expect(res.code).toBe(0);
      expect(res.stderr).toBe("");
      for (const name of NAMES) expect(res.stdout).toMatch(new RegExp(`\\b${name}\\b`));
      expect(res.stdout).toMatch(/__complete (sessions|\$argv\[1\])/);
      expect(res.stdout).toMatch(/--session-id|-l session-id/);
      expect(existsSync(sb.dir)).toBe(false);
    });

    it.skipIf(!has(shell))(`${shell} -n accepts the script${skipped(shell)}`, async (context) => {
      const sb = sandbox(context);
      const { script } = await setup(sb, shell);
      const res = spawnSync(shell, ["-n", script], { encoding: "utf8" });
      expect(res.stderr).toBe("");
      expect(res.status).toBe(0);
    });
  }

  it("an unknown shell is a usage error naming the choices", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["completion", "tcsh"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/bash, zsh, fish/);
  });

  it("__complete sessions: prints nothing, exits 0 and starts no daemon when none runs", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["__complete", "sessions"]);
    expect(res).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(existsSync(sb.dir)).toBe(false);
    expect(await sb.daemonProcesses()).toEqual([]);
    // Not even with a socket path too long to use.
    const long = await sb.run(["__complete", "sessions"], {
      env: { CLAUDEMESH_DAEMON_DIR: join(sb.root, "x".repeat(100)) },
    });
    expect(long).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  it("bash completes commands, subcommands, options, choices, and live session ids after --session-id", async (context) => {
    const sb = sandbox(context);
    const launch = sb.spawn(launchArgs('put pid "$$"\ngate go', ["--session-id", "api:1"]));
    const other = sb.spawn(launchArgs('put pid2 "$$"\ngate go', ["--session-id", "web.2"]));
    await waitFor(async () => (await sb.sessions()).length === 2, "two sessions");
    const ids = (await sb.run(["__complete", "sessions"])).stdout;
    expect(ids.split("\n").sort()).toEqual(["", "api:1", "web.2"]);

    const { script, bin } = await setup(sb, "bash");
    expect(completeBash(sb, script, bin, ["claudemesh", ""])).toEqual([
      "launch",
      "sessions",
      "daemon",
      "peers",
      "send",
      "inbox",
      "status",
      "whoami",
      "message",
      "mesh",
      "doctor",
      "completion",
      "install",
      "uninstall",
      "mcp",
      "hook",
      "--version",
      "--help",
    ]);
    expect(completeBash(sb, script, bin, ["claudemesh", "da"])).toEqual(["daemon"]);
    expect(completeBash(sb, script, bin, ["claudemesh", "daemon", ""])).toEqual([
      "start",
      "stop",
      "restart",
      "status",
      "logs",
      "install",
      "uninstall",
      "--help",
    ]);
    expect(completeBash(sb, script, bin, ["claudemesh", "sessions", "ls", "--"])).toEqual([
      "--mesh",
      "--json",
      "--help",
    ]);
    expect(completeBash(sb, script, bin, ["claudemesh", "completion", ""])).toEqual(["bash", "zsh", "fish", "--help"]);
    expect(completeBash(sb, script, bin, ["claudemesh", "mesh", ""])).toEqual([
      "add",
      "list",
      "status",
      "remove",
      "host",
      "invite",
      "join",
      "revoke",
      "--help",
    ]);
    expect(completeBash(sb, script, bin, ["claudemesh", "mesh", "add", "team", "--t"])).toEqual([
      "--token-file",
      "--tls-ca",
      "--trust-member",
    ]);
    expect(completeBash(sb, script, bin, ["claudemesh", "daemon", "install", "--d"])).toEqual(["--dry-run"]);
    expect(completeBash(sb, script, bin, ["claudemesh", "launch", "--name", "x", "--session-id", ""]).sort()).toEqual([
      "api:1",
      "web.2",
    ]);
    expect(completeBash(sb, script, bin, ["claudemesh", "launch", "--session-id", "w"])).toEqual(["web.2"]);

    sb.touch("go");
    expect((await launch.closed).code).toBe(0);
    expect((await other.closed).code).toBe(0);
  });

  it.skipIf(!has("zsh"))(`zsh completes subcommands and live session ids${skipped("zsh")}`, async (context) => {
    const sb = sandbox(context);
    const launch = sb.spawn(launchArgs('put pid "$$"\ngate go', ["--session-id", "api:1"]));
    await sb.waitForFile("pid");
    const { script, bin } = await setup(sb, "zsh");
    const run = (words: string[]) =>
      spawnSync("zsh", ["-c", ZSH_DRIVER, "_", script, ...words], {
        encoding: "utf8",
        env: { ...sb.env, PATH: `${bin}:${process.env.PATH}` },
      }).stdout.trimEnd();
    expect(run(["claudemesh", "daemon", ""])).toContain("install:start the daemon at login (systemd or launchd)");
    expect(run(["claudemesh", "launch", "--session-id", ""])).toBe("api:1");
    sb.touch("go");
    expect((await launch.closed).code).toBe(0);
  });

  it.skipIf(!has("fish"))(`fish completes subcommands and live session ids${skipped("fish")}`, async (context) => {
    const sb = sandbox(context);
    const launch = sb.spawn(launchArgs('put pid "$$"\ngate go', ["--session-id", "api:1"]));
    await sb.waitForFile("pid");
    const { script, bin } = await setup(sb, "fish");
    const run = (line: string) =>
      spawnSync("fish", ["-c", `source $argv[1]; complete -C '${line}'`, script], {
        encoding: "utf8",
        env: { ...sb.env, PATH: `${bin}:${process.env.PATH}` },
      }).stdout;
    expect(run("claudemesh daemon ins")).toMatch(/^install\tstart the daemon at login/);
    expect(run("claudemesh launch --session-id ")).toMatch(/^api:1\t/);
    sb.touch("go");
    expect((await launch.closed).code).toBe(0);
  });
});
