// `mesh add|list|status|remove` as the daemon serves them, against real nats-servers and a real
// daemon process: an add is checked before it is recorded (a wrong token, a port nothing listens
// on, a name already bound: nothing is written), a bound mesh connects, meshes.json holds paths
// and never a secret, and the bindings survive a restart until they are removed.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { daemonPaths } from "@claudemesh/client";
import { Children, freePort, type NatsServer, startNatsServer } from "@claudemesh/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, http, startDaemonProcess, stopDaemon, tempDir, waitFor } from "../harness.js";

type Json = Record<string, unknown>;
const SECRET = "s3cret-token-never-stored";
const json = { "content-type": "application/json" };

const children = new Children();
let open: NatsServer;
let guarded: NatsServer;
let dir: string;
let secrets: string;

beforeAll(async () => {
  [open, guarded] = await Promise.all([
    startNatsServer({ dir: tempDir(), children }),
    startNatsServer({ dir: tempDir(), children, args: ["--auth", SECRET] }),
  ]);
  dir = tempDir();
  secrets = tempDir();
}, 30_000);

afterAll(async () => {
  await Promise.all([open?.stop(), guarded?.stop()]);
  await children.stopAll();
  await cleanup();
});

function tokenFile(name: string, content: string): string {
  const path = join(secrets, name);
  writeFileSync(path, `${content}\n`, { mode: 0o600 });
  return path;
}

const add = (socket: string, body: Json) =>
  http(socket, "POST", "/v1/meshes", { headers: json, body: JSON.stringify(body) });
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string } }).error;
const meshesFile = () => daemonPaths(dir).meshes;
/** The names meshes.json holds (none when there is no file). */
const stored = (): string[] =>
  existsSync(meshesFile())
    ? (JSON.parse(readFileSync(meshesFile(), "utf8")) as { meshes: { name: string }[] }).meshes.map((m) => m.name)
    : [];

async function list(socket: string): Promise<Json[]> {
  const res = await http(socket, "GET", "/v1/meshes");
  expect(res.status, res.text).toBe(200);
  return (res.json() as { meshes: Json[] }).meshes;
}

async function connected(socket: string, name: string): Promise<Json> {
  let view: Json = {};
  await waitFor(async () => {
    const res = await http(socket, "GET", `/v1/meshes/${name}`);
    view = res.json() as Json;
    const status = view["status"] as Json | null | undefined;
    // The round trip is measured just after the connect: wait for it too.
    return res.status === 200 && status?.["state"] === "connected" && typeof status["rtt_ms"] === "number";
  }, `mesh ${name} to connect`);
  return view;
}

describe("meshes bound to NATS servers, through a real daemon", () => {
  it("adds (201, connected), refuses a second add of the name (409), and records paths, never a secret, at 0600", async () => {
    const daemon = await startDaemonProcess(dir);
    try {
      const res = await add(daemon.socket, { name: "team", servers: [open.url] });
      expect(res.status, res.text).toBe(201);
      expect(res.json()).toMatchObject({ name: "team", servers: [open.url], credentials: null, trust_members: [] });
      const view = await connected(daemon.socket, "team");
      expect(view["status"]).toMatchObject({ server: `127.0.0.1:${open.port}`, remote_peers: 0, outbox: 0 });
      expect(typeof (view["status"] as Json)["rtt_ms"]).toBe("number");
      expect(stored()).toEqual(["team"]);
      expect(statSync(meshesFile()).mode & 0o777).toBe(0o600);

      const before = readFileSync(meshesFile(), "utf8");
      const again = await add(daemon.socket, { name: "team", servers: [guarded.url] });
      expect([again.status, errorOf(again).code]).toEqual([409, "mesh_already_bound"]);
      expect(errorOf(again).message).toMatch(/mesh remove team/);
      expect(readFileSync(meshesFile(), "utf8")).toBe(before);
    } finally {
      await stopDaemon(daemon);
    }
  });

  it("refuses a wrong token (502 nats_auth) and a port nothing listens on (502 nats_unreachable), storing nothing", async () => {
    const daemon = await startDaemonProcess(dir);
    try {
      const wrong = tokenFile("wrong", "not-the-token");
      const refused = await add(daemon.socket, { name: "guarded", servers: [guarded.url], token_file: wrong });
      expect([refused.status, errorOf(refused).code], refused.text).toEqual([502, "nats_auth"]);
      expect(errorOf(refused).message).toContain(wrong);

      const port = await freePort();
      const nowhere = await add(daemon.socket, { name: "nowhere", servers: [`nats://127.0.0.1:${port}`] });
      expect([nowhere.status, errorOf(nowhere).code], nowhere.text).toEqual([502, "nats_unreachable"]);
      expect(errorOf(nowhere).message).toContain(`127.0.0.1:${port}`);

      const missing = await add(daemon.socket, {
        name: "guarded",
        servers: [guarded.url],
        token_file: join(secrets, "absent"),
      });
      expect([missing.status, errorOf(missing).code], missing.text).toEqual([400, "credentials_file"]);

      for (const name of ["guarded", "nowhere"]) {
        const res = await http(daemon.socket, "GET", `/v1/meshes/${name}`);
        expect([res.status, errorOf(res).code]).toEqual([404, "mesh_not_bound"]);
      }
      expect(stored()).toEqual(["team"]);

      // The right token binds it; the file and the log hold its path, never the token.
      const right = tokenFile("right", SECRET);
      const res = await add(daemon.socket, { name: "guarded", servers: [guarded.url], token_file: right });
      expect(res.status, res.text).toBe(201);
      expect(res.json()).toMatchObject({ credentials: { kind: "token", file: right } });
      await connected(daemon.socket, "guarded");
      expect(stored()).toEqual(["team", "guarded"]);
      expect(readFileSync(meshesFile(), "utf8")).not.toContain(SECRET);
      expect(daemon.stderr()).not.toContain(SECRET);
      expect(JSON.stringify(await list(daemon.socket))).not.toContain(SECRET);
    } finally {
      await stopDaemon(daemon);
    }
  });

  it("serves the bindings again after a restart, and a remove (200, then 404) lasts across the next one", async () => {
    let daemon = await startDaemonProcess(dir);
    try {
      expect((await list(daemon.socket)).map((m) => m["name"])).toEqual(["team", "guarded"]);
      await connected(daemon.socket, "team");
      await connected(daemon.socket, "guarded");

      const removed = await http(daemon.socket, "DELETE", "/v1/meshes/team");
      expect([removed.status, removed.json()]).toEqual([200, { removed: "team" }]);
      const twice = await http(daemon.socket, "DELETE", "/v1/meshes/team");
      expect([twice.status, errorOf(twice).code]).toEqual([404, "mesh_not_bound"]);
      expect(stored()).toEqual(["guarded"]);

      expect(await stopDaemon(daemon)).toEqual({ code: 0, signal: null });
      daemon = await startDaemonProcess(dir);
      expect((await list(daemon.socket)).map((m) => m["name"])).toEqual(["guarded"]);
      await connected(daemon.socket, "guarded");
      // The name is free again.
      const back = await add(daemon.socket, { name: "team", servers: [open.url] });
      expect(back.status, back.text).toBe(201);
    } finally {
      await stopDaemon(daemon);
    }
  });

  it("starts with no bindings, and keeps the file, when meshes.json is damaged", async () => {
    const damagedDir = tempDir();
    writeFileSync(daemonPaths(damagedDir).meshes, "{ not json", { mode: 0o600 });
    const daemon = await startDaemonProcess(damagedDir);
    try {
      expect(await list(daemon.socket)).toEqual([]);
      expect(daemon.stderr()).toMatch(/meshes\.json is damaged/);
      const res = await add(daemon.socket, { name: "team", servers: [open.url] });
      expect(res.status, res.text).toBe(201);
      const kept = /"kept_at":"([^"]+)"/.exec(daemon.stderr())?.[1] as string;
      expect(readFileSync(kept, "utf8")).toBe("{ not json");
    } finally {
      await stopDaemon(daemon);
    }
  });
});
