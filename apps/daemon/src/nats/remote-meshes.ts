// The daemon's meshes bound to NATS: one live RemoteMesh per binding (its link, presence,
// delivery and outbox), started when a binding is added or loaded, stopped when it is removed
// or the daemon stops. The nats client is loaded only once a first mesh is bound.
import type { MeshBinding } from "@claudemesh/mesh";
import type { LinkLogger, LinkState, NatsLinkOptions } from "./link.js";
import { NatsLink } from "./link.js";

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
}

interface RemoteMesh {
  readonly binding: MeshBinding;
  readonly link: NatsLink;
}

export class RemoteMeshes {
  readonly #o: RemoteMeshesOptions;
  readonly #meshes = new Map<string, RemoteMesh>();

  constructor(options: RemoteMeshesOptions) {
    this.#o = options;
  }

  /** Starts serving a binding (replacing a running one of the same name). */
  async bind(binding: MeshBinding): Promise<void> {
    await this.unbind(binding.name);
    const link = new NatsLink({ ...this.#o.link, binding, logger: this.#o.logger });
    this.#meshes.set(binding.name, { binding, link });
  }

  /** Stops serving a mesh; false when it was not bound. */
  async unbind(name: string): Promise<boolean> {
    const mesh = this.#meshes.get(name);
    if (mesh === undefined) return false;
    this.#meshes.delete(name);
    await mesh.link.close();
    return true;
  }

  isBound(name: string): boolean {
    return this.#meshes.has(name);
  }

  status(name: string): RemoteMeshStatus | undefined {
    const mesh = this.#meshes.get(name);
    if (mesh === undefined) return undefined;
    const { link } = mesh;
    return {
      state: link.state,
      server: link.server ?? null,
      rtt_ms: link.lastRttMs ?? null,
      remote_peers: 0,
      outbox: 0,
    };
  }

  /** Stops every mesh (daemon shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#meshes.keys()].map((name) => this.unbind(name)));
  }
}
