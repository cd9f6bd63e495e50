// The daemon's API spoken by hand over its Unix socket, below any client the product ships: a
// test sees exactly the status, headers and bytes the daemon sent.
import { request } from "node:http";
import { connect } from "node:net";

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): unknown;
}

export interface RequestOptions {
  readonly headers?: Record<string, string>;
  /** Sent as given: a test may send a body that is not JSON, or not valid at all. */
  readonly body?: string | Buffer;
  readonly timeoutMs?: number;
}

/** One request on a fresh connection (no agent, no keep-alive) with full control of it. */
export function http(
  socketPath: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error("request timed out")));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export interface RawExchangeOptions {
  /** How long to wait for the server to close; then whatever came so far is the answer. */
  readonly timeoutMs?: number;
  /** Close our side as soon as the bytes are written: a client that vanishes mid-request. */
  readonly hangUp?: boolean;
  /** A connection error ends the exchange instead of failing it: a reset is an answer too. */
  readonly tolerateErrors?: boolean;
}

/** Sends raw bytes (malformed HTTP included) and collects whatever comes back until the close. */
export function rawExchange(
  socketPath: string,
  bytes: string | Buffer,
  options: RawExchangeOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let out = "";
    socket.on("data", (c: Buffer) => {
      out += c.toString("latin1");
    });
    socket.on("end", () => resolve(out));
    socket.on("close", () => resolve(out));
    socket.on("error", (error) => (options.tolerateErrors ? resolve(out) : reject(error)));
    socket.setTimeout(options.timeoutMs ?? 10_000, () => {
      socket.destroy();
      resolve(out);
    });
    socket.write(bytes, () => {
      if (options.hangUp) socket.destroy();
    });
  });
}

/** The n-th test token: 64 hex digits, as the contract wants, and easy to tell apart. */
export function token(n: number): string {
  return n.toString(16).padStart(64, "0");
}

export function authorized(sessionToken: string): Record<string, string> {
  return { authorization: `ClaudeMesh-Session ${sessionToken}` };
}

/** POST /v1/sessions/register with `body` as JSON (nothing checked: tests send bad ones too). */
export function register(socketPath: string, body: Record<string, unknown>): Promise<RawResponse> {
  return http(socketPath, "POST", "/v1/sessions/register", {
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A session as the wire carries it, written out here so that a test catches a change to it. */
export interface WireSession {
  session_id: string;
  mesh: string;
  display_name: string;
  pid: number;
  cwd?: string;
  role?: string;
  groups?: string[];
  start_time: string | null;
  registered_at: number;
  token_prefix: string;
  session_pubkey?: string | null;
  member_fingerprint?: string | null;
  attestation_expires_at?: number | null;
  summary?: string | null;
  status?: string | null;
  inbound?: string;
  origin?: string;
  host?: string;
}

/** GET /v1/sessions, parsed. */
export async function listSessions(socketPath: string): Promise<WireSession[]> {
  return ((await http(socketPath, "GET", "/v1/sessions")).json() as { sessions: WireSession[] }).sessions;
}
