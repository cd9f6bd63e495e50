// 8. Secrets at rest: after a run that exercises launches, registrations, lookups, restarts, a
// crash and a corrupt state file, every file in the daemon dir is 0600 and the dir 0700, and no
// token used in the run appears in any file or log.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { daemonPaths } from "@claudemesh/client";
import { afterAll, expect, it } from "vitest";
import {
  cleanup,
  cli,
  daemonDir,
  daemonPid,
  http,
  killPid,
  record,
  register,
  spawnSleeper,
  tempDir,
  token,
  waitFor,
} from "../harness.js";

afterAll(cleanup);

it("leaves only 0600 files, a 0700 dir, and no token anywhere in them", async () => {
  const dir = daemonDir();
  const collected = tempDir();
  const tokens = new Set<string>();

  // Launched sessions: each program copies its token out so that the test knows it.
  for (let i = 0; i < 5; i++) {
    const copy = `cp "$CLAUDEMESH_IPC_TOKEN_FILE" ${collected}/t${i}`;
    const result = await cli(dir, ["launch", "--name", `secret-${i}`, "--", "sh", "-c", copy]);
    expect(result.code).toBe(0);
  }
  for (const file of readdirSync(collected)) tokens.add(readFileSync(join(collected, file), "utf8").trim());

  // Registrations and lookups over HTTP with known tokens, some left registered.
  const socket = daemonPaths(dir).socket;
  const sleeper = spawnSleeper();
  for (let n = 1; n <= 10; n++) {
    const t = token(0xabc000 + n);
    tokens.add(t);
    await register(socket, { token: t, pid: sleeper.pid, session_id: `http-${n}` });
    await http(socket, "GET", "/v1/sessions/me", { headers: { authorization: `ClaudeMesh-Session ${t}` } });
    if (n % 2 === 0)
      await http(socket, "DELETE", "/v1/sessions/me", { headers: { authorization: `ClaudeMesh-Session ${t}` } });
  }
  // Bad requests that carry tokens where they must not be: the query string, a bad body.
  await http(socket, "GET", `/v1/sessions?token=${token(0xabc001)}`);
  await http(socket, "POST", "/v1/sessions/register", { body: `{"token":"${token(0xabc002)}","pid":-1}` });
  expect((await cli(dir, ["daemon", "restart"])).code).toBe(0);
  await killPid(daemonPid(dir) as number); // crash
  await waitFor(async () => (await cli(dir, ["sessions", "list"])).code === 0, "restart after crash");
  await waitFor(() => readFileSync(daemonPaths(dir).state, "utf8").includes("http-9"), "state saved");
  // A corrupt state file is set aside at the next start: it must not leak either.
  expect((await cli(dir, ["daemon", "stop"])).code).toBe(0);
  writeFileSync(daemonPaths(dir).state, `${readFileSync(daemonPaths(dir).state, "utf8")}garbage`, { mode: 0o600 });
  expect((await cli(dir, ["daemon", "start"])).code).toBe(0);
  expect((await cli(dir, ["daemon", "stop"])).code).toBe(0);

  expect(tokens.size).toBe(15);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  const files = readdirSync(dir);
  expect(files).toEqual(expect.arrayContaining(["daemon.log", "sessions.jsonl"]));
  expect(files.some((f) => f.startsWith("sessions.jsonl.corrupt-"))).toBe(true);
  const modes: Record<string, string> = {};
  for (const file of files) {
    const path = join(dir, file);
    modes[file] = (statSync(path).mode & 0o777).toString(8);
    expect([file, modes[file]]).toEqual([file, "600"]);
    const content = readFileSync(path, "latin1");
    for (const t of tokens) expect(content.includes(t), `${file} contains a token`).toBe(false);
  }
  record("secrets-at-rest", { files: modes, tokens_checked: tokens.size });
});
