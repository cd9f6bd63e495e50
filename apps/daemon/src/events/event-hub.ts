// Fan-out of events to open SSE streams, each getting only what its subscriber may see. A
// consumer that does not read cannot grow the daemon's memory: once its socket buffer passes a
// bound, it is disconnected (it may reconnect and resume with Last-Event-ID).
import type { ServerResponse } from "node:http";
import { canSee, type EventLog, type NumberedEvent, type Subscriber } from "./event-log.js";

export const KEEPALIVE_MS = 15_000;
export const MAX_BUFFERED_BYTES = 1024 * 1024;

export class EventHub {
  readonly #streams = new Map<ServerResponse, Subscriber>();
  readonly #keepalive: NodeJS.Timeout;
  #dropped = 0;

  constructor(
    readonly log: EventLog,
    keepaliveMs = KEEPALIVE_MS,
    readonly maxBufferedBytes = MAX_BUFFERED_BYTES,
  ) {
    this.#keepalive = setInterval(() => this.#broadcast(": keep-alive\n\n"), keepaliveMs);
    this.#keepalive.unref();
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Streams dropped because they fell too far behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Starts a stream: headers, replay of what the client missed, then live events. */
  open(
    res: ServerResponse,
    lastEventId: number | undefined,
    headers: Record<string, string>,
    subscriber: Subscriber = { kind: "member" },
  ): void {
    res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
    // An idle stream is not an idle client: no socket timeout while it is open.
    res.socket?.setTimeout(0);
    res.write(": claudemesh events\n\n");
    if (lastEventId !== undefined) for (const event of this.log.since(lastEventId, subscriber)) res.write(event.frame);
    this.#streams.set(res, subscriber);
    res.on("close", () => this.#streams.delete(res));
  }

  publish(event: NumberedEvent): void {
    this.#broadcast(event.frame, event);
  }

  #broadcast(frame: string, event?: NumberedEvent): void {
    for (const [res, subscriber] of this.#streams) {
      if (event !== undefined && !canSee(subscriber, event.audience)) continue;
      if (res.writableLength > this.maxBufferedBytes) {
        this.#dropped++;
        this.#streams.delete(res);
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }

  /** Ends the streams of a session's token (it was removed or replaced): they may resume as nobody else. */
  closeToken(tokenHash: string): void {
    for (const [res, subscriber] of this.#streams) {
      if (subscriber.kind === "session" && subscriber.tokenHash === tokenHash) {
        this.#streams.delete(res);
        res.end();
      }
    }
  }

  /** Ends every stream (shutdown). */
  closeAll(): void {
    clearInterval(this.#keepalive);
    for (const res of this.#streams.keys()) res.end();
    this.#streams.clear();
  }
}
