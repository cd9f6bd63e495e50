// 7. Another user: a process running as another uid cannot connect to the socket or read any
// file of the daemon dir.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  CLI,
  cleanup,
  cli,
  daemonDir,
  record,
  register,
  spawnSleeper,
  startDaemon,
  token,
  waitFor,
} from "../harness.js";

afterAll(cleanup);

/** Runs a command as `nobody` (uid 65534) with no supplementary groups. */
function asNobody(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", command, ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env,
  });
}

it("keeps the socket and every file out of reach of another user", async () => {
  const dir = daemonDir();
  const { socket } = await startDaemon(dir);
  const sleeper = spawnSleeper();
  await register(socket, { token: token(7), pid: sleeper.pid });
  await waitFor(() => readdirSync(dir).includes("sessions.jsonl"), "state file");
  expect(asNobody("id", ["-u"]).stdout.trim()).toBe("65534");

  const connect = asNobody(process.execPath, [
    "-e",
    `require("net").connect(${JSON.stringify(socket)}).on("connect", () => { console.log("CONNECTED"); process.exit(0) }).on("error", (e) => { console.log(e.code); process.exit(1) })`,
  ]);
  expect(connect.stdout.trim()).toBe("EACCES");
  const files = readdirSync(dir);
  const reads = Object.fromEntries(files.map((f) => [f, asNobody("cat", [join(dir, f)]).status]));
  for (const [file, status] of Object.entries(reads)) expect(status, file).not.toBe(0);
  const listing = asNobody("ls", [dir]);
  expect(listing.status).not.toBe(0);
  // Even with the dir path set, the other user's CLI cannot reach this daemon.
  const otherCli = asNobody(process.execPath, [CLI, "sessions", "list"], {
    ...process.env,
    CLAUDEMESH_DAEMON_DIR: dir,
  });
  expect(otherCli.status).not.toBe(0);
  expect((await cli(dir, ["sessions", "list", "--json"])).code).toBe(0);
  record("other-user", {
    connect_error: connect.stdout.trim(),
    files_checked: files.length,
    other_cli_exit: otherCli.status,
  });
});
