// The daemon's meshes bound to NATS: one live RemoteMesh per binding (presence, delivery and
// outbox), started when a binding is added or loaded, stopped when it is removed or the daemon
// stops; one connection per server (meshes bound to the same servers, credential and CA share it). The nats client is loaded only once a first mesh is bound. Also the
// directory of every bound mesh's remote sessions, for addressing and `peers`.
import type { MeshBinding, MeshPeer, PeerDirectory, RemotePeer } from "@claudemesh/mesh";
import type { RemoteTotals } from "../metrics.js";
import type { LinkLogger, LinkState, NatsLinkOptions } from "./link.js";
import { NatsLink } from "./link.js";
import { RemoteMesh, type RemoteMeshDeps } from "./remote-mesh.js";

/** What `mesh status` shows of a bound mesh. */
export interface RemoteMeshStatus {
  readonly state: LinkState;
  /** The server connected to (`host:port`), or the last one while reconnecting; null before any. */
  readonly server: string | null;
  readonly rtt_ms: number | null;
  /** Remote sessions believed and live. */
  readonly remote_peers: number;
  /** Messages to remote sessions not yet stored by the server. */
  readonly outbox: number;
}

export interface RemoteMeshesOptions {
  readonly logger: LinkLogger;
  /** Passed to each mesh's link (tests shorten the timings). */
  readonly link?: Partial<Omit<NatsLinkOptions, "binding" | "logger">>;
  /**
   * The messaging a bound mesh carries, read when a mesh is bound (messaging is made after this);
   * without it a binding is a link only (its checks and status).
   */
  readonly runtime?: () => Omit<RemoteMeshDeps, "logger">;
}

interface Bound {
  readonly binding: MeshBinding;
  readonly link: NatsLink;
  readonly linkKey: string;
  readonly mesh: RemoteMesh | undefined;
}

/** Meshes on the same servers with the same credential and CA share one connection. */
function linkKeyOf(binding: MeshBinding): string {
  return JSON.stringify([binding.servers, binding.credentials ?? null, binding.tlsCa ?? null]);
}

export class RemoteMeshes implements PeerDirectory {
  readonly #o: RemoteMeshesOptions;
  readonly #meshes = new Map<string, Bound>();
  readonly #links = new Map<string, { link: NatsLink; users: number }>();

  constructor(options: RemoteMeshesOptions) {
    this.#o = options;
  }

  /** Starts serving a binding (replacing a running one of the same name). */
  async bind(binding: MeshBinding): Promise<void> {
    await this.unbind(binding.name);
    const linkKey = linkKeyOf(binding);
    let shared = this.#links.get(linkKey);
    if (shared === undefined) {
      shared = { link: new NatsLink({ ...this.#o.link, binding, logger: this.#o.logger }), users: 0 };
      this.#links.set(linkKey, shared);
    }
    shared.users++;
    const { link } = shared;
    const runtime = this.#o.runtime?.();
    const mesh =
      runtime === undefined ? undefined : new RemoteMesh(binding, link, { ...runtime, logger: this.#o.logger });
    this.#meshes.set(binding.name, { binding, link, linkKey, mesh });
  }

  /** Stops serving a mesh; false when it was not bound. */
  async unbind(name: string): Promise<boolean> {
    const bound = this.#meshes.get(name);
    if (bound === undefined) return false;
    this.#meshes.delete(name);
    await bound.mesh?.close();
    const shared = this.#links.get(bound.linkKey);
    if (shared !== undefined && --shared.users === 0) {
      this.#links.delete(bound.linkKey);
      await shared.link.close();
    }
    return true;
  }

  isBound(name: string): boolean {
    return this.#meshes.has(name);
  }

  status(name: string): RemoteMeshStatus | undefined {
    const bound = this.#meshes.get(name);
    if (bound === undefined) return undefined;
    const { link, mesh } = bound;
    return {
      state: link.state,
      server: link.server ?? null,
      rtt_ms: link.lastRttMs ?? null,
      remote_peers: mesh?.directory.size ?? 0,
      outbox: mesh?.outboxDepth ?? 0,
    };
  }

  /** The remote sessions of a mesh (none when it is not bound), oldest first. */
  remotePeers(mesh: string): RemotePeer[] {
    return this.#meshes.get(mesh)?.mesh?.directory.list() ?? [];
  }

  /** Every bound mesh's remote sessions. */
  allRemotePeers(): RemotePeer[] {
    return [...this.#meshes.values()].flatMap((b) => b.mesh?.directory.list() ?? []);
  }

  live(mesh: string): readonly MeshPeer[] {
    return this.remotePeers(mesh).map((p) => p.peer);
  }

  get(sessionId: string): MeshPeer | undefined {
    for (const bound of this.#meshes.values()) {
      const peer = bound.mesh?.directory.get(sessionId);
      if (peer !== undefined) return peer.peer;
    }
    return undefined;
  }

  /** Totals over every bound mesh, for the metrics. */
  totals(): RemoteTotals {
    const t: RemoteTotals = { remotePeers: 0, outbox: 0, published: 0, received: 0, presences: 0, linksConnected: 0 };
    for (const { mesh, link } of this.#meshes.values()) {
      if (link.state === "connected") t.linksConnected++;
      if (mesh === undefined) continue;
      t.remotePeers += mesh.directory.size;
      t.outbox += mesh.outboxDepth;
      const c = mesh.counters;
      t.published += c.published;
      t.received += c.received;
      t.presences += c.presences;
    }
    return t;
  }

  /** Stops every mesh (daemon shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#meshes.keys()].map((name) => this.unbind(name)));
  }
}
