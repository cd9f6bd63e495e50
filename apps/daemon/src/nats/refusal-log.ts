// The log of refusals from other daemons (remote presences, inbound frames), throttled: a member
// flooding the server with junk would otherwise have the daemon write a line per item, and
// daemon.log rotate out everything worth reading. Each reason logs its first few in a window,
// then nothing until the window ends; the next line of that reason says how many were left out.
// Every refusal is still counted in the metrics (claudemesh_remote_refused_total).
import type { LinkLogger } from "./link.js";

export const REFUSAL_LOG_LIMITS = { perWindow: 5, windowMs: 60_000 } as const;

interface Window {
  start: number;
  logged: number;
  suppressed: number;
}

export class RefusalLog {
  readonly #logger: LinkLogger;
  readonly #now: () => number;
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, Window>();

  constructor(logger: LinkLogger, options: { now?: () => number; perWindow?: number; windowMs?: number } = {}) {
    this.#logger = logger;
    this.#now = options.now ?? Date.now;
    this.#perWindow = options.perWindow ?? REFUSAL_LOG_LIMITS.perWindow;
    this.#windowMs = options.windowMs ?? REFUSAL_LOG_LIMITS.windowMs;
  }

  /** Logs `msg` with `fields` unless this reason has logged its share of the current window. */
  warn(msg: string, reason: string, fields: Record<string, unknown>): void {
    const now = this.#now();
    const key = `${msg}\u0000${reason}`; // a bounded set: the messages and reasons are the daemon's own
    let w = this.#windows.get(key);
    if (w === undefined || now - w.start >= this.#windowMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: now, logged: 0, suppressed };
      this.#windows.set(key, w);
    }
    if (w.logged >= this.#perWindow) {
      w.suppressed++;
      return;
    }
    w.logged++;
    const extra = w.suppressed > 0 ? { suppressed_before: w.suppressed } : {};
    w.suppressed = 0;
    this.#logger.warn(msg, { ...fields, reason, ...extra });
  }
}
