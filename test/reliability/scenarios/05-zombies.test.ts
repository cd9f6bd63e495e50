// 5. Zombies: a session process that has exited but is not yet reaped by its parent is removed.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, expect, it } from "vitest";
import {
  cleanup,
  daemonDir,
  listSessions,
  procState,
  record,
  register,
  startDaemon,
  token,
  track,
  waitFor,
} from "../harness.js";

afterAll(cleanup);

it("removes a session whose process is a zombie", async () => {
  const { socket } = await startDaemon(daemonDir(), ["--reaper-interval-ms", "200"]);
  // sh starts `sleep 1` in the background, then becomes `sleep 300` and never waits for it.
  const parent = track(
    spawn("sh", ["-c", "sleep 1 & echo $!; exec sleep 300"], { stdio: ["ignore", "pipe", "ignore"] }),
  );
  const [chunk] = (await once(parent.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  const pid = Number(chunk.toString().trim());
  expect((await register(socket, { token: token(1), pid, session_id: "zombie" })).status).toBe(200);
  await waitFor(() => procState(pid) === "Z", "the child to become a zombie");
  const zombieSince = performance.now();
  await waitFor(async () => (await listSessions(socket)).length === 0, "the zombie session to be removed");
  expect(procState(pid)).toBe("Z"); // still a zombie: removed because of that, not because it vanished
  record("zombies", {
    removed_after_becoming_zombie_ms: Math.round(performance.now() - zombieSince),
    reaper_interval_ms: 200,
  });
});
