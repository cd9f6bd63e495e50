#!/usr/bin/env node
// Makes the pinned Claude Code CLI of tools/claude-code/package.json available to the tests, at
// tools/claude-code/node_modules/.bin/claude. Idempotent: when the installed binary already
// reports the pinned version this only runs `claude --version` (a tenth of a second); otherwise
// it runs `npm ci` from the committed package-lock.json. Its postinstall links the native binary,
// so install scripts must run. Exit 1, saying why, when the binary still does not work after.
// Test files may run it side by side: one installs (holding tools/claude-code/.ensure.lock), the
// others wait for it and find the binary there.
import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const DIR = dirname(fileURLToPath(import.meta.url));
const PACKAGE = "@anthropic-ai/claude-code";
const CLAUDE_BIN = join(DIR, "node_modules", ".bin", "claude");

const LOCK = join(DIR, ".ensure.lock");
const pinned = JSON.parse(readFileSync(join(DIR, "package.json"), "utf8")).dependencies[PACKAGE];

/** Why the installed binary is not the pinned one; undefined when it is. */
function problem() {
  try {
    accessSync(CLAUDE_BIN, constants.X_OK);
  } catch {
    return "node_modules/.bin/claude is missing";
  }
  let installed;
  try {
    installed = JSON.parse(readFileSync(join(DIR, "node_modules", PACKAGE, "package.json"), "utf8")).version;
  } catch {
    return `${PACKAGE} is not installed`;
  }
  if (installed !== pinned) return `${PACKAGE} ${installed} is installed, not ${pinned}`;
  // The package's bin is a placeholder until its postinstall links the native binary.
  const run = spawnSync(CLAUDE_BIN, ["--version"], {
    encoding: "utf8",
    timeout: 30_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const said = (run.stdout ?? "").trim().split("\n")[0] ?? "";
  if (run.status !== 0 || !said.startsWith(`${pinned} `)) {
    return `claude --version says ${JSON.stringify(said || (run.stderr ?? "").trim() || String(run.error))}`;
  }
  return undefined;
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

/** Takes the lock dir; one left by a process that is gone (or that never wrote its pid) is taken over. */
function lock() {
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, "pid"), String(process.pid));
      return;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    let pid;
    try {
      pid = Number(readFileSync(join(LOCK, "pid"), "utf8"));
    } catch {
      pid = undefined;
    }
    let age = 0;
    try {
      age = Date.now() - statSync(LOCK).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    if (pid ? !alive(pid) : age > 10_000) rmSync(LOCK, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`${LOCK} is still held by pid ${pid}`);
    else sleep(200);
  }
}

/** Runs npm ci; says why the binary is still not usable after, or undefined when it is. */
function install() {
  const npm = spawnSync(
    "npm",
    ["ci", "--prefix", DIR, "--engine-strict=false", "--no-audit", "--no-fund", "--loglevel=error"],
    { stdio: ["ignore", "inherit", "inherit"], timeout: 600_000 },
  );
  if (npm.status !== 0) return `npm ci failed (${npm.error ?? `exit ${npm.status}`})`;
  const after = problem();
  return after === undefined ? undefined : `still not usable after npm ci: ${after}`;
}

if (problem() !== undefined) {
  let failure;
  lock();
  try {
    const before = problem(); // another run may have installed it while this one waited
    if (before !== undefined) {
      process.stderr.write(`tools/claude-code: ${before}; installing ${PACKAGE}@${pinned} (npm ci)\n`);
      failure = install();
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
  if (failure !== undefined) {
    process.stderr.write(`tools/claude-code: ${failure}\n`);
    process.exit(1);
  }
}
