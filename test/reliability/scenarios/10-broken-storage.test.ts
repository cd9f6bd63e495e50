// 10. Broken storage: a truncated or garbage state file; a full or read-only daemon dir while
// running (a small tmpfs). The daemon starts or keeps serving, logs the fault, and loses
// nothing it could keep.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { daemonPaths } from "@claudemesh/client";
import { afterEach, expect, it } from "vitest";
import {
  cleanup,
  daemonDir,
  http,
  listSessions,
  record,
  register,
  spawnSleeper,
  startDaemon,
  tempDir,
  token,
  waitFor,
} from "../harness.js";

const mounts: string[] = [];
afterEach(async () => {
  // Lazily detach the test file systems first, so that their mount points can be removed.
  for (const mount of mounts.splice(0)) spawnSync("umount", ["-l", mount]);
  await cleanup();
});

/** A fresh tmpfs of `size` (0700), unmounted after the file's tests. */
function mountTmpfs(size: string): string {
  const mount = join(tempDir(), "fs");
  mkdirSync(mount, { mode: 0o700 });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", mount]);
  mounts.push(mount);
  return mount;
}

function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

it.each([
  ["truncated", (valid: string) => valid.slice(0, Math.floor(valid.length * 0.6))],
  ["garbage", () => "\u0000\u0001 not a state file at all \uFFFD\n"],
])("starts with a %s state file, sets it aside and logs it", async (_kind, damage) => {
  const dir = daemonDir();
  const sleeper = spawnSleeper();
  let daemon = await startDaemon(dir);
  await register(daemon.socket, { token: token(1), pid: sleeper.pid, session_id: "before" });
  await waitFor(() => readFileSync(daemonPaths(dir).state, "utf8").includes("before"), "state written");
  // And the journal generation that held it deleted: the state file is then its only copy, which
  // this test damages. (Were the journal still holding it, the session would rightly come back.)
  await waitFor(
    () =>
      readdirSync(dir)
        .filter((name) => name.startsWith("sessions.journal."))
        .every((name) => !readFileSync(join(dir, name), "utf8").includes("before")),
    "the journal folded into the state file",
  );
  daemon.child.kill("SIGKILL");
  await new Promise((r) => daemon.child.once("exit", r));
  const valid = readFileSync(daemonPaths(dir).state, "utf8");
  writeFileSync(daemonPaths(dir).state, damage(valid));

  daemon = await startDaemon(dir);
  expect(await listSessions(daemon.socket)).toEqual([]);
  expect((await register(daemon.socket, { token: token(2), pid: sleeper.pid })).status).toBe(200);
  const aside = readdirSync(dir).filter((f) => f.includes(".corrupt-"));
  expect(aside).toHaveLength(1);
  expect(readFileSync(join(dir, aside[0] as string), "utf8")).toBe(damage(valid));
  expect(daemon.stderr()).toContain("state file is corrupt");
  expect(daemon.stderr()).toContain("state file set aside");
});

it("keeps serving on a full disk, logs the failed writes, and saves once space is back", async () => {
  const mount = mountTmpfs("256k");
  const dir = join(mount, "d");
  const daemon = await startDaemon(dir, ["--reaper-interval-ms", "200"]);
  const sleeper = spawnSleeper();
  await register(daemon.socket, { token: token(1), pid: sleeper.pid, session_id: "kept-1" });
  await waitFor(() => readFileSync(daemonPaths(dir).state, "utf8").includes("kept-1"), "first state write");

  // Fill the file system to the last byte.
  const filler = join(mount, "filler");
  spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { stdio: "ignore" });
  for (let n = 2; n <= 20; n++) {
    expect((await register(daemon.socket, { token: token(n), pid: sleeper.pid, session_id: `kept-${n}` })).status).toBe(
      200,
    );
  }
  await waitFor(
    async () => metric((await http(daemon.socket, "GET", "/v1/metrics")).text, "claudemesh_state_write_failures") > 0,
    "a failed write",
  );
  expect((await http(daemon.socket, "GET", "/v1/health")).status).toBe(200);
  expect(await listSessions(daemon.socket)).toHaveLength(20);
  const failures = metric((await http(daemon.socket, "GET", "/v1/metrics")).text, "claudemesh_state_write_failures");
  expect(daemon.stderr()).toMatch(/could not write the state file; will retry.*ENOSPC/);

  // Space comes back: the retry saves everything.
  spawnSync("rm", ["-f", filler]);
  await waitFor(() => readFileSync(daemonPaths(dir).state, "utf8").includes("kept-20"), "the retried write", 60_000);
  expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  record("broken-storage-full-disk", { sessions: 20, consecutive_failed_writes_seen: failures, recovered: true });
});

/**
 * Remounts `mount` read-only. The kernel refuses ("busy") while a file on it is open for writing:
 * the daemon holds none between writes, but one of its writes may be under way at that instant.
 */
async function remountReadOnly(mount: string): Promise<void> {
  await waitFor(() => {
    try {
      execFileSync("mount", ["-o", "remount,ro", mount], { stdio: "pipe" });
      return true;
    } catch (error) {
      if (/busy/.test(String((error as { stderr?: Buffer }).stderr ?? error))) return false;
      throw error;
    }
  }, "a read-only remount");
}

it("keeps serving when the dir turns read-only, and saves once it is writable again", async () => {
  const mount = mountTmpfs("1m");
  const dir = join(mount, "d");
  const daemon = await startDaemon(dir);
  const sleeper = spawnSleeper();
  await register(daemon.socket, { token: token(1), pid: sleeper.pid, session_id: "ro-1" });
  await waitFor(() => readFileSync(daemonPaths(dir).state, "utf8").includes("ro-1"), "first write");
  await remountReadOnly(mount);
  await register(daemon.socket, { token: token(2), pid: sleeper.pid, session_id: "ro-2" });
  await waitFor(
    async () => metric((await http(daemon.socket, "GET", "/v1/metrics")).text, "claudemesh_state_write_failures") > 0,
    "a failed write",
  );
  expect(await listSessions(daemon.socket)).toHaveLength(2);
  expect(daemon.stderr()).toMatch(/could not write the state file; will retry.*EROFS/);
  expect(daemon.stderr()).toMatch(/could not append to the journal.*EROFS/);
  expect(
    metric((await http(daemon.socket, "GET", "/v1/metrics")).text, "claudemesh_journal_write_failures"),
  ).toBeGreaterThan(0);
  execFileSync("mount", ["-o", "remount,rw", mount]);
  await waitFor(() => readFileSync(daemonPaths(dir).state, "utf8").includes("ro-2"), "the retried write", 60_000);
  record("broken-storage-read-only", { recovered: true });
});
