// One long-lived connection to a bound mesh's NATS servers. It reconnects forever: nats.js does
// it while a connection lives (every ~250 ms, little jitter), and when nats.js gives up on one
// (the first connect failing, auth errors it aborts on) the link starts a new one after a pause.
// Client pings every 5 s notice a dead server within ~15 s. The round trip is measured on
// connect and every 10 s. Every callback, timer and status loop is guarded: a rejection in
// nats.js's promises must never become an unhandled rejection that ends the daemon.
import type { MeshBinding } from "@claudemesh/mesh";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import { type BindingConnectOptions, loadConnectOptions, type ReadFile } from "./credentials.js";
import { loadNats, type NatsModule } from "./load.js";

export type LinkState = "connecting" | "connected" | "reconnecting" | "closed";

export interface LinkLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** The link's timers, injected so a test can count what is left pending. */
export interface LinkClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface NatsLinkOptions {
  readonly binding: MeshBinding;
  readonly logger: LinkLogger;
  readonly clock?: LinkClock;
  /** Loads the nats client; a dynamic import unless told (tests, a bundle). */
  readonly loadNats?: () => Promise<NatsModule>;
  readonly read?: ReadFile;
  readonly reconnectTimeWaitMs?: number;
  readonly reconnectJitterMs?: number;
  readonly pingIntervalMs?: number;
  readonly maxPingOut?: number;
  readonly rttEveryMs?: number;
  /** The pause before a new connection when nats.js gave one up (or the credentials could not be read). */
  readonly retryMs?: number;
  /** How long one connection attempt may take. */
  readonly connectTimeoutMs?: number;
  /** Where replies to this connection go (`inboxPrefix` of nats-layout.ts); nats.js's `_INBOX` unless told. */
  readonly inboxPrefix?: string;
}

export type StateListener = (state: LinkState, previous: LinkState) => void;

const realClock: LinkClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class NatsLink {
  readonly #o: NatsLinkOptions;
  readonly #clock: LinkClock;
  readonly #listeners = new Set<StateListener>();
  #state: LinkState = "connecting";
  #nc: NatsConnection | undefined;
  #server: string | undefined;
  #lastRttMs: number | undefined;
  #rttTimer: unknown;
  #retryTimer: unknown;
  #closing: Promise<void> | undefined;
  #attempts = 0;

  constructor(options: NatsLinkOptions) {
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.#attempt();
  }

  get state(): LinkState {
    return this.#state;
  }

  /** The server connected to (`host:port`), or the last one while reconnecting. */
  get server(): string | undefined {
    return this.#server;
  }

  get lastRttMs(): number | undefined {
    return this.#lastRttMs;
  }

  /** The live connection, for the mesh's subscriptions and streams; undefined until the first connect. */
  get connection(): NatsConnection | undefined {
    return this.#nc;
  }

  /** Calls `listener` on each change of state; returns the unsubscribe. */
  onState(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the connection and every timer; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#setState("closed");
    this.#clearTimer("retry");
    this.#clearTimer("rtt");
    const nc = this.#nc;
    if (nc !== undefined && !nc.isClosed()) {
      try {
        await nc.close();
      } catch (error) {
        this.#o.logger.warn("nats close failed", { mesh: this.#o.binding.name, error: messageOf(error) });
      }
    }
  }

  /** A method, not a field read, so that TypeScript does not keep a narrowing across an await. */
  #isClosed(): boolean {
    return this.#state === "closed";
  }

  #setState(next: LinkState): void {
    const previous = this.#state;
    if (previous === next || previous === "closed") return;
    this.#state = next;
    for (const listener of this.#listeners) {
      try {
        listener(next, previous);
      } catch (error) {
        this.#o.logger.warn("nats link state listener threw", { mesh: this.#o.binding.name, error: messageOf(error) });
      }
    }
  }

  #clearTimer(which: "retry" | "rtt"): void {
    const handle = which === "retry" ? this.#retryTimer : this.#rttTimer;
    if (handle !== undefined) this.#clock.clearTimeout(handle);
    if (which === "retry") this.#retryTimer = undefined;
    else this.#rttTimer = undefined;
  }

  /** A new connection; a failure schedules the next attempt, never throws. */
  #attempt(): void {
    this.#connect().catch((error: unknown) => {
      this.#o.logger.warn("nats link attempt failed", { mesh: this.#o.binding.name, error: messageOf(error) });
      this.#retryLater();
    });
  }

  #retryLater(): void {
    if (this.#isClosed()) return;
    this.#clearTimer("retry");
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#isClosed()) this.#attempt();
    }, this.#o.retryMs ?? 2_000);
  }

  async #connect(): Promise<void> {
    const binding = this.#o.binding;
    const nats = await (this.#o.loadNats ?? loadNats)();
    if (this.#isClosed()) return;
    let options: BindingConnectOptions;
    try {
      options = loadConnectOptions(binding, nats, { ...(this.#o.read && { read: this.#o.read }) });
    } catch (error) {
      this.#o.logger.warn("nats credentials unusable", { mesh: binding.name, error: messageOf(error) });
      this.#retryLater();
      return;
    }
    this.#attempts += 1;
    let nc: NatsConnection;
    try {
      nc = await nats.connect({
        ...options,
        name: `claudemesh ${binding.name}`,
        ...(this.#o.inboxPrefix !== undefined && { inboxPrefix: this.#o.inboxPrefix }),
        timeout: this.#o.connectTimeoutMs ?? 5_000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.#o.reconnectTimeWaitMs ?? 250,
        reconnectJitter: this.#o.reconnectJitterMs ?? 50,
        reconnectJitterTLS: this.#o.reconnectJitterMs ?? 50,
        pingInterval: this.#o.pingIntervalMs ?? 5_000,
        maxPingOut: this.#o.maxPingOut ?? 3,
        // A first connect that fails is retried by the link (with logs), not hidden inside nats.js.
        waitOnFirstConnect: false,
      });
    } catch (error) {
      if (this.#attempts === 1 || this.#attempts % 30 === 0) {
        this.#o.logger.warn("nats connect failed", {
          mesh: binding.name,
          servers: binding.servers,
          attempts: this.#attempts,
          error: messageOf(error),
        });
      }
      this.#retryLater();
      return;
    }
    if (this.#isClosed()) {
      await nc.close().catch(() => undefined);
      return;
    }
    this.#nc = nc;
    this.#attempts = 0;
    this.#server = nc.getServer();
    this.#o.logger.info("nats connected", { mesh: binding.name, server: this.#server });
    this.#setState("connected");
    this.#watch(nc);
    this.#refreshRtt();
  }

  /** Follows the connection's status until it closes; a close we did not ask for starts anew. */
  #watch(nc: NatsConnection): void {
    const mesh = this.#o.binding.name;
    void (async () => {
      for await (const status of nc.status()) this.#onStatus(nc, status);
    })().catch((error: unknown) => {
      this.#o.logger.warn("nats status loop failed", { mesh, error: messageOf(error) });
    });
    nc.closed()
      .then((error) => {
        if (this.#isClosed() || this.#nc !== nc) return;
        this.#o.logger.warn("nats connection closed; starting a new one", {
          mesh,
          ...(error && { error: messageOf(error) }),
        });
        this.#clearTimer("rtt");
        this.#setState("reconnecting");
        this.#retryLater();
      })
      .catch((error: unknown) => {
        this.#o.logger.warn("nats closed handler failed", { mesh, error: messageOf(error) });
      });
  }

  #onStatus(nc: NatsConnection, status: Status): void {
    if (this.#nc !== nc || this.#isClosed()) return;
    const mesh = this.#o.binding.name;
    switch (status.type) {
      case "disconnect":
        this.#o.logger.warn("nats disconnected", { mesh, server: status.server });
        this.#setState("reconnecting");
        break;
      case "reconnecting":
      case "staleConnection":
        this.#setState("reconnecting");
        break;
      case "reconnect":
        this.#server = status.server;
        this.#o.logger.info("nats reconnected", { mesh, server: status.server });
        this.#setState("connected");
        this.#refreshRtt();
        break;
      case "error":
        this.#o.logger.warn("nats error", { mesh, error: messageOf(status.error) });
        break;
      default:
        break;
    }
  }

  /** Measures the round trip now, then every `rttEveryMs`; a failure leaves the last value. */
  #refreshRtt(): void {
    this.#clearTimer("rtt");
    const nc = this.#nc;
    if (nc === undefined || this.#isClosed()) return;
    const again = () => {
      if (this.#isClosed() || this.#nc !== nc) return;
      this.#clearTimer("rtt");
      this.#rttTimer = this.#clock.setTimeout(() => {
        this.#rttTimer = undefined;
        this.#refreshRtt();
      }, this.#o.rttEveryMs ?? 10_000);
    };
    if (this.#state !== "connected") {
      again();
      return;
    }
    nc.rtt()
      .then((ms) => {
        if (this.#nc === nc) this.#lastRttMs = ms;
      })
      .catch(() => undefined)
      .finally(again)
      .catch(() => undefined);
  }
}
