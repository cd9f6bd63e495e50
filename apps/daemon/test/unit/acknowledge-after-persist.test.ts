// A registration or deregistration is answered only once it is persisted (the journal write):
// a client that heard "ok" can rely on the change surviving a daemon crash.
import type { Server } from "node:http";
import { join } from "node:path";
import { type ProcessProbe, SessionRegistry } from "@claudemesh/registry";
import { afterEach, describe, expect, it } from "vitest";
import { EventHub } from "../../src/events/event-hub.js";
import { EventLog } from "../../src/events/event-log.js";
import { createRoutes } from "../../src/http/routes.js";
import { createHttpServer } from "../../src/http/server.js";
import { DaemonMetrics } from "../../src/metrics.js";
import { http } from "../harness.js";
import { meshParts, TempDirs, waitFor } from "./helpers.js";

const dirs = new TempDirs();
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  dirs.removeAll();
});

const alive: ProcessProbe = {
  probe: async (pids) => new Map(pids.map((pid) => [pid, { state: "alive", startTime: "boot:1" }])),
};

/** A server over a real registry whose persistence completes only when the test says so. */
async function serve() {
  const registry = new SessionRegistry();
  let release: () => void = () => {};
  let persisted = Promise.resolve();
  const hold = () => {
    persisted = new Promise((resolve) => {
      release = resolve;
    });
  };
  const log = new EventLog();
  const hub = new EventHub(log);
  const metrics = new DaemonMetrics({
    sessions: () => registry.size,
    eventStreams: () => hub.size,
    stateWriteFailures: () => 0,
    journalWriteFailures: () => 0,
  });
  const routes = createRoutes({
    registry,
    probe: alive,
    hub,
    metrics,
    ...meshParts({ registry, log, hub, metrics, dir: dirs.make("cmu-ack-") }),
    startedAt: Date.now(),
    persisted: () => persisted,
  });
  const server = createHttpServer(routes);
  servers.push(server);
  const socket = join(dirs.make("cmu-ack-"), "s.sock");
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { registry, socket, hold, release: () => release() };
}

const token = "ab".repeat(32);
const registration = {
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ token, pid: process.pid, session_id: "s1" }),
};

/**
 * Sends `request` while persistence is held, waits until the registry shows its change, and
 * checks that no answer came before persistence was released.
 */
async function expectAnswerAfterPersist(
  server: Awaited<ReturnType<typeof serve>>,
  request: () => ReturnType<typeof http>,
  applied: () => boolean,
): Promise<void> {
  server.hold();
  let answered = false;
  const answer = request().then((res) => {
    answered = true;
    return res;
  });
  await waitFor(applied, "the change to be applied");
  // Applied, but not persisted: the client must not have its answer yet, even after another
  // request has made a whole round trip (an answer sent at once would have arrived by then).
  expect((await http(server.socket, "GET", "/v1/version")).status).toBe(200);
  expect(answered).toBe(false);
  server.release();
  expect((await answer).status).toBe(200);
}

describe("acknowledging a change", () => {
  it("answers a registration only after it is persisted", async () => {
    const server = await serve();
    await expectAnswerAfterPersist(
      server,
      () => http(server.socket, "POST", "/v1/sessions/register", registration),
      () => server.registry.size === 1,
    );
  });

  it("answers a deregistration only after it is persisted", async () => {
    const server = await serve();
    expect((await http(server.socket, "POST", "/v1/sessions/register", registration)).status).toBe(200);
    await expectAnswerAfterPersist(
      server,
      () =>
        http(server.socket, "DELETE", "/v1/sessions/me", { headers: { authorization: `ClaudeMesh-Session ${token}` } }),
      () => server.registry.size === 0,
    );
  });
});
