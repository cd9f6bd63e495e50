// Numbered events, who may see each one, and the replay ring. Pure.
//
// Session events are for everyone; a `message` event (it carries the text) only for the stream
// of its recipient session, a `message_status` event only for the streams of its sender (its
// session, or the member: streams opened without a token). Each event is serialised once, when
// it is numbered, whatever the number of streams.
import type { RemoteSessionView } from "@claudemesh/mesh";
import { type RegistryEvent, type SessionRecord, toSession } from "@claudemesh/registry";

export type EventType =
  | "session_registered"
  | "session_deregistered"
  | "session_updated"
  | "message"
  | "message_status";

/** Who may receive an event. */
export type Audience =
  | { readonly kind: "all" }
  /** The streams authenticated as this session. */
  | { readonly kind: "session"; readonly sessionId: string }
  /** The streams opened without a token: the user from a plain shell. */
  | { readonly kind: "member" };

/**
 * Who a stream is: the token it was opened with decides. A session's stream lasts as long as that
 * token's session: the registration of another token under the same id does not inherit it.
 */
export type Subscriber =
  | { readonly kind: "member" }
  | { readonly kind: "session"; readonly sessionId: string; readonly tokenHash?: string };

export const EVERYONE: Audience = { kind: "all" };

export function canSee(subscriber: Subscriber, audience: Audience): boolean {
  if (audience.kind === "all") return true;
  if (audience.kind === "member") return subscriber.kind === "member";
  return subscriber.kind === "session" && subscriber.sessionId === audience.sessionId;
}

export interface DaemonEvent {
  readonly type: EventType;
  readonly data: Readonly<Record<string, unknown>>;
  readonly audience: Audience;
}

export interface NumberedEvent extends DaemonEvent {
  readonly id: number;
  /** The SSE frame: `id`, `event` and one `data` line of JSON. */
  readonly frame: string;
}

const REMOTE_EVENT = {
  added: "session_registered",
  updated: "session_updated",
  removed: "session_deregistered",
} as const;

/**
 * A remote session came, changed or went (a mesh bound to NATS): the same events as a local
 * session's, its view with `origin: remote` and `host`, the reason `remote`.
 */
export function remoteSessionEvent(change: keyof typeof REMOTE_EVENT, session: RemoteSessionView): DaemonEvent {
  return { type: REMOTE_EVENT[change], data: { session, reason: "remote" }, audience: EVERYONE };
}

/** A registry change as clients see it: the wire session and the reason, for everyone. */
export function sessionEvent(event: {
  type: RegistryEvent["type"];
  reason: string;
  session: SessionRecord;
}): DaemonEvent {
  return { type: event.type, data: { session: toSession(event.session), reason: event.reason }, audience: EVERYONE };
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

  /** Numbers an event and serialises its frame; what it holds is only what it was given. */
  append(event: DaemonEvent): NumberedEvent {
    const id = this.#nextId++;
    const numbered: NumberedEvent = Object.freeze({
      id,
      type: event.type,
      data: event.data,
      audience: event.audience,
      frame: `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`,
    });
    this.#ring[this.#count % this.capacity] = numbered;
    this.#count++;
    return numbered;
  }

  /** A registry change, numbered (see sessionEvent). */
  appendSession(event: Parameters<typeof sessionEvent>[0]): NumberedEvent {
    return this.append(sessionEvent(event));
  }

  /** Events with an id greater than `afterId` that `subscriber` may see, oldest first, as far as the ring reaches back. */
  since(afterId: number, subscriber: Subscriber = { kind: "member" }): NumberedEvent[] {
    const out: NumberedEvent[] = [];
    const start = Math.max(0, this.#count - this.capacity);
    for (let i = start; i < this.#count; i++) {
      const event = this.#ring[i % this.capacity] as NumberedEvent;
      if (event.id > afterId && canSee(subscriber, event.audience)) out.push(event);
    }
    return out;
  }
}

/** The SSE frame of an event. */
export function sseFrame(event: NumberedEvent): string {
  return event.frame;
}
