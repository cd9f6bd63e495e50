// A 3-node nats-server JetStream cluster for R3: each node from a config file in its own dir
// (server_name, client, route and monitoring ports on 127.0.0.1, its own store), tracked and
// stopped by pid; a node can be killed -9 and started again on the same ports and store.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findNatsServer, freePort, monitorJson, natsGreets } from "./nats.mjs";
import { signalPid, sleep, stopPid, track, untrack, waitGone } from "./proc.mjs";

/** GET a monitoring endpoint, parsed; undefined when it does not answer. */
export const monitor = monitorJson;

/**
 * Starts nodes n1…n<size> routed to each other under `dir`; resolves once every node names the
 * same JetStream meta leader. Returns `{ nodes, urls, node(name), ready(), stop() }`; each node is
 * `{ name, url, port, pid, kill9(), start(), stop(), running() }`.
 */
export async function startCluster(dir, { size = 3 } = {}) {
  const binary = findNatsServer();
  if (binary === undefined) throw new Error("nats-server not found on PATH (apt-get install nats-server)");
  const ports = new Set();
  while (ports.size < size * 3) ports.add(await freePort());
  const [client, route, http] = [0, 1, 2].map((k) => [...ports].slice(k * size, (k + 1) * size));
  const routes = route.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
  const nodes = client.map((port, i) => {
    const name = `n${i + 1}`;
    const home = join(dir, name);
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const file = join(home, "server.conf");
    writeFileSync(
      file,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${port}`,
        `http: 127.0.0.1:${http[i]}`,
        `jetstream { store_dir: "${join(home, "js")}" }`,
        `cluster { name: r3, listen: 127.0.0.1:${route[i]}, routes: [ ${routes} ] }`,
        "",
      ].join("\n"),
    );
    let child;
    let log = "";
    const node = {
      name,
      port,
      monitorPort: http[i],
      url: `nats://127.0.0.1:${port}`,
      get pid() {
        return child?.pid;
      },
      running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      log: () => log,
      async start() {
        child = spawn(binary, ["-c", file], { stdio: ["ignore", "ignore", "pipe"] });
        track(child.pid);
        child.stderr.setEncoding("utf8");
        child.stderr.on("data", (chunk) => {
          log = (log + chunk).slice(-8192);
        });
        const end = performance.now() + 15_000;
        while (!(await natsGreets(port))) {
          if (!node.running() || performance.now() > end) throw new Error(`${name} did not start: ${log.slice(-600)}`);
          await sleep(10);
        }
      },
      async kill9() {
        if (!node.running()) return;
        signalPid(child.pid, "SIGKILL");
        await waitGone(child.pid, 5_000);
        untrack(child.pid);
      },
      async stop() {
        if (child !== undefined) await stopPid(child.pid);
      },
    };
    return node;
  });
  const cluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    node: (name) => nodes.find((n) => n.name === name),
    /** The meta leader once every running node agrees on it. */
    async ready(timeoutMs = 30_000) {
      const end = performance.now() + timeoutMs;
      while (performance.now() < end) {
        const leaders = await Promise.all(
          nodes
            .filter((n) => n.running())
            .map(async (n) => (await monitor(n.monitorPort, "/jsz"))?.meta_cluster?.leader),
        );
        if (leaders[0] && leaders.every((l) => l === leaders[0])) return leaders[0];
        await sleep(50);
      }
      throw new Error("the cluster elected no JetStream meta leader in time");
    },
    stop: () => Promise.all(nodes.map((n) => n.stop())),
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await cluster.ready();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
