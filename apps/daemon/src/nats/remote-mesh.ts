// One mesh bound to a NATS server, running: its link, the presence of its sessions both ways,
// the liveness of the other daemons, the outbox to remote sessions, the inbound consumer and the
// receipts. On every new connection each part is attached again; on a reconnect of the same
// connection what waits is sent again. Local messaging never waits for any of it.

import {
  fingerprint,
  type MemberKey,
  type MeshBinding,
  type MessageService,
  type MessageStore,
  type PresenceRefusal,
  type PresenceTrust,
  RemoteDirectory,
  type RemotePresence,
} from "@claudemesh/mesh";
import type { SessionRegistry } from "@claudemesh/registry";
import type { NatsConnection } from "@nats-io/transport-node";
import { Inbound, type InboundRefusal } from "./inbound.js";
import type { LinkLogger, NatsLink } from "./link.js";
import { Liveness } from "./liveness.js";
import { loadJetStream } from "./load.js";
import { Outbox } from "./outbox.js";
import { PresenceSync, type RemoteChange, type RemovalCause } from "./presence-sync.js";
import { ReceiptSender } from "./receipts.js";
import type { SealingKeys } from "./sealing-keys.js";

/** What every bound mesh of a daemon shares. */
export interface RemoteMeshDeps {
  /** This daemon's id on the server (from its member key). */
  readonly self: string;
  readonly host: string;
  readonly member: MemberKey;
  readonly registry: SessionRegistry;
  readonly store: MessageStore;
  readonly service: MessageService;
  readonly persisted: () => Promise<void>;
  readonly sealing: SealingKeys;
  readonly logger: LinkLogger;
  /** A remote session came, changed or went. */
  readonly onPeer?: (change: RemoteChange, presence: RemotePresence, cause?: RemovalCause) => void;
  readonly onPresenceRefused?: (reason: PresenceRefusal) => void;
  readonly onFrameRefused?: (reason: InboundRefusal) => void;
  /** Tests shorten these. */
  readonly timings?: {
    readonly presenceRefreshMs?: number;
    readonly presenceTtlMs?: number;
    readonly livenessEveryMs?: number;
    readonly livenessGraceMs?: number;
  };
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Member keys trusted for a binding: our own always; with no --trust-member, every member the server lets in. */
export function trustOf(binding: MeshBinding, member: MemberKey): PresenceTrust {
  const trusted = new Set(binding.trustMembers);
  return {
    memberPublicKey: member.key.publicKey,
    isTrusted: (mesh, key) => mesh === binding.name && (trusted.size === 0 || trusted.has(fingerprint(key))),
  };
}

export class RemoteMesh {
  readonly binding: MeshBinding;
  readonly link: NatsLink;
  readonly directory = new RemoteDirectory();
  readonly #deps: RemoteMeshDeps;
  readonly #presence: PresenceSync;
  readonly #liveness: Liveness;
  readonly #outbox: Outbox;
  readonly #receipts: ReceiptSender;
  readonly #inbound: Inbound;
  readonly #unsubscribe: Array<() => void> = [];
  #nc: NatsConnection | undefined;
  #attachRetry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(binding: MeshBinding, link: NatsLink, deps: RemoteMeshDeps) {
    this.binding = binding;
    this.link = link;
    this.#deps = deps;
    const mesh = binding.name;
    const { self, logger } = deps;
    const trust = trustOf(binding, deps.member);
    const onRemote = (change: RemoteChange, presence: RemotePresence, cause?: RemovalCause) => {
      if (change !== "removed") this.#outbox.onPresence(presence.session_id);
      deps.onPeer?.(change, presence, cause);
    };
    this.#presence = new PresenceSync({
      mesh,
      self,
      host: deps.host,
      registry: deps.registry,
      sealing: deps.sealing,
      trust,
      directory: this.directory,
      logger,
      onRemote,
      onRefused: (reason) => deps.onPresenceRefused?.(reason),
      isAlive: (daemon) => this.#liveness.ask(daemon),
      ...(deps.timings?.presenceRefreshMs !== undefined && { refreshMs: deps.timings.presenceRefreshMs }),
      ...(deps.timings?.presenceTtlMs !== undefined && { bucketTtlMs: deps.timings.presenceTtlMs }),
    });
    this.#liveness = new Liveness({
      mesh,
      self,
      logger,
      daemons: () => this.directory.daemons(),
      onDead: (daemon) => {
        this.#presence.markGone(daemon);
        for (const presence of this.directory.removeDaemon(daemon)) onRemote("removed", presence, "dead_daemon");
      },
      ...(deps.timings?.livenessEveryMs !== undefined && { everyMs: deps.timings.livenessEveryMs }),
      ...(deps.timings?.livenessGraceMs !== undefined && { graceMs: deps.timings.livenessGraceMs }),
    });
    this.#outbox = new Outbox({
      mesh,
      member: deps.member,
      store: deps.store,
      registry: deps.registry,
      directory: this.directory,
      logger,
      persisted: deps.persisted,
    });
    this.#receipts = new ReceiptSender({
      mesh,
      self,
      member: deps.member,
      store: deps.store,
      logger,
      persisted: deps.persisted,
    });
    this.#inbound = new Inbound({
      mesh,
      self,
      store: deps.store,
      service: deps.service,
      registry: deps.registry,
      sealing: deps.sealing,
      directory: this.directory,
      trust,
      receipts: this.#receipts,
      persisted: deps.persisted,
      logger,
      onRefused: (reason) => deps.onFrameRefused?.(reason),
    });
    this.#unsubscribe.push(
      deps.store.subscribe((change) => {
        this.#outbox.onStoreChange(change);
        this.#receipts.onStoreChange(change);
      }),
      link.onState((state) => this.#onLinkState(state)),
    );
    // A link connected before we listened (it connects on its own).
    if (link.state === "connected") this.#onLinkState("connected");
  }

  get outboxDepth(): number {
    return this.#outbox.depth;
  }

  get counters(): { published: number; received: number; presences: number } {
    return {
      published: this.#outbox.published,
      received: this.#inbound.received,
      presences: this.#presence.published,
    };
  }

  #onLinkState(state: string): void {
    if (this.#closed) return;
    if (state !== "connected") {
      this.#liveness.disconnected();
      this.#presence.linkDown();
      return;
    }
    const nc = this.link.connection;
    if (nc === undefined) return;
    if (nc !== this.#nc) {
      this.#nc = nc;
      void this.#attach(nc);
      return;
    }
    // The same connection, back after a reconnect: what waits goes again; judge peers after a grace.
    this.#liveness.connected();
    this.#presence.linkUp();
    this.#presence.publishAll();
    this.#outbox.resume();
    this.#receipts.flush();
  }

  async #attach(nc: NatsConnection): Promise<void> {
    clearTimeout(this.#attachRetry);
    const mesh = this.binding.name;
    try {
      const { jetstream, jetstreamManager } = await loadJetStream();
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      if (this.#closed || this.#nc !== nc) return;
      await this.#inbound.attach(js, jsm);
      if (this.#closed || this.#nc !== nc) return;
      // Answer pings before anyone can see our presence: a peer that saw a session of ours and
      // got "no responders" would drop it. (One connection: the server has our SUB before our PUT.)
      this.#liveness.attach(nc);
      await this.#presence.attach(nc);
      if (this.#closed || this.#nc !== nc) return;
      this.#receipts.attach(js);
      this.#outbox.attach(js);
      this.#outbox.queueAll();
      this.#deps.logger.info("mesh attached to nats", { mesh, self: this.#deps.self });
    } catch (error) {
      if (this.#closed || this.#nc !== nc) return;
      this.#deps.logger.warn("mesh attach failed; retrying", { mesh, error: messageOf(error) });
      this.#attachRetry = setTimeout(() => {
        if (!this.#closed && this.#nc === nc && !nc.isClosed()) void this.#attach(nc);
      }, 2_000);
      this.#attachRetry.unref();
    }
  }

  /** Unbound or the daemon stops: our keys deleted (a clean stop), everything on the link closed, remote peers gone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#attachRetry);
    for (const off of this.#unsubscribe) off();
    await this.#presence.close();
    this.#liveness.detach();
    this.#inbound.close();
    this.#outbox.detach();
    this.#receipts.detach();
    // The link may be shared with other meshes on the same server: its owner closes it.
    for (const presence of this.directory.clear()) this.#deps.onPeer?.("removed", presence, "unbound");
  }
}
