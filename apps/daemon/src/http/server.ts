// The HTTP/1.1 server over the Unix socket: the request pipeline every route goes through
// (common headers, browser refusal, query-token refusal, routing, errors, metrics) and the
// limits that keep a slow or idle client from holding the daemon.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { API_VERSION, API_VERSION_HEADER, DAEMON_VERSION_HEADER } from "@claudemesh/client";
import { DAEMON_VERSION } from "../version.js";
import { type ErrorCode, errorBody, HttpError } from "./http-error.js";

export type Method = "GET" | "POST" | "PATCH" | "DELETE";

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly query: URLSearchParams;
  /** The `:name` segments of the route's path, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Headers every response must carry. */
  readonly baseHeaders: Record<string, string>;
}

/**
 * A JSON answer (`body` to serialize, or `json` already serialized), or "streamed" when the
 * handler wrote the response itself.
 */
export type Reply = { status?: number; body: unknown } | { status?: number; json: string } | "streamed";
export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;
/** Handlers by path; a segment `:name` matches any one segment (e.g. `/v1/messages/:id`). */
export type Routes = Record<string, Partial<Record<Method, Handler>>>;

interface PatternRoute {
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly table: Partial<Record<Method, Handler>>;
}

/** Finds the route of a path: an exact one first, then the first pattern that matches. */
function routeMatcher(routes: Routes) {
  const patterns: PatternRoute[] = Object.entries(routes)
    .filter(([path]) => path.includes("/:"))
    .map(([pattern, table]) => ({ pattern, segments: pattern.split("/"), table }));
  return (path: string) => {
    const exact = routes[path];
    if (exact !== undefined && !path.includes("/:")) return { route: path, table: exact, params: {} };
    const parts = path.split("/");
    for (const { pattern, segments, table } of patterns) {
      if (segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const matches = segments.every((segment, i) => {
        const part = parts[i] as string;
        if (!segment.startsWith(":")) return segment === part;
        if (part === "") return false;
        try {
          params[segment.slice(1)] = decodeURIComponent(part);
        } catch {
          return false;
        }
        return true;
      });
      if (matches) return { route: pattern, table, params };
    }
    return undefined;
  };
}

export interface ServerHooks {
  onRequest?(route: string, method: string, status: number): void;
  onError?(error: unknown, route: string): void;
}

export const SERVER_LIMITS = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  idleSocketTimeoutMs: 30_000,
  maxConnections: 1024,
} as const;

const BASE_HEADERS = { [DAEMON_VERSION_HEADER]: DAEMON_VERSION, [API_VERSION_HEADER]: API_VERSION } as const;
// The same headers as raw lines, for answers written straight to the socket.
const BASE_HEADER_LINES = Object.entries(BASE_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join("");
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]);
const TOKEN_LIKE = /^[0-9a-f]{64}$/i;

export function sendJson(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    ...BASE_HEADERS,
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
    "cache-control": "no-store",
  });
  res.end(body);
}

function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  if (!path.startsWith("/")) throw new HttpError("bad_request", "request target must be an absolute path");
  return { path, query: new URLSearchParams(q < 0 ? "" : target.slice(q + 1)) };
}

/** Tokens travel only in the Authorization header; one in a URL ends up in logs and histories. */
function refuseQueryToken(query: URLSearchParams): void {
  for (const [key, value] of query) {
    // A mesh name may legitimately be 64 hex characters; any other parameter holding one is a token.
    if (/token|auth/i.test(key) || (key !== "mesh" && TOKEN_LIKE.test(value))) {
      throw new HttpError("bad_request", "tokens are accepted only in the Authorization header, never in the URL");
    }
  }
}

export function createHttpServer(routes: Routes, hooks: ServerHooks = {}): Server {
  const server = createServer(
    {
      maxHeaderSize: SERVER_LIMITS.maxHeaderSize,
      headersTimeout: SERVER_LIMITS.headersTimeoutMs,
      requestTimeout: SERVER_LIMITS.requestTimeoutMs,
      keepAliveTimeout: SERVER_LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => void handle(req, res),
  );
  server.maxConnections = SERVER_LIMITS.maxConnections;
  const match = routeMatcher(routes);
  server.timeout = SERVER_LIMITS.idleSocketTimeoutMs;

  // Responses still being produced on each connection. A parse error that arrives meanwhile
  // (garbage after a request's body) must not get a second response on the same connection.
  const pending = new WeakMap<object, number>();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    pending.set(socket, (pending.get(socket) ?? 0) + 1);
    res.once("close", () => pending.set(socket, (pending.get(socket) ?? 1) - 1));
  });

  // Malformed requests never reach the handler: answer them in the contract's form too.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === "ECONNRESET" || (pending.get(socket) ?? 0) > 0) {
      socket.destroy();
      return;
    }
    const [status, code, message] =
      error.code === "HPE_HEADER_OVERFLOW"
        ? [431, "header_too_large", "request headers are too large"]
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? [408, "request_timeout", "request took too long to arrive"]
          : [400, "bad_request", "malformed HTTP request"];
    const body = errorBody(code as ErrorCode, message);
    // A response to HEAD carries no body, even an error one: the client would read it as garbage.
    const raw = (error as { rawPacket?: Buffer }).rawPacket;
    const isHead = raw?.subarray(0, 5).toString("latin1") === "HEAD ";
    socket.end(
      `HTTP/1.1 ${status} ${code}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `${BASE_HEADER_LINES}content-length: ${Buffer.byteLength(body)}\r\n\r\n` +
        (isHead ? "" : body),
    );
    hooks.onRequest?.("invalid", "other", status);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let route = "unknown";
    const method = KNOWN_METHODS.has(req.method ?? "") ? (req.method as string) : "other";
    try {
      if (req.headers.origin !== undefined || req.headers.referer !== undefined) {
        throw new HttpError("forbidden", "requests from browsers (with an Origin or Referer header) are refused");
      }
      const { path, query } = splitTarget(req.url ?? "");
      refuseQueryToken(query);
      const found = match(path);
      if (found === undefined) throw new HttpError("not_found", `no route ${path}`);
      const { table, params } = found;
      route = found.route;
      const lookup = (req.method === "HEAD" ? "GET" : req.method) as Method;
      const handler = table[lookup];
      if (handler === undefined) {
        // HEAD is answered wherever GET is.
        const allow = Object.keys(table)
          .flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m]))
          .join(", ");
        throw new HttpError("method_not_allowed", `${req.method} is not allowed on ${path} (allowed: ${allow})`, {
          allow,
        });
      }
      const reply = await handler({ req, res, query, params, baseHeaders: BASE_HEADERS });
      if (reply !== "streamed") {
        sendJson(res, reply.status ?? 200, "json" in reply ? reply.json : JSON.stringify(reply.body));
      }
    } catch (error) {
      if (error instanceof HttpError) {
        sendJson(res, error.status, errorBody(error.code, error.message, error.detail), error.headers);
      } else {
        hooks.onError?.(error, route);
        sendJson(res, 500, errorBody("internal", "internal error; see the daemon log"));
      }
    }
    hooks.onRequest?.(route, method, res.statusCode);
  }

  return server;
}
