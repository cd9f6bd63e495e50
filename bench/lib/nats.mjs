// NATS for the benchmarks of meshes across machines (M2, M3): a real nats-server with JetStream,
// on a free 127.0.0.1 port with a store dir of the caller's, ready once it greets a TCP client
// with INFO, tracked and stopped by pid; the nats.js client the daemon itself uses (resolved from
// apps/daemon, for the raw baselines); and a daemon dir with a mesh bound, written with the mesh
// package's own codec, as `claudemesh mesh add` records it.
import { spawn } from "node:child_process";
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createRequire } from "node:module";
import { connect, createServer } from "node:net";
import { delimiter, join } from "node:path";
import { encodeMeshConfig, parseMeshBinding } from "../../packages/mesh/dist/index.js";
import { PATHS } from "./daemon.mjs";
import { sleep, stopPid, track } from "./proc.mjs";

/** nats-server on PATH (or in /usr/sbin, where Debian's package puts it), or undefined. */
export function findNatsServer() {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin"];
  for (const dir of dirs) {
    const candidate = join(dir || ".", "nats-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A port that was free on 127.0.0.1 a moment ago (the kernel's pick, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Does a NATS server answer on 127.0.0.1:port? It greets every new connection with `INFO {...}`. */
export function natsGreets(port, timeoutMs = 1_000) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let greeting = "";
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
    socket.on("data", (chunk) => {
      greeting += chunk.toString("latin1");
      if (greeting.length >= 5) done(greeting.startsWith("INFO "));
    });
  });
}

/** GET a monitoring endpoint of a nats-server (`/varz`, `/jsz`, `/leafz`), parsed; undefined when it does not answer. */
export function monitorJson(port, path, timeoutMs = 1_000) {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve(undefined);
        }
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/**
 * `nats-server -js -sd <dir>/js -a 127.0.0.1 -p <free port>` (and `-m <free port>` with
 * `monitor: true`), resolved once it greets a client. Returns `{ url, port, pid, readyMs, log(),
 * stop() }`, plus `monitorPort` and `monitor(path)` when monitored; stop() is SIGTERM by pid, then
 * SIGKILL.
 */
export async function startNatsServer(dir, { timeoutMs = 15_000, monitor = false } = {}) {
  const binary = findNatsServer();
  if (binary === undefined) throw new Error("nats-server not found on PATH (apt-get install nats-server)");
  const storeDir = join(dir, "js");
  mkdirSync(storeDir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const monitorPort = monitor ? await freePort() : undefined;
  const args = ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)];
  if (monitorPort !== undefined) args.push("-m", String(monitorPort));
  const since = performance.now();
  const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  track(child.pid);
  let log = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    log = (log + chunk).slice(-8192);
  });
  let exited;
  child.once("exit", (code, signal) => {
    exited = `exited (${signal ?? code})`;
  });
  child.once("error", (error) => {
    exited = error.message;
  });
  const handle = {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    readyMs: Number.NaN,
    log: () => log,
    stop: () => stopPid(child.pid),
    ...(monitorPort !== undefined && {
      monitorPort,
      monitor: (path) => monitorJson(monitorPort, path, 5_000),
    }),
  };
  const end = performance.now() + timeoutMs;
  while (!(await natsGreets(port))) {
    if (exited !== undefined || performance.now() > end) {
      await handle.stop();
      throw new Error(`nats-server on port ${port} ${exited ?? "did not greet in time"}; its log: ${log.slice(-600)}`);
    }
    await sleep(5);
  }
  handle.readyMs = performance.now() - since;
  return handle;
}

/** The nats.js v3 modules the daemon runs on, from apps/daemon's node_modules (CommonJS). */
export function natsClient() {
  const require = createRequire(join(PATHS.root, "apps/daemon/package.json"));
  return {
    nats: require("@nats-io/transport-node"),
    jetstream: require("@nats-io/jetstream"),
    kv: require("@nats-io/kv"),
  };
}

/** Did a request fail with "no responders" (the server knows nobody listens on the subject)? */
export function isNoResponders(error) {
  return typeof error?.isNoResponders === "function" && error.isNoResponders();
}

/** A daemon dir (made 0700 if missing) with mesh `name` bound to `url`, its meshes.json at 0600. */
export function writeMeshBinding(dir, name, url) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const parsed = parseMeshBinding({ name, servers: [url] }, Date.now());
  if (!parsed.ok) throw new Error(`mesh binding: ${parsed.error}`);
  writeFileSync(join(dir, "meshes.json"), encodeMeshConfig({ meshes: [parsed.value] }), { mode: 0o600 });
  return dir;
}
