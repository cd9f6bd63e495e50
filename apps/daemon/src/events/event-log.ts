// Numbered session events and the replay ring. Pure.
import type { RegistryEvent, Session } from "@claudemesh/registry";
import { toSession } from "@claudemesh/registry";

export interface NumberedEvent {
  readonly id: number;
  readonly type: RegistryEvent["type"];
  readonly reason: RegistryEvent["reason"];
  readonly session: Session;
}

export const DEFAULT_RING_SIZE = 1024;

/**
 * Assigns increasing ids and keeps the last `capacity` events for replay. Ids start from the
 * boot time in microseconds, so they keep increasing across daemon restarts: a client resuming
 * with an id from the previous daemon gets every event of this one.
 */
export class EventLog {
  readonly #ring: (NumberedEvent | undefined)[];
  #nextId: number;
  #count = 0;

  constructor(
    readonly capacity = DEFAULT_RING_SIZE,
    firstId = Date.now() * 1000,
  ) {
    this.#ring = new Array(capacity);
    this.#nextId = firstId;
  }

  get lastId(): number {
    return this.#nextId - 1;
  }

  /** Numbers an event; only its type, reason and wire session are kept (never its token hash). */
  append(event: Pick<RegistryEvent, "type" | "reason" | "session">): NumberedEvent {
    const numbered: NumberedEvent = Object.freeze({
      id: this.#nextId++,
      type: event.type,
      reason: event.reason,
      session: toSession(event.session),
    });
    this.#ring[this.#count % this.capacity] = numbered;
    this.#count++;
    return numbered;
  }

  /** Events with an id greater than `afterId`, oldest first, as far as the ring reaches back. */
  since(afterId: number): NumberedEvent[] {
    const out: NumberedEvent[] = [];
    const start = Math.max(0, this.#count - this.capacity);
    for (let i = start; i < this.#count; i++) {
      const event = this.#ring[i % this.capacity] as NumberedEvent;
      if (event.id > afterId) out.push(event);
    }
    return out;
  }
}

/** The SSE frame of an event: `id`, `event` and one `data` line of JSON. */
export function sseFrame(event: NumberedEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify({ session: event.session, reason: event.reason })}\n\n`;
}
