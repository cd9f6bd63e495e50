// A resilient subscription to GET /v1/events. It outlives daemon restarts: on any disconnect it
// waits, reconnects and sends Last-Event-ID, so the daemon replays from its ring what was missed.
import { type ClientRequest, request } from "node:http";
import type { Session } from "@claudemesh/registry";
import { apiErrorFrom, DaemonUnavailableError, headerValue, ProtocolError, unavailableFrom } from "./http-client.js";
import { checkSocketPath } from "./paths.js";
import { type SseMessage, SseParser } from "./sse.js";
import {
  authorizationHeader,
  DAEMON_VERSION_HEADER,
  type MessageStatusEventData,
  ROUTES,
  SESSION_EVENT_TYPES,
  type SessionEvent,
  type WireMessage,
} from "./wire.js";

export type StreamState = "connected" | "disconnected";

export interface WatchOptions {
  onEvent(event: SessionEvent): void;
  /** A message delivered to the session whose token the stream was opened with (never pushed for `hold`). */
  onMessage?(message: WireMessage, id: number): void;
  /** A recipient's state moved, for a message this subscriber sent. */
  onMessageStatus?(status: MessageStatusEventData, id: number): void;
  /** Open the stream as this session: it then also gets its own `message` and `message_status` events. */
  token?: string;
  /** Called on changes only: "connected" once per successful (re)connection, "disconnected" once per outage. */
  onState?(state: StreamState): void;
  /** Why an attempt failed (an AnyClientError), for diagnostics; the watch keeps retrying. */
  onError?(error: Error): void;
  /** Aborting ends the watch: the connection is closed and the returned promise resolves. */
  signal: AbortSignal;
  /** Wait between a disconnect and the next attempt. Default 500 ms. */
  reconnectDelayMs?: number;
  /** Resume after this event id, as if it had been seen. */
  lastEventId?: number;
}

export const DEFAULT_RECONNECT_DELAY_MS = 500;

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Decodes one SSE message into a SessionEvent, or undefined when it is not a well-formed one. */
export function decodeSessionEvent(message: SseMessage): SessionEvent | undefined {
  const type = SESSION_EVENT_TYPES.find((t) => t === message.event);
  const id = parseEventId(message.id);
  if (type === undefined || id === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const { session, reason } = data as { session?: unknown; reason?: unknown };
  if (typeof reason !== "string" || !isSessionLike(session)) return undefined;
  return { type, id, reason, session };
}

function parseData(message: SseMessage): Record<string, unknown> | undefined {
  try {
    const data: unknown = JSON.parse(message.data);
    return typeof data === "object" && data !== null && !Array.isArray(data)
      ? (data as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The message of a `message` event, or undefined when it is not a well-formed one. */
export function decodeMessageEvent(message: SseMessage): WireMessage | undefined {
  if (message.event !== "message") return undefined;
  const m = parseData(message)?.message as Record<string, unknown> | undefined;
  if (typeof m?.id !== "string" || typeof m.text !== "string" || typeof m.from !== "object" || m.from === null) {
    return undefined;
  }
  return m as unknown as WireMessage;
}

/** The data of a `message_status` event, or undefined when it is not a well-formed one. */
export function decodeMessageStatusEvent(message: SseMessage): MessageStatusEventData | undefined {
  if (message.event !== "message_status") return undefined;
  const data = parseData(message);
  const recipient = data?.recipient as Record<string, unknown> | undefined;
  if (
    typeof data?.message_id !== "string" ||
    typeof recipient?.session_id !== "string" ||
    typeof recipient.state !== "string"
  ) {
    return undefined;
  }
  return data as unknown as MessageStatusEventData;
}

/** A decimal, non-negative, safe-integer event id, or undefined. */
export function parseEventId(id: string | undefined): number | undefined {
  if (id === undefined || !DECIMAL.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : undefined;
}

// A shape check of the fields every consumer prints, not full validation: the daemon validated the
// session when it was registered, and the client must not reject fields a newer daemon adds.
function isSessionLike(value: unknown): value is Session {
  if (typeof value !== "object" || value === null) return false;
  const s = value as Record<string, unknown>;
  return (
    typeof s["session_id"] === "string" &&
    typeof s["mesh"] === "string" &&
    typeof s["display_name"] === "string" &&
    typeof s["pid"] === "number" &&
    typeof s["registered_at"] === "number"
  );
}

/**
 * Streams session events until `signal` aborts, then resolves. Rejects only with
 * SocketPathTooLongError (retrying could never help) or with an error thrown by a callback.
 * Malformed events are skipped. Events are not filtered by id: a restarted daemon may number
 * afresh, and dropping "old" ids would then lose everything.
 */
export function watchEvents(socketPath: string, options: WatchOptions): Promise<void> {
  const { signal } = options;
  const delayMs = options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS;
  let lastEventId = options.lastEventId;
  let state: StreamState | undefined;

  return new Promise((resolve, reject) => {
    try {
      checkSocketPath(socketPath);
    } catch (err) {
      reject(err);
      return;
    }
    let req: ClientRequest | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    let done = false;

    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(retryTimer);
      signal.removeEventListener("abort", onAbort);
      req?.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish();
    // A throwing callback stops the watch and rejects, instead of crashing from inside a socket handler.
    const guarded = (fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        finish(err);
      }
    };
    const setState = (next: StreamState): void => {
      if (state === next) return;
      state = next;
      guarded(() => options.onState?.(next));
    };

    const retry = (error: Error): void => {
      if (done) return;
      req = undefined;
      guarded(() => options.onError?.(error));
      setState("disconnected");
      if (done) return;
      retryTimer = setTimeout(connect, delayMs);
    };

    // No timeout on purpose: the stream is meant to stay open, and a daemon slow to answer is busy, not dead.
    const connect = (): void => {
      const headers: Record<string, string> = { Accept: "text/event-stream", "Cache-Control": "no-cache" };
      if (lastEventId !== undefined) headers["Last-Event-ID"] = String(lastEventId);
      if (options.token !== undefined) headers["Authorization"] = authorizationHeader(options.token);
      const current = request({ socketPath, method: "GET", path: ROUTES.events, headers, agent: false });
      req = current;
      let failed = false;
      const fail = (error: Error): void => {
        if (failed) return;
        failed = true;
        current.destroy();
        retry(error);
      };
      current.on("error", (err) => fail(unavailableFrom(socketPath, err)));
      current.on("response", (res) => {
        res.setEncoding("utf8");
        const status = Number(res.statusCode);
        const daemonVersion = headerValue(res.headers, DAEMON_VERSION_HEADER);
        if (status !== 200) {
          let text = "";
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => fail(apiErrorFrom(status, text, daemonVersion)));
          return;
        }
        if (!headerValue(res.headers, "content-type")?.startsWith("text/event-stream")) {
          fail(new ProtocolError(status, `the daemon answered ${ROUTES.events} without an event stream`));
          return;
        }
        setState("connected");
        // A fresh parser per connection: a message cut off by a disconnect is discarded, not glued to the next.
        const parser = new SseParser();
        res.on("data", (chunk: string) => {
          for (const message of parser.feed(chunk)) {
            if (done || failed) return;
            // The id is consumed even when the event is malformed: a replay would not repair it.
            const id = parseEventId(message.id);
            if (id !== undefined) lastEventId = id;
            if (id === undefined) continue;
            const event = decodeSessionEvent(message);
            if (event !== undefined) {
              guarded(() => options.onEvent(event));
              continue;
            }
            const delivered = options.onMessage && decodeMessageEvent(message);
            if (delivered) {
              guarded(() => options.onMessage?.(delivered, id));
              continue;
            }
            const status = options.onMessageStatus && decodeMessageStatusEvent(message);
            if (status) guarded(() => options.onMessageStatus?.(status, id));
          }
        });
        res.on("error", (err) => fail(unavailableFrom(socketPath, err)));
        // However the stream ends (daemon stopped, crashed, restarted), it is a disconnect.
        const closed = (): void =>
          fail(
            new DaemonUnavailableError(socketPath, undefined, {
              cause: new Error("the daemon closed the event stream"),
            }),
          );
        res.on("end", closed);
        res.on("close", closed);
      });
      current.end();
    };

    if (signal.aborted) {
      finish();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    connect();
  });
}
