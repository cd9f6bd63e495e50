// The MCP server's connection to the daemon: undici over the Unix socket, kept for the server's
// life. A long-lived client is where undici pays off (lowest per-request latency); the one-shot
// CLI commands keep node:net. A small pool rather than one Client: a tool waiting on a long-poll
// of the inbox must not hold up a `mesh_send` the agent makes meanwhile. After a daemon restart
// the next request simply connects again.
import { apiErrorFrom, authorizationHeader, DAEMON_VERSION_HEADER, DaemonUnavailableError } from "@claudemesh/client";
import { Pool } from "undici";

export interface DaemonCall {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE";
  readonly path: string;
  readonly body?: unknown;
  /** Longer than the default for a long-poll. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;

export class DaemonClient {
  readonly #pool: Pool;

  constructor(
    readonly socketPath: string,
    readonly token: string,
  ) {
    this.#pool = new Pool("http://localhost", { socketPath, connections: 4, keepAliveTimeout: 10_000 });
  }

  /** One JSON request as this session. Throws ApiError for a refusal, DaemonUnavailableError when the daemon is away. */
  async request<T>(call: DaemonCall): Promise<T> {
    const timeout = call.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let statusCode: number;
    let text: string;
    let version: string | undefined;
    try {
      const res = await this.#pool.request({
        method: call.method,
        path: call.path,
        headers: {
          authorization: authorizationHeader(this.token),
          accept: "application/json",
          ...(call.body !== undefined && { "content-type": "application/json" }),
        },
        ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      statusCode = res.statusCode;
      const header = res.headers[DAEMON_VERSION_HEADER];
      version = typeof header === "string" ? header : undefined;
      text = await res.body.text();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new DaemonUnavailableError(this.socketPath, typeof code === "string" ? code : undefined, { cause: error });
    }
    if (statusCode < 200 || statusCode > 299) throw apiErrorFrom(statusCode, text, version);
    return JSON.parse(text) as T;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
