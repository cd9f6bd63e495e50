// One-shot JSON requests to the daemon over its Unix socket.
// Only node:http: every CLI call is a fresh process, and undici's start-up cost (~225 ms measured,
// its WASM parser compiled at start) would dwarf the request itself (~17 ms with node:http).
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from "node:http";
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
    const { code, message } = error;
    if (typeof code === "string" && SNAKE_CASE.test(code) && typeof message === "string") {
      return new ApiError(status, code, message, daemonVersion);
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
 * One JSON request on a fresh connection (`agent: false`, `Connection: close`): a CLI process
 * makes one or two calls and exits, so pooling would only keep the process alive.
 * Resolves for 2xx; rejects with an AnyClientError otherwise, with SocketPathTooLongError for a
 * path the OS would truncate, or with the signal's reason when aborted.
 */
export function requestJson<T>(socketPath: string, options: RequestOptions): Promise<JsonResponse<T>> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    try {
      checkSocketPath(socketPath);
    } catch (err) {
      reject(err);
      return;
    }
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }

    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), "utf8");
    const headers: OutgoingHttpHeaders = { Accept: "application/json", Connection: "close" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = payload.length;
    }
    if (options.token !== undefined) headers["Authorization"] = authorizationHeader(options.token);

    const req = request({ socketPath, method: options.method, path: options.path, headers, agent: false });

    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      outcome();
    };
    const fail = (err: unknown): void => {
      settle(() => reject(err));
      req.destroy();
    };
    const onAbort = (): void => fail(signal?.reason);
    const timer = setTimeout(() => fail(new DaemonTimeoutError(socketPath, options.timeoutMs)), options.timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });

    req.on("error", (err) => fail(unavailableFrom(socketPath, err)));
    req.on("response", (res) => {
      res.setEncoding("utf8");
      let text = "";
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      // A response cut short (the daemon died mid-answer) errors with ECONNRESET.
      res.on("error", (err) => fail(unavailableFrom(socketPath, err)));
      res.on("end", () => {
        const status = Number(res.statusCode);
        const daemonVersion = headerValue(res.headers, DAEMON_VERSION_HEADER);
        if (status < 200 || status > 299) {
          settle(() => reject(apiErrorFrom(status, text, daemonVersion)));
          return;
        }
        let body: T;
        try {
          body = JSON.parse(text) as T;
        } catch (err) {
          settle(() =>
            reject(
              new ProtocolError(status, `the daemon answered HTTP ${status} with a non-JSON body`, { cause: err }),
            ),
          );
          return;
        }
        settle(() => resolve({ status, headers: res.headers, body, daemonVersion }));
      });
    });
    req.end(payload);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
