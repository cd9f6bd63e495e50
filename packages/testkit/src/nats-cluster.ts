// Several real nats-servers for tests, each from a config file of its own: a JetStream cluster
// (routes between the nodes, each node its own store dir and server_name), and a hub with
// leafnodes (each leaf connects out to the hub; only the hub listens for leafnodes). As in nats.ts:
// free ports on 127.0.0.1 only, temp dirs of the test's own, ready once the server greets a client
// (and, for a cluster, once every node knows the JetStream meta leader), stopped by pid; each node
// can be killed -9, stopped, paused and restarted on the same ports and store.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findExecutable, freePort, NATS_SERVER_MISSING, natsGreets } from "./nats.js";
import { type Children, killAndWait, pausePid, resumePid, stopChild } from "./processes.js";
import { makeTempDir, removeDir } from "./temp.js";
import { waitFor } from "./wait.js";

export interface NatsNode {
  readonly name: string;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The monitoring URL (`http://127.0.0.1:<port>`): /varz, /jsz, /leafz, /routez. */
  readonly monitorUrl: string;
  readonly dir: string;
  /** The running process's pid: a new one after each restart. */
  readonly pid: number;
  /** Everything the server logged so far, over all its runs. */
  log(): string;
  running(): boolean;
  /** A clean stop (SIGTERM; SIGKILL after 10 s), waited for. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: a crash, nothing flushed. */
  kill9(): Promise<void>;
  /** SIGSTOP: the ports stay open but nothing answers. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stops it if running, then starts it again on the same ports and store (with `config` if given), ready. */
  restart(config?: string): Promise<void>;
}

const running = (child: ChildProcess | undefined): child is ChildProcess =>
  child?.pid !== undefined && child.exitCode === null && child.signalCode === null;

/** One nats-server run as `nats-server -c <dir>/server.conf`; the config is the caller's text. */
class ConfiguredNode implements NatsNode {
  readonly url: string;
  readonly monitorUrl: string;
  #child: ChildProcess | undefined;
  #log = "";

  constructor(
    private readonly binary: string,
    readonly name: string,
    readonly dir: string,
    readonly port: number,
    readonly monitorPort: number,
    private config: string,
    private readonly children: Children | undefined,
    private readonly readyMs: number,
  ) {
    this.url = `nats://127.0.0.1:${port}`;
    this.monitorUrl = `http://127.0.0.1:${monitorPort}`;
  }

  get pid(): number {
    if (this.#child?.pid === undefined) throw new Error(`nats-server ${this.name} is not running`);
    return this.#child.pid;
  }

  log(): string {
    return this.#log;
  }

  running(): boolean {
    return running(this.#child);
  }

  async start(): Promise<void> {
    if (running(this.#child)) throw new Error(`nats-server ${this.name} already runs as pid ${this.#child.pid}`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, "server.conf");
    writeFileSync(file, this.config, { mode: 0o600 });
    const child = spawn(this.binary, ["-c", file], { stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    this.children?.track(child);
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      this.#log += s;
    });
    let failure: string | undefined;
    child.once("error", (error) => {
      failure = error.message;
    });
    child.once("exit", (code, signal) => {
      failure ??= `exited (${signal ?? code})`;
    });
    try {
      await waitFor(
        async () => failure !== undefined || natsGreets(this.port),
        `nats-server ${this.name} on ${this.url} to greet a client`,
        this.readyMs,
      );
    } catch (error) {
      await this.kill9();
      throw new Error(`${(error as Error).message}; its log:\n${this.#log}`);
    }
    if (failure !== undefined)
      throw new Error(`nats-server ${this.name} did not start: ${failure}; its log:\n${this.#log}`);
  }

  async stop(): Promise<void> {
    await stopChild(this.#child);
  }

  async kill9(): Promise<void> {
    if (this.#child) await killAndWait(this.#child, "SIGKILL");
  }

  async pause(): Promise<void> {
    await pausePid(this.pid, `nats-server ${this.name}`);
  }

  async resume(): Promise<void> {
    await resumePid(this.pid, `nats-server ${this.name}`);
  }

  async restart(config?: string): Promise<void> {
    await this.stop();
    if (config !== undefined) this.config = config;
    await this.start();
  }
}

/** Free ports, distinct from each other (the kernel may hand the same one out twice once released). */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** GET a monitoring endpoint's JSON. */
export async function monitorJson<T = Record<string, unknown>>(node: NatsNode, path: string): Promise<T> {
  const res = await fetch(`${node.monitorUrl}${path}`, { signal: AbortSignal.timeout(2_000) });
  if (!res.ok) throw new Error(`${node.name} ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

interface Jsz {
  readonly meta_cluster?: { readonly leader?: string; readonly cluster_size?: number };
}

export interface NatsClusterOptions {
  /** Nodes; 3 unless told. */
  readonly size?: number;
  /** The cluster's name; "claudemesh" unless told. */
  readonly name?: string;
  /** Config text added to every node's (accounts, authorization...). */
  readonly extra?: string;
  readonly children?: Children;
  readonly readyMs?: number;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL: the servers a daemon is bound to. */
  readonly urls: readonly string[];
  node(name: string): NatsNode;
  /** Resolves once every running node names the same JetStream meta leader. */
  ready(deadlineMs?: number): Promise<string>;
  /** Stops every node and removes the cluster's dir. */
  dispose(): Promise<void>;
}

/**
 * Starts `size` nodes `n1`…`n<size>` routed to each other, JetStream on each (its own store dir),
 * and resolves once the JetStream meta leader is elected and known to all.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const binary = findExecutable("nats-server");
  if (binary === undefined) throw new Error(NATS_SERVER_MISSING);
  const size = options.size ?? 3;
  const clusterName = options.name ?? "claudemesh";
  const root = makeTempDir("cmk-natsc-");
  const ports = await freePorts(size * 3);
  const routes = Array.from({ length: size }, (_, i) => `nats-route://127.0.0.1:${ports[size + i]}`);
  const nodes: ConfiguredNode[] = [];
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const dir = join(root, name);
    const config = [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${ports[i]}`,
      `http: 127.0.0.1:${ports[2 * size + i]}`,
      `jetstream { store_dir: "${join(dir, "js")}" }`,
      `cluster {\n  name: ${clusterName}\n  listen: 127.0.0.1:${ports[size + i]}\n  routes: [ ${routes.join(", ")} ]\n}`,
      options.extra ?? "",
      "",
    ].join("\n");
    nodes.push(
      new ConfiguredNode(
        binary,
        name,
        dir,
        ports[i] as number,
        ports[2 * size + i] as number,
        config,
        options.children,
        options.readyMs ?? 20_000,
      ),
    );
  }
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    node(name) {
      const found = nodes.find((n) => n.name === name);
      if (found === undefined) throw new Error(`no node ${name} in the cluster`);
      return found;
    },
    async ready(deadlineMs = 30_000) {
      return waitFor(
        async () => {
          const leaders = await Promise.all(
            nodes.filter((n) => n.running()).map(async (n) => (await monitorJson<Jsz>(n, "/jsz")).meta_cluster?.leader),
          );
          const first = leaders[0];
          return first !== undefined && first !== "" && leaders.every((l) => l === first) ? first : undefined;
        },
        "the cluster's JetStream meta leader",
        deadlineMs,
      );
    },
    async dispose() {
      await Promise.all(nodes.map((n) => n.stop()));
      removeDir(root);
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await cluster.ready();
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}

export interface LeafHub extends NatsNode {
  /** The port leaves connect out to. */
  readonly leafPort: number;
  /** The hub's JetStream domain: leaves reach its JetStream through it. */
  readonly domain: string;
}

export interface LeafNode extends NatsNode {
  /** Restarts the leaf pointed at another hub port (a wrong one cuts it off), or back at its hub's. */
  repoint(hubPort: number): Promise<void>;
}

/**
 * A hub: JetStream on (domain `domain`, "hub" unless told), a leafnodes listen port, no routes.
 * Leaves have no JetStream of their own and reach the hub's (see `startLeaf`).
 */
export async function startLeafHub(
  options: { readonly domain?: string; readonly children?: Children; readonly readyMs?: number } = {},
): Promise<LeafHub & { dispose(): Promise<void> }> {
  const binary = findExecutable("nats-server");
  if (binary === undefined) throw new Error(NATS_SERVER_MISSING);
  const domain = options.domain ?? "hub";
  const dir = makeTempDir("cmk-natsh-");
  const [port, monitor, leafPort] = (await freePorts(3)) as [number, number, number];
  const config = [
    "server_name: hub",
    `listen: 127.0.0.1:${port}`,
    `http: 127.0.0.1:${monitor}`,
    `jetstream { store_dir: "${join(dir, "js")}", domain: ${domain} }`,
    `leafnodes { listen: 127.0.0.1:${leafPort} }`,
    "",
  ].join("\n");
  const node = new ConfiguredNode(
    binary,
    "hub",
    dir,
    port,
    monitor,
    config,
    options.children,
    options.readyMs ?? 20_000,
  );
  return Object.assign(await startOwned(node, dir), { leafPort, domain });
}

/** Starts a node in a dir of its own, removed if the start fails and on `dispose()`. */
async function startOwned(node: ConfiguredNode, dir: string): Promise<ConfiguredNode & { dispose(): Promise<void> }> {
  try {
    await node.start();
  } catch (error) {
    removeDir(dir);
    throw error;
  }
  return Object.assign(node, {
    async dispose() {
      await node.stop();
      removeDir(dir);
    },
  });
}

/** A leaf's config: no JetStream, one remote out to the hub, and the mappings that reach the hub's JetStream. */
export function leafConfig(name: string, port: number, monitor: number, hubPort: number, domain: string): string {
  return [
    `server_name: ${name}`,
    `listen: 127.0.0.1:${port}`,
    `http: 127.0.0.1:${monitor}`,
    `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${hubPort}" } ] }`,
    // Across a leafnode connection the server denies $JS.API.> and $KV.> (JetStream is not
    // "extended" to a leaf without a shared system account); the hub's domain prefix is not
    // denied, and the hub maps it back to its own API and bucket subjects.
    `mappings { "$JS.API.>": "$JS.${domain}.API.>", "$KV.>": "$JS.${domain}.API.$KV.>" }`,
    "",
  ].join("\n");
}

/** A leaf server of `hub`: its own client port, no listen port for others, connected out to the hub. */
export async function startLeaf(
  hub: LeafHub,
  name: string,
  options: { readonly children?: Children; readonly readyMs?: number } = {},
): Promise<LeafNode & { dispose(): Promise<void> }> {
  const binary = findExecutable("nats-server");
  if (binary === undefined) throw new Error(NATS_SERVER_MISSING);
  const dir = makeTempDir("cmk-natsl-");
  const [port, monitor] = (await freePorts(2)) as [number, number];
  const configFor = (hubPort: number) => leafConfig(name, port, monitor, hubPort, hub.domain);
  const node = new ConfiguredNode(
    binary,
    name,
    dir,
    port,
    monitor,
    configFor(hub.leafPort),
    options.children,
    options.readyMs ?? 20_000,
  );
  return Object.assign(await startOwned(node, dir), {
    repoint: (hubPort: number) => node.restart(configFor(hubPort)),
  });
}

/** Is the leaf connected to its hub? Its own /leafz counts its link (2.9.10's hub side names no leaf). */
export async function leafConnected(leaf: NatsNode): Promise<boolean> {
  if (!leaf.running()) return false;
  return ((await monitorJson<{ leafnodes?: number }>(leaf, "/leafz")).leafnodes ?? 0) > 0;
}
