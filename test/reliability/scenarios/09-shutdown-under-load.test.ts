// 9. Shutdown under load: 20 open event streams and 50 keep-alive connections; SIGTERM ends the
// daemon within 2 s, socket and lock removed, state saved.
import { existsSync, readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { daemonPaths } from "@claudemesh/client";
import { afterAll, expect, it } from "vitest";
import { cleanup, daemonDir, record, register, spawnSleeper, startDaemon, token, waitFor } from "../harness.js";

afterAll(cleanup);

it("stops within 2 s with 20 event streams and 50 keep-alive connections open", async () => {
  const dir = daemonDir();
  const daemon = await startDaemon(dir);
  const sleeper = spawnSleeper();
  for (let n = 1; n <= 5; n++)
    await register(daemon.socket, { token: token(n), pid: sleeper.pid, session_id: `keep-${n}` });

  let streams = 0;
  for (let i = 0; i < 20; i++) {
    const req = request({ socketPath: daemon.socket, path: "/v1/events", agent: false }, () => streams++);
    req.on("error", () => {});
    req.end();
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  await Promise.all(
    Array.from(
      { length: 50 },
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request({ socketPath: daemon.socket, path: "/v1/health", agent }, (res) => {
            res.resume();
            res.on("end", () => resolve());
          });
          req.on("error", reject);
          req.end();
        }),
    ),
  );
  await waitFor(() => streams === 20, "20 open streams");
  const keepAlive = Object.values(agent.freeSockets).flat().length;

  const exited = new Promise<number | null>((resolve) => daemon.child.once("exit", (code) => resolve(code)));
  const started = performance.now();
  daemon.child.kill("SIGTERM");
  const code = await exited;
  const took = performance.now() - started;
  agent.destroy();
  expect(code).toBe(0);
  expect(took).toBeLessThan(2_000);
  const paths = daemonPaths(dir);
  expect(existsSync(paths.socket)).toBe(false);
  expect(existsSync(paths.lock)).toBe(false);
  const state = readFileSync(paths.state, "utf8");
  for (let n = 1; n <= 5; n++) expect(state).toContain(`"session_id":"keep-${n}"`);
  record("shutdown-under-load", {
    event_streams: streams,
    keep_alive_connections: keepAlive,
    shutdown_ms: Math.round(took),
  });
});
