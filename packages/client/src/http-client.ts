// One-shot JSON requests to the daemon over its Unix socket.
// node:net plus the small HTTP/1.1 framing of http1.ts: every CLI call is a fresh process, and
// start-up is its latency. undici costs ~225 ms there (its WASM parser is compiled at start), and
// merely loading node:http's client machinery ~5 ms, which a one-shot call does not need.
// (The long-lived event stream, event-stream.ts, does use node:http.) Only a type comes from node:http.
import type { IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { formatRequest, type Http1ParseError, type Http1Response, Http1ResponseParser } from "./http1.js";
import { checkSocketPath } from "./paths.js";
import { authorizationHeader, DAEMON_VERSION_HEADER } from "./wire.js";

export type ClientErrorKind = "unavailable" | "timeout" | "api" | "protocol";

/** Base of every error this client raises about the daemon; switch on `kind`. */
export abstract class ClientError extends Error {
  abstract readonly kind: ClientErrorKind;
}

/** Codes that prove no daemon owns the socket: no file there, or a file nobody listens on. */
const ABSENCE_CODES: ReadonlySet<string> = new Set(["ENOENT", "ECONNREFUSED"]);

/**
 * The daemon could not be reached. ENOENT (no socket file) and ECONNREFUSED (a socket file with no
 * listener, e.g. left by a killed daemon) prove nobody listens: `provesAbsent` is true and the caller
 * may start a daemon. Every other socket error (EACCES, EPERM, ENOTDIR, ECONNRESET mid-response...)
 * also lands here with its code kept, but proves nothing: never reclaim a socket on those.
 */
export class DaemonUnavailableError extends ClientError {
  override readonly name = "DaemonUnavailableError";
  readonly kind = "unavailable";
  constructor(
    readonly socketPath: string,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(unavailableMessage(socketPath, code, options?.cause), options);
  }

  get provesAbsent(): boolean {
    return this.code !== undefined && ABSENCE_CODES.has(this.code);
  }
}

function unavailableMessage(socketPath: string, code: string | undefined, cause: unknown): string {
  if (code === "ENOENT") return `daemon not running: no socket at ${socketPath}`;
  if (code === "ECONNREFUSED") return `daemon not running: nothing listens on ${socketPath}`;
  const detail = cause instanceof Error ? cause.message : String(code);
  return `cannot reach the daemon at ${socketPath}: ${detail}`;
}

/**
 * The whole request took longer than `timeoutMs`. A slow daemon is busy, not dead: this never
 * justifies removing its socket or lock, or starting a second daemon.
 */
export class DaemonTimeoutError extends ClientError {
  override readonly name = "DaemonTimeoutError";
  readonly kind = "timeout";
  constructor(
    readonly socketPath: string,
    readonly timeoutMs: number,
  ) {
    super(`the daemon at ${socketPath} did not answer within ${timeoutMs} ms (it may be busy)`);
  }
}

/** A non-2xx answer. `code` is the contract's snake_case code (a newer daemon may send others). */
export class ApiError extends ClientError {
  override readonly name = "ApiError";
  readonly kind = "api";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly daemonVersion?: string,
    /** The error object's other fields, e.g. `candidates` of an ambiguous recipient. */
    readonly detail: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** A 2xx answer whose body is not JSON: something other than our daemon answered, or it is broken. */
export class ProtocolError extends ClientError {
  override readonly name = "ProtocolError";
  readonly kind = "protocol";
  constructor(
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export type AnyClientError = DaemonUnavailableError | DaemonTimeoutError | ApiError | ProtocolError;

export interface RequestOptions {
  readonly method: string;
  /** Path and query, e.g. `/v1/sessions?mesh=default`. Never put a token here. */
  readonly path: string;
  /** Sent as JSON when present. */
  readonly body?: unknown;
  /** Sent only as `Authorization: ClaudeMesh-Session <token>`. */
  readonly token?: string;
  /** Bound on the whole exchange: connect, send, and the full response. */
  readonly timeoutMs: number;
  /** Aborting rejects with the signal's reason and closes the connection. */
  readonly signal?: AbortSignal;
}

export interface JsonResponse<T> {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: T;
  /** The `Claudemesh-Version` header, when the daemon sent one. */
  readonly daemonVersion?: string;
}

const SNAKE_CASE = /^[a-z][a-z0-9_]*$/;

/** Maps a non-2xx answer to an ApiError, using the contract's error body when there is one. */
export function apiErrorFrom(status: number, bodyText: string, daemonVersion?: string): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    parsed = undefined;
  }
  const error = isRecord(parsed) ? parsed["error"] : undefined;
  if (isRecord(error)) {
    const { code, message, ...detail } = error;
    if (typeof code === "string" && SNAKE_CASE.test(code) && typeof message === "string") {
      return new ApiError(status, code, message, daemonVersion, detail);
    }
  }
  return new ApiError(status, "internal", `the daemon answered HTTP ${status} without an error body`, daemonVersion);
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === "string" ? value : undefined;
}

/** Turns a socket-level error into DaemonUnavailableError, keeping its errno code. */
export function unavailableFrom(socketPath: string, err: Error): DaemonUnavailableError {
  const code = (err as NodeJS.ErrnoException).code;
  return new DaemonUnavailableError(socketPath, typeof code === "string" ? code : undefined, { cause: err });
}

/**
 * One JSON request on a fresh connection with `Connection: close`: a CLI process makes one or two
 * calls and exits, so pooling would only keep the process alive.
 * Resolves for 2xx; rejects with an AnyClientError otherwise, with SocketPathTooLongError for a
 * path the OS would truncate, with a TypeError for a method, path or token that cannot be sent
 * (before connecting), or with the signal's reason when aborted.
 * A response cut short (the daemon died mid-answer) is DaemonUnavailableError `ECONNRESET`; one
 * that is not HTTP/1.x, or whose headers are over 64 KiB or body over 16 MiB, is ProtocolError
 * (status 0 when no status line was read).
 */
export function requestJson<T>(socketPath: string, options: RequestOptions): Promise<JsonResponse<T>> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    let request: Buffer;
    try {
      checkSocketPath(socketPath);
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), "utf8");
      const headers: Record<string, string> = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (options.token !== undefined) headers["Authorization"] = authorizationHeader(options.token);
      request = formatRequest({ method: options.method, path: options.path, headers, body });
    } catch (err) {
      reject(err);
      return;
    }

    const parser = new Http1ResponseParser({ method: options.method });
    const socket = connect(socketPath);

    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      outcome();
    };
    const fail = (err: unknown): void => settle(() => reject(err));
    const onAbort = (): void => fail(signal?.reason);
    const timer = setTimeout(() => fail(new DaemonTimeoutError(socketPath, options.timeoutMs)), options.timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });

    const answered = (res: Http1Response): void => settle(() => settleResponse(res, resolve, reject));
    // Parse errors: a response cut short is a connection problem; anything else is not our daemon speaking.
    const parseFailed = (err: Http1ParseError): void =>
      fail(
        err.reason === "truncated"
          ? new DaemonUnavailableError(socketPath, "ECONNRESET", { cause: err })
          : new ProtocolError(err.status ?? 0, `the daemon's answer is not valid HTTP: ${err.message}`, { cause: err }),
      );

    socket.on("error", (err) => fail(unavailableFrom(socketPath, err)));
    socket.on("data", (chunk: Buffer) => {
      let res: Http1Response | undefined;
      try {
        res = parser.feed(chunk);
      } catch (err) {
        parseFailed(err as Http1ParseError);
        return;
      }
      if (res !== undefined) answered(res);
    });
    // The daemon closed its side: the response is complete only if its framing says so.
    const ended = (): void => {
      let res: Http1Response;
      try {
        res = parser.end();
      } catch (err) {
        parseFailed(err as Http1ParseError);
        return;
      }
      answered(res);
    };
    socket.on("end", ended);
    // "close" normally follows "end", "error" or our own destroy(), all settled by then; this only
    // guarantees that no way for the connection to go leaves the promise waiting for the timeout.
    socket.on("close", ended);
    // write(), not end(): a node:http server closes a half-closed connection instead of answering
    // on it, so a slow (busy) daemon would look like one that dropped the connection.
    socket.write(request);
  });
}

/** Resolves a complete response for 2xx JSON, rejects with ApiError or ProtocolError otherwise. */
function settleResponse<T>(
  res: Http1Response,
  resolve: (value: JsonResponse<T>) => void,
  reject: (reason: unknown) => void,
): void {
  const { status } = res;
  // Decoded only now that the body is whole: a multibyte character may have spanned two reads.
  const text = res.body.toString("utf8");
  const headers = res.headers as IncomingHttpHeaders;
  const daemonVersion = headerValue(headers, DAEMON_VERSION_HEADER);
  if (status < 200 || status > 299) {
    reject(apiErrorFrom(status, text, daemonVersion));
    return;
  }
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch (err) {
    reject(new ProtocolError(status, `the daemon answered HTTP ${status} with a non-JSON body`, { cause: err }));
    return;
  }
  resolve({ status, headers, body, daemonVersion });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
