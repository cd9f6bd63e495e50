// NATS with leaf nodes for the soak: a hub nats-server with JetStream and a `leafnodes { listen }`
// port, and leaf nats-servers without JetStream, each connecting out to the hub through a TCP
// relay of the bench's own (so that the bench can cut one leaf's link to its hub while both
// servers run: "a leaf loses its hub"). Each server has fixed ports across restarts (a config file
// in its dir), a monitoring port for /leafz and /jsz, and is tracked and stopped by pid.
//
// JetStream across the leaf, as docs/teams.md ("Leafnodes: a server per machine") configures it:
// the hub's JetStream has a domain (`hub`); nats-server 2.9 denies `$JS.API.>` and `$KV.>` across a
// leafnode connection without a shared system account, so each leaf maps them onto the hub's
// domain prefix, which is not denied, and the hub maps that back onto its own API and bucket.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { findNatsServer, freePort, monitorJson, natsGreets } from "./nats.mjs";
import { signalPid, sleep, stopPid, track, untrack, waitGone } from "./proc.mjs";

/** The hub's JetStream domain. */
export const DOMAIN = "hub";

/** GET a monitoring endpoint, parsed; undefined when it does not answer. */
export const monitor = monitorJson;

/** How many leaf connections a server holds now (its /leafz), or -1 when it does not answer. */
export async function leafCount(monitorPort) {
  const leafz = await monitor(monitorPort, "/leafz");
  return leafz === undefined ? -1 : (leafz.leafnodes ?? 0);
}

/**
 * One nats-server with a config file in `dir` (`server.conf`), restartable on the same ports
 * and store. `conf(ports)` renders the config body; `ports` are picked once here.
 */
async function startConfigured(dir, name, extraPorts, conf, { timeoutMs = 15_000 } = {}) {
  const binary = findNatsServer();
  if (binary === undefined) throw new Error("nats-server not found on PATH (apt-get install nats-server)");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ports = { client: await freePort(), monitor: await freePort() };
  for (const key of extraPorts) ports[key] = await freePort();
  const confFile = join(dir, "server.conf");
  writeFileSync(
    confFile,
    `server_name: ${name}\nlisten: 127.0.0.1:${ports.client}\nhttp: 127.0.0.1:${ports.monitor}\n${conf(ports)}\n`,
  );
  let child;
  let log = "";
  let exited;
  const spawnIt = async () => {
    exited = undefined;
    const since = performance.now();
    child = spawn(binary, ["-c", confFile], { stdio: ["ignore", "ignore", "pipe"] });
    track(child.pid);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      log = (log + chunk).slice(-65_536);
    });
    const mine = child;
    child.once("exit", (code, signal) => {
      if (mine === child) exited = `exited (${signal ?? code})`;
    });
    child.once("error", (error) => {
      if (mine === child) exited = error.message;
    });
    const end = performance.now() + timeoutMs;
    while (!(await natsGreets(ports.client))) {
      if (exited !== undefined || performance.now() > end) {
        await stopPid(child.pid);
        throw new Error(
          `${name} on port ${ports.client} ${exited ?? "did not greet in time"}; its log: ${log.slice(-600)}`,
        );
      }
      await sleep(5);
    }
    return performance.now() - since;
  };
  const handle = {
    name,
    dir,
    ports,
    url: `nats://127.0.0.1:${ports.client}`,
    get pid() {
      return child.pid;
    },
    readyMs: await spawnIt(),
    log: () => log,
    running: () => exited === undefined,
    /** SIGTERM (a clean stop: JetStream flushed), then SIGKILL after the grace. */
    stop: () => stopPid(child.pid, { graceMs: 10_000 }),
    async kill9() {
      signalPid(child.pid, "SIGKILL");
      await waitGone(child.pid, 5_000);
      untrack(child.pid);
    },
    pause: () => signalPid(child.pid, "SIGSTOP"),
    resume: () => signalPid(child.pid, "SIGCONT"),
    /** Stops it (SIGTERM) and starts it again on the same ports and store; ms from the stop to ready. */
    async restart() {
      const t0 = performance.now();
      await handle.stop();
      await spawnIt();
      return performance.now() - t0;
    },
  };
  return handle;
}

/** The hub: JetStream (store `<dir>/js`, domain `hub`), clients on `url`, leaf nodes on `ports.leaf`. */
export function startHub(dir, options) {
  const store = join(dir, "js");
  mkdirSync(store, { recursive: true, mode: 0o700 });
  return startConfigured(
    dir,
    "hub",
    ["leaf", "unreachable"],
    (ports) =>
      [
        `jetstream { store_dir: "${store}", domain: ${DOMAIN} }`,
        // The hub tells its leaves its leafnode URL, and a leaf then reconnects there as well as to
        // its configured one (`no_advertise` does not stop it on 2.9.10): advertised is a port where
        // nobody listens, so that a leaf reaches the hub only through its relay.
        `leafnodes { listen: 127.0.0.1:${ports.leaf}, advertise: "127.0.0.1:${ports.unreachable}" }`,
      ].join("\n"),
    options,
  ).then((hub) => Object.assign(hub, { storeDir: store }));
}

/** A leaf without JetStream, connecting out to `hubLeafPort` (the hub's leaf port, or a relay's), mapping the JetStream API and the bucket onto the hub's domain. */
export function startLeaf(dir, name, hubLeafPort, options) {
  return startConfigured(
    dir,
    name,
    [],
    () =>
      [
        `leafnodes { reconnect: 1, remotes: [ { url: "nats-leaf://127.0.0.1:${hubLeafPort}" } ] }`,
        `mappings { "$JS.API.>": "$JS.${DOMAIN}.API.>", "$KV.>": "$JS.${DOMAIN}.API.$KV.>" }`,
      ].join("\n"),
    options,
  );
}

/** Polls until `monitorPort`'s server holds `want` leaf connections (or throws after `timeoutMs`). */
export async function waitLeafCount(monitorPort, want, timeoutMs = 15_000) {
  const end = performance.now() + timeoutMs;
  let seen = -1;
  while (performance.now() < end) {
    seen = await leafCount(monitorPort);
    if (seen === want) return;
    await sleep(50);
  }
  throw new Error(`leaf connections on monitor port ${monitorPort}: ${seen}, wanted ${want} within ${timeoutMs} ms`);
}

/**
 * A TCP relay on a free 127.0.0.1 port to `targetPort`: a leaf's link to its hub goes through it.
 * `cut()` destroys every relayed connection at once (both servers see the link reset) and turns
 * new ones away (accepted, then closed) until `mend()`: the leaf keeps its own clients, and
 * loses its hub.
 */
export async function startRelay(targetPort) {
  const pairs = new Set();
  let cut = false;
  let accepted = 0;
  const server = createServer((inbound) => {
    accepted++;
    if (cut) {
      inbound.destroy();
      return;
    }
    const outbound = tcpConnect({ host: "127.0.0.1", port: targetPort });
    const pair = { inbound, outbound };
    pairs.add(pair);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on("error", close);
    outbound.on("error", close);
    inbound.on("close", close);
    outbound.on("close", close);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  const port = await freePort();
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    port,
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    get isCut() {
      return cut;
    },
    cut() {
      cut = true;
      for (const { inbound, outbound } of pairs) {
        inbound.destroy();
        outbound.destroy();
      }
      pairs.clear();
    },
    mend() {
      cut = false;
    },
    close() {
      cut = true;
      for (const { inbound, outbound } of pairs) {
        inbound.destroy();
        outbound.destroy();
      }
      pairs.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
