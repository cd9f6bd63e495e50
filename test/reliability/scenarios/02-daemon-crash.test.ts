// 2. Daemon crash: kill -9 the daemon with 50 live sessions (and 10 that end while it is down);
// the next CLI call brings it back; the 50 are listed and their tokens resolve; the 10 are gone.
// The crash comes right after the last registration: what the state file has not saved yet, the
// journal has.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { daemonPaths } from "@claudemesh/client";
import { afterAll, expect, it } from "vitest";
import {
  cleanup,
  cli,
  cliSpawn,
  daemonDir,
  daemonPid,
  http,
  killPid,
  listSessions,
  record,
  tempDir,
  waitFor,
} from "../harness.js";

const programs: number[] = [];

/** Sessions in the state file (not counting the journal), 0 when there is none yet. */
function savedCount(path: string): number {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").length - 1;
  } catch {
    return 0;
  }
}
afterAll(async () => {
  for (const pid of programs) await killPid(pid);
  await cleanup();
});

it("restores the live sessions after kill -9 and drops the ones that ended meanwhile", async () => {
  const dir = daemonDir();
  const marks = tempDir();
  // Each program records its pid and token file path (whole: written aside, then renamed, so a
  // file that is there is never half written), then sleeps.
  const script =
    `echo "$$ $CLAUDEMESH_IPC_TOKEN_FILE" > ${marks}/.$CLAUDEMESH_DISPLAY_NAME && ` +
    `mv ${marks}/.$CLAUDEMESH_DISPLAY_NAME ${marks}/$CLAUDEMESH_DISPLAY_NAME; exec sleep 300`;
  for (let i = 0; i < 60; i++) cliSpawn(dir, ["launch", "--name", `s${i}`, "--", "sh", "-c", script]);
  const recorded = () => readdirSync(marks).filter((name) => !name.startsWith("."));
  await waitFor(() => recorded().length === 60, "60 programs running", 60_000);
  const info = new Map(
    recorded().map((name) => {
      const [pid, tokenFile] = readFileSync(join(marks, name), "utf8").trim().split(" ") as [string, string];
      programs.push(Number(pid));
      return [name, { pid: Number(pid), token: readFileSync(tokenFile, "utf8") }];
    }),
  );
  const socket = daemonPaths(dir).socket;
  await waitFor(async () => (await listSessions(socket)).length === 60, "60 sessions listed");
  // Crash at once: the last registrations are milliseconds old, likely not in the state file yet
  // (its writes are coalesced); the journal has every one of them.
  const daemon = daemonPid(dir) as number;
  await killPid(daemon);
  const inStateFile = savedCount(daemonPaths(dir).state);
  const ending = [...info.keys()].slice(50);
  for (const name of ending) await killPid(info.get(name)?.pid as number);

  const started = performance.now();
  const list = await cli(dir, ["sessions", "list", "--json"]);
  const recoveryMs = performance.now() - started;
  expect(list.code).toBe(0);
  expect(daemonPid(dir)).not.toBe(daemon);
  const listed = (JSON.parse(list.stdout) as { sessions: { display_name: string; pid: number }[] }).sessions;
  expect(listed.map((s) => s.display_name).sort()).toEqual([...info.keys()].slice(0, 50).sort());
  for (const name of [...info.keys()].slice(0, 50)) {
    const me = await http(socket, "GET", "/v1/sessions/me", {
      headers: { authorization: `ClaudeMesh-Session ${info.get(name)?.token}` },
    });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.text).session.display_name).toBe(name);
  }
  for (const name of ending) {
    const me = await http(socket, "GET", "/v1/sessions/me", {
      headers: { authorization: `ClaudeMesh-Session ${info.get(name)?.token}` },
    });
    expect(me.status).toBe(401);
  }
  record("daemon-crash", {
    live: 50,
    ended_while_down: 10,
    restored: listed.length,
    in_state_file_at_crash: inStateFile,
    recovery_cli_call_ms: Math.round(recoveryMs),
  });
});
