// Is another daemon of the mesh still there? Each daemon answers on its ping subject
// (nats-layout.ts). When a daemon's connection is gone the server answers a request there with
// "no responders" at once: a dead daemon is found in well under a second, long before its
// presence keys expire. A timeout proves nothing (a busy daemon, a slow link) and is not judged;
// nothing is judged while our own link is down or has just come back, so that a short reconnect
// on either side never makes peers flap.
//
// The pings a daemon sends are bounded (`pingsPerSecond`), not one per remote daemon per tick:
// with N daemons in a mesh, asking everyone every 300 ms would cost each daemon O(N) and the
// server O(N²). Up to `pingsPerSecond × everyMs` daemons (12 by default) each is asked every
// tick; beyond that the asking takes turns, so a dead daemon among 40 is found in ~1.5 s
// instead of ~0.9 s, and the cost per daemon stays flat as the mesh grows.
import { pingSubject } from "@claudemesh/mesh";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { LinkLogger } from "./link.js";

export const LIVENESS_TIMINGS = {
  everyMs: 300,
  /**
   * A first "no responders" is confirmed twice, this much apart: a daemon whose connection only
   * blinked (nats.js is back within ~250 ms) answers again and does not flap; one that is gone is
   * judged ~0.6–0.9 s after it went.
   */
  confirmMs: 275,
  requestTimeoutMs: 2_000,
  /** The most first pings a daemon sends per second, over all the daemons it watches. */
  pingsPerSecond: 40,
  /** After our own (re)connect: subscriptions of others may still be propagating. */
  graceMs: 3_000,
} as const;

export interface LivenessOptions {
  readonly mesh: string;
  readonly self: string;
  readonly logger: LinkLogger;
  /** The daemons holding sessions we believe live. */
  readonly daemons: () => Iterable<string>;
  readonly onDead: (daemon: string) => void;
  readonly everyMs?: number;
  readonly confirmMs?: number;
  readonly graceMs?: number;
  readonly pingsPerSecond?: number;
}

const isNoResponders = (error: unknown): boolean =>
  typeof (error as { isNoResponders?: () => boolean })?.isNoResponders === "function" &&
  (error as { isNoResponders: () => boolean }).isNoResponders();

export class Liveness {
  readonly #o: LivenessOptions;
  #nc: NatsConnection | undefined;
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #judgeFrom = Number.POSITIVE_INFINITY;
  readonly #inFlight = new Set<string>();
  /** Where the next tick's turn starts, in the sorted list of watched daemons. */
  #cursor = 0;

  constructor(options: LivenessOptions) {
    this.#o = options;
  }

  /** A new connection: answer pings on it, and start asking. */
  attach(nc: NatsConnection): void {
    this.detach();
    this.#nc = nc;
    this.#sub = nc.subscribe(pingSubject(this.#o.mesh, this.#o.self), {
      callback: (error, msg) => {
        if (error === null) msg.respond();
      },
    });
    this.connected();
    this.#timer = setInterval(() => this.#tick(), this.#o.everyMs ?? LIVENESS_TIMINGS.everyMs);
    this.#timer.unref();
  }

  /** Our link is (back) up: judge again once the grace has passed. */
  connected(): void {
    this.#judgeFrom = Date.now() + (this.#o.graceMs ?? LIVENESS_TIMINGS.graceMs);
  }

  /** Our link is down: judge nobody. */
  disconnected(): void {
    this.#judgeFrom = Number.POSITIVE_INFINITY;
  }

  #tick(): void {
    if (Date.now() < this.#judgeFrom) return;
    const watched = [...new Set(this.#o.daemons())].filter((d) => d !== this.#o.self).sort();
    if (watched.length === 0) return;
    const everyMs = this.#o.everyMs ?? LIVENESS_TIMINGS.everyMs;
    const perSecond = this.#o.pingsPerSecond ?? LIVENESS_TIMINGS.pingsPerSecond;
    const turn = Math.min(watched.length, Math.max(1, Math.floor((perSecond * everyMs) / 1000)));
    const start = this.#cursor % watched.length;
    this.#cursor = start + turn;
    for (let i = 0; i < turn; i++) {
      const daemon = watched[(start + i) % watched.length] as string;
      if (this.#inFlight.has(daemon)) continue;
      this.#inFlight.add(daemon);
      void this.#probe(daemon).finally(() => this.#inFlight.delete(daemon));
    }
  }

  /** True when the daemon answered or could not be judged; false when its connection is gone. */
  ask(daemon: string): Promise<boolean> {
    return this.#ask(daemon);
  }

  async #ask(daemon: string): Promise<boolean> {
    const nc = this.#nc;
    if (nc === undefined || nc.isClosed()) return true;
    try {
      await nc.request(pingSubject(this.#o.mesh, daemon), undefined, { timeout: LIVENESS_TIMINGS.requestTimeoutMs });
      return true;
    } catch (error) {
      return !isNoResponders(error);
    }
  }

  async #probe(daemon: string): Promise<void> {
    try {
      if (await this.#ask(daemon)) return;
      for (let confirm = 0; confirm < 2; confirm++) {
        await new Promise((r) => setTimeout(r, this.#o.confirmMs ?? LIVENESS_TIMINGS.confirmMs).unref());
        if (Date.now() < this.#judgeFrom || (await this.#ask(daemon))) return;
      }
      if (Date.now() < this.#judgeFrom) return;
      this.#o.logger.info("remote daemon gone (no responders)", { mesh: this.#o.mesh, daemon });
      this.#o.onDead(daemon);
    } catch (error) {
      this.#o.logger.warn("liveness probe failed", { mesh: this.#o.mesh, daemon, error: String(error) });
    }
  }

  detach(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    this.#nc = undefined;
    this.disconnected();
  }
}
