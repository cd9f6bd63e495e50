// The HTTP surface shared by the daemon and the CLI: header names, auth scheme, routes, error codes
// and response bodies, exactly as CONTRACT.md states them. Pure: no I/O.
import type { MessageStatus, SentMessage, WireMessage, WireRecipient } from "@claudemesh/mesh";
import type { InboundPolicy, Registration, Session, SessionStatus } from "@claudemesh/registry";

export type { MessageStatus, SentMessage, WireMessage, WireRecipient } from "@claudemesh/mesh";

/** Response header carrying the API version; its value is API_VERSION. Node lower-cases header names. */
export const API_VERSION_HEADER = "claudemesh-api";
/** Response header carrying the daemon's semver, so the CLI can warn about a version mismatch. */
export const DAEMON_VERSION_HEADER = "claudemesh-version";
export const API_VERSION = "1";
/** `ipc_api` in GET /v1/version. */
export const IPC_API = "v1";

export const ROUTES = {
  version: "/v1/version",
  health: "/v1/health",
  register: "/v1/sessions/register",
  sessions: "/v1/sessions",
  me: "/v1/sessions/me",
  events: "/v1/events",
  metrics: "/v1/metrics",
  peers: "/v1/peers",
  messages: "/v1/messages",
  inbox: "/v1/inbox",
  inboxMark: "/v1/inbox/mark",
  member: "/v1/member",
  meshes: "/v1/meshes",
} as const;

/** GET and DELETE /v1/meshes/{name} */
export function meshPath(name: string): string {
  return `${ROUTES.meshes}/${encodeURIComponent(name)}`;
}

/** GET /v1/messages/{id} */
export function messagePath(id: string): string {
  return `${ROUTES.messages}/${encodeURIComponent(id)}`;
}

export const AUTH_SCHEME = "ClaudeMesh-Session";

const TOKEN = /^[0-9a-f]{64}$/;
// RFC 9110: scheme, one or more spaces, credentials. Node already trims the header value.
const AUTHORIZATION = /^(\S+) +(\S+)$/;

/** The only place a session token may travel. */
export function authorizationHeader(token: string): string {
  return `${AUTH_SCHEME} ${token}`;
}

/** The token in an `Authorization` value, or undefined unless it is exactly our scheme and a 64-hex token. */
export function parseAuthorization(headerValue: string | undefined): string | undefined {
  if (headerValue === undefined) return undefined;
  const match = AUTHORIZATION.exec(headerValue.trim());
  if (!match) return undefined;
  const [, scheme, token] = match;
  // Auth schemes are case-insensitive (RFC 9110 §11.1); the token is not.
  if (scheme?.toLowerCase() !== AUTH_SCHEME.toLowerCase()) return undefined;
  return token !== undefined && TOKEN.test(token) ? token : undefined;
}

export const ERROR_CODES = [
  "bad_request",
  "invalid_json",
  "invalid_field",
  "unauthorized",
  "forbidden",
  "not_found",
  "unknown_recipient",
  "method_not_allowed",
  "request_timeout",
  "ambiguous_recipient",
  "payload_too_large",
  "rate_limited",
  "header_too_large",
  "internal",
  "credentials_file",
  "mesh_not_bound",
  "mesh_already_bound",
  "nats_unreachable",
  "nats_auth",
  "nats_tls",
  "nats_no_jetstream",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The HTTP status each error code is sent with. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  invalid_json: 400,
  invalid_field: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  unknown_recipient: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  ambiguous_recipient: 409,
  payload_too_large: 413,
  rate_limited: 429,
  header_too_large: 431,
  internal: 500,
  credentials_file: 400,
  mesh_not_bound: 404,
  mesh_already_bound: 409,
  // The NATS server `mesh add` checks answered badly, or not at all: a bad gateway.
  nats_unreachable: 502,
  nats_auth: 502,
  nats_tls: 502,
  nats_no_jetstream: 502,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    /** With `ambiguous_recipient`: the sessions the name matched. */
    readonly candidates?: readonly { readonly session_id: string; readonly display_name: string }[];
  };
}

export interface VersionInfo {
  readonly daemon_version: string;
  readonly ipc_api: string;
  readonly ipc_features: readonly string[];
  readonly schema_version: number;
}

export interface Health {
  readonly ok: true;
  readonly pid: number;
  readonly uptime_ms: number;
  readonly sessions: number;
  /** The service manager supervising the daemon, null when started on demand; absent from older daemons. */
  readonly managed_by?: "systemd" | "launchd" | null;
  /** `SHA256:` fingerprint of the daemon's member key; absent from older daemons. */
  readonly member_fingerprint?: string;
  readonly host?: string;
}

/** Body of POST /v1/sessions/register: the token plus the session fields the client may set. */
export type RegisterRequest = Registration;

export interface RegisterResponse {
  readonly ok: true;
  readonly registered_at: number;
  /** True when the session id was held by another token and that entry was replaced. */
  readonly replaced: boolean;
}

export interface SessionsResponse {
  readonly sessions: readonly Session[];
}

export interface MeResponse {
  readonly session: Session;
}

export interface OkResponse {
  readonly ok: true;
}

/** GET /v1/member: the user on this machine, as peers see it. */
export interface MemberResponse {
  readonly member: { readonly fingerprint: string; readonly host: string; readonly name: string };
}

export interface PeersResponse {
  readonly peers: readonly Session[];
}

/** PATCH /v1/sessions/me */
export interface SessionPatchRequest {
  readonly summary?: string;
  readonly status?: SessionStatus | null;
  readonly inbound?: InboundPolicy;
}

/** POST /v1/messages */
export interface SendMessageRequest {
  readonly to: string;
  readonly text: string;
  readonly priority?: "now" | "next" | "low";
  readonly reply_to?: string;
  readonly idempotency_key?: string;
  /** From a plain shell: the mesh to send in (a session always sends in its own). */
  readonly mesh?: string;
  /** A session holding its own key signs the message itself: id (UUIDv7), sent_at and signature together. */
  readonly id?: string;
  readonly sent_at?: number;
  readonly signature?: string;
}

export interface SendMessageResponse {
  readonly message: SentMessage;
}

export interface MessageStatusResponse {
  readonly message: MessageStatus;
}

export interface InboxResponse {
  readonly messages: readonly WireMessage[];
}

export interface MarkRequest {
  readonly ids: readonly string[];
  readonly state: "surfaced" | "acked";
}

export interface MarkResponse {
  readonly updated: number;
}

/** The `message_status` event's data. */
export interface MessageStatusEventData {
  readonly message_id: string;
  readonly recipient: WireRecipient;
}

export const SESSION_EVENT_TYPES = ["session_registered", "session_deregistered", "session_updated"] as const;
export type SessionEventType = (typeof SESSION_EVENT_TYPES)[number];

/** One event of GET /v1/events, decoded: the SSE `event`, `id` and the `{session, reason}` data. */
export interface SessionEvent {
  readonly type: SessionEventType;
  readonly id: number;
  /** `registered`, `updated`, or why the session went: `exited`, `pid_reused`, `deregistered`, `replaced`. Kept open for newer daemons. */
  readonly reason: string;
  readonly session: Session;
}

/** A bound mesh's link, as `mesh status` shows it. */
export interface MeshStatusView {
  /** `connecting`, `connected`, `reconnecting` or `closed`; kept open for newer daemons. */
  readonly state: string;
  /** The server connected to (`host:port`), or the last one while reconnecting; null before any. */
  readonly server: string | null;
  readonly rtt_ms: number | null;
  /** Remote sessions believed and live. */
  readonly remote_peers: number;
  /** Messages to remote sessions not yet stored by the server. */
  readonly outbox: number;
}

/** A mesh bound to NATS servers: GET /v1/meshes, GET /v1/meshes/{name}, the 201 of POST /v1/meshes. */
export interface MeshView {
  readonly name: string;
  readonly servers: readonly string[];
  /** The file authenticating to the servers, by path (a secret is never stored inline); null for none. */
  readonly credentials: { readonly kind: "creds" | "token" | "nkey"; readonly file: string } | null;
  readonly tls_ca: string | null;
  readonly trust_members: readonly string[];
  readonly added_at: number;
  /** Null when the daemon holds the binding but does not serve it (it failed to start). */
  readonly status: MeshStatusView | null;
}

export interface MeshesResponse {
  readonly meshes: readonly MeshView[];
}

/** POST /v1/meshes: paths are absolute (the CLI resolves them); at most one of creds, token_file, nkey_seed_file. */
export interface MeshAddRequest {
  readonly name: string;
  readonly servers: readonly string[];
  readonly creds?: string;
  readonly token_file?: string;
  readonly nkey_seed_file?: string;
  readonly tls_ca?: string;
  readonly trust_members?: readonly string[];
}

/** DELETE /v1/meshes/{name} */
export interface MeshRemoveResponse {
  readonly removed: string;
}
