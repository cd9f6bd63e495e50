// The session model and its validation, exactly as CONTRACT.md states it.
// Pure: no I/O. Defaults that depend on the environment are injected by the caller.
import type { SecretKey } from "./secret.js";

/** What a session says it is doing; null until it says. */
export type SessionStatus = "working" | "idle" | "waiting";
export const SESSION_STATUSES: readonly SessionStatus[] = ["working", "idle", "waiting"];

/** What happens to messages sent to a session: pushed and pulled, only pulled, or refused. */
export type InboundPolicy = "accept" | "hold" | "refuse";
export const INBOUND_POLICIES: readonly InboundPolicy[] = ["accept", "hold", "refuse"];

/** The member key vouching for a session key until `expires_at` (hex keys, epoch ms). */
export interface ParentAttestation {
  readonly session_pubkey: string;
  readonly parent_member_pubkey: string;
  readonly expires_at: number;
  readonly signature: string;
}

/**
 * A session's verifiable identity: its ed25519 key and the member's attestation of it. Held in
 * memory only: the secret key is never persisted, returned or logged. toSession and
 * toStoredSession are the gates that keep it in: they copy explicit public fields only.
 */
export interface SessionPresence {
  readonly session_pubkey: string;
  /** The session key's seed, in memory only (see secret.ts). */
  readonly session_secret_key: SecretKey;
  readonly parent_attestation: ParentAttestation;
  /** `SHA256:` fingerprint of the parent member key. */
  readonly member_fingerprint: string;
}

/** The fields of a session that are persisted: the v1 fields and what a session says about itself. */
export interface StoredSession {
  readonly session_id: string;
  readonly mesh: string;
  readonly display_name: string;
  readonly pid: number;
  readonly cwd?: string;
  readonly role?: string;
  readonly groups?: readonly string[];
  /** Opaque process identity captured by the daemon; null when it could not be read. */
  readonly start_time: string | null;
  /** Epoch milliseconds. */
  readonly registered_at: number;
  /** First 8 hex chars of the token, for humans. */
  readonly token_prefix: string;
  /** Up to 280 printable characters the session sets about what it is doing. */
  readonly summary?: string;
  /** Absent means null. */
  readonly status?: SessionStatus | null;
  /** Absent means accept. */
  readonly inbound?: InboundPolicy;
}

/** What the registry holds for a live session: its stored fields and, in memory only, its presence. */
export interface SessionRecord extends StoredSession {
  readonly presence?: SessionPresence;
}

/**
 * A session as the API returns it. It never carries the token, its hash or a secret key.
 * The v2 fields are optional in the type: an older daemon does not send them.
 */
export interface Session {
  readonly session_id: string;
  readonly mesh: string;
  readonly display_name: string;
  readonly pid: number;
  readonly cwd?: string;
  readonly role?: string;
  readonly groups?: readonly string[];
  readonly start_time: string | null;
  readonly registered_at: number;
  readonly token_prefix: string;
  /** Hex ed25519 public key of the session; null while a restored session's new key is minted. */
  readonly session_pubkey?: string | null;
  readonly member_fingerprint?: string | null;
  readonly attestation_expires_at?: number | null;
  readonly summary?: string | null;
  readonly status?: SessionStatus | null;
  readonly inbound?: InboundPolicy;
  readonly origin?: "local" | "remote";
  /** The host name of the daemon holding the session. */
  readonly host?: string;
}

/** The fields a client sends to register; the daemon sets the rest. */
export interface Registration {
  readonly token: string;
  readonly session_id: string;
  readonly mesh: string;
  readonly display_name: string;
  readonly pid: number;
  readonly cwd?: string;
  readonly role?: string;
  readonly groups?: readonly string[];
  readonly summary?: string;
  readonly inbound?: InboundPolicy;
  /** Verified by the daemon (packages/mesh) before the registry sees it, or minted there. */
  readonly presence?: SessionPresence;
}

/** Defaults for the optional fields a registration may leave out. */
export interface RegistrationDefaults {
  newSessionId(): string;
  readonly mesh: string;
  /** Used when neither display_name nor cwd is given. */
  readonly displayName: string;
}

/** Why a field was refused: the field's wire name and the rule it broke. */
export class FieldError extends Error {
  override readonly name = "FieldError";
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`);
  }
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: FieldError };

export const LIMITS = {
  sessionId: 128,
  mesh: 64,
  displayName: 128,
  role: 64,
  groups: 32,
  group: 64,
  cwd: 4096,
  summary: 280,
  /** pid_t is a signed 32-bit integer on every platform we run on. */
  pid: 2_147_483_647,
} as const;

const SESSION_ID = /^[A-Za-z0-9._:-]+$/;
const MESH = /^[a-z0-9._-]+$/;
const TOKEN = /^[0-9a-f]{64}$/;
const TOKEN_HASH = TOKEN;
const TOKEN_PREFIX = /^[0-9a-f]{8}$/;
// Control characters, lone surrogates and unassigned code points are not printable.
const NON_PRINTABLE = /[\p{Cc}\p{Cs}\p{Cn}]/u;

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** A mesh name by the registry's rule: 1–64 of a-z 0-9 . _ - (what every package that names a mesh checks). */
export function isMeshName(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= LIMITS.mesh && MESH.test(value);
}

/** A session id by the registry's rule: 1–128 of A-Z a-z 0-9 . _ : -. */
export function isSessionId(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= LIMITS.sessionId && SESSION_ID.test(value);
}

export function isToken(value: unknown): value is string {
  return typeof value === "string" && TOKEN.test(value);
}

export function isTokenHash(value: unknown): value is string {
  return typeof value === "string" && TOKEN_HASH.test(value);
}

/** Each check returns the rule broken, or undefined when the value is valid. */
type Check = (value: unknown) => string | undefined;

const checkToken: Check = (v) => (isToken(v) ? undefined : "must be 64 lowercase hex characters");

const checkSessionId: Check = (v) => {
  if (typeof v !== "string") return "must be a string";
  if (v.length < 1 || v.length > LIMITS.sessionId) return `must be 1–${LIMITS.sessionId} characters`;
  return SESSION_ID.test(v) ? undefined : "may contain only A-Z a-z 0-9 . _ : -";
};

const checkMesh: Check = (v) => {
  if (typeof v !== "string") return "must be a string";
  if (v.length < 1 || v.length > LIMITS.mesh) return `must be 1–${LIMITS.mesh} characters`;
  return MESH.test(v) ? undefined : "may contain only a-z 0-9 . _ -";
};

function printable(min: number, max: number): Check {
  return (v) => {
    if (typeof v !== "string") return "must be a string";
    const n = codePoints(v);
    if (n < min || n > max) return min > 0 ? `must be ${min}–${max} characters` : `must be at most ${max} characters`;
    return NON_PRINTABLE.test(v) ? "must contain only printable characters" : undefined;
  };
}

const checkDisplayName = printable(1, LIMITS.displayName);
const checkRole = printable(0, LIMITS.role);
const checkGroup = printable(0, LIMITS.group);
const checkSummary = printable(0, LIMITS.summary);

function oneOf(values: readonly string[]): Check {
  return (v) => (typeof v === "string" && values.includes(v) ? undefined : `must be one of ${values.join(", ")}`);
}
const checkInbound = oneOf(INBOUND_POLICIES);
const checkStatusValue = oneOf(SESSION_STATUSES);
const checkStatus: Check = (v) => (v === null ? undefined : checkStatusValue(v));

const checkPid: Check = (v) =>
  typeof v === "number" && Number.isInteger(v) && v > 0 && v <= LIMITS.pid
    ? undefined
    : `must be an integer from 1 to ${LIMITS.pid}`;

const checkCwd: Check = (v) => {
  if (typeof v !== "string") return "must be a string";
  if (!v.startsWith("/")) return "must be an absolute path";
  if (v.length > LIMITS.cwd) return `must be at most ${LIMITS.cwd} characters`;
  return v.includes("\0") ? "must not contain NUL" : undefined;
};

const checkGroups: Check = (v) => {
  if (!Array.isArray(v)) return "must be an array of strings";
  if (v.length > LIMITS.groups) return `must have at most ${LIMITS.groups} items`;
  for (const item of v) {
    const rule = checkGroup(item);
    if (rule) return `every item ${rule}`;
  }
  return undefined;
};

const checkStartTime: Check = (v) =>
  v === null || (typeof v === "string" && v.length > 0 && v.length <= 256)
    ? undefined
    : "must be null or a string of 1–256 characters";

const checkRegisteredAt: Check = (v) =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? undefined : "must be a non-negative integer (epoch ms)";

const checkTokenPrefix: Check = (v) =>
  typeof v === "string" && TOKEN_PREFIX.test(v) ? undefined : "must be 8 lowercase hex characters";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Runs the checks in order; the first failure wins so the error names one field. */
function firstError(record: Record<string, unknown>, checks: ReadonlyArray<[string, Check, boolean]>) {
  for (const [field, check, required] of checks) {
    const value = record[field];
    if (value === undefined) {
      if (required) return new FieldError(field, "is required");
      continue;
    }
    const rule = check(value);
    if (rule) return new FieldError(field, rule);
  }
  return undefined;
}

const REGISTRATION_CHECKS: ReadonlyArray<[string, Check, boolean]> = [
  ["token", checkToken, true],
  ["session_id", checkSessionId, false],
  ["mesh", checkMesh, false],
  ["display_name", checkDisplayName, false],
  ["pid", checkPid, true],
  ["cwd", checkCwd, false],
  ["role", checkRole, false],
  ["groups", checkGroups, false],
  ["summary", checkSummary, false],
  ["inbound", checkInbound, false],
];

function basename(path: string): string {
  const parts = path.split("/").filter((p) => p.length > 0);
  return parts.at(-1) ?? "/";
}

/**
 * Validates a registration body. Unknown fields are ignored; missing optional fields take
 * their defaults (display_name falls back to the basename of cwd, then to the default).
 */
export function parseRegistration(raw: unknown, defaults: RegistrationDefaults): Parsed<Registration> {
  if (!isRecord(raw)) return { ok: false, error: new FieldError("body", "must be a JSON object") };
  const error = firstError(raw, REGISTRATION_CHECKS);
  if (error) return { ok: false, error };
  const cwd = raw.cwd as string | undefined;
  let displayName = raw.display_name as string | undefined;
  if (displayName === undefined) {
    displayName = cwd !== undefined ? basename(cwd).slice(0, LIMITS.displayName) : defaults.displayName;
    // A derived default must itself be valid, or the registration would store an invalid name.
    if (checkDisplayName(displayName)) displayName = defaults.displayName;
  }
  const value: Registration = {
    token: raw.token as string,
    session_id: (raw.session_id as string | undefined) ?? defaults.newSessionId(),
    mesh: (raw.mesh as string | undefined) ?? defaults.mesh,
    display_name: displayName,
    pid: raw.pid as number,
    ...(cwd !== undefined && { cwd }),
    ...(raw.role !== undefined && { role: raw.role as string }),
    ...(raw.groups !== undefined && { groups: Object.freeze([...(raw.groups as string[])]) }),
    ...(raw.summary !== undefined && { summary: raw.summary as string }),
    ...(raw.inbound !== undefined && { inbound: raw.inbound as InboundPolicy }),
  };
  return { ok: true, value };
}

const SESSION_CHECKS: ReadonlyArray<[string, Check, boolean]> = [
  ["session_id", checkSessionId, true],
  ["mesh", checkMesh, true],
  ["display_name", checkDisplayName, true],
  ["pid", checkPid, true],
  ["cwd", checkCwd, false],
  ["role", checkRole, false],
  ["groups", checkGroups, false],
  ["start_time", checkStartTime, true],
  ["registered_at", checkRegisteredAt, true],
  ["token_prefix", checkTokenPrefix, true],
  ["summary", checkSummary, false],
  ["status", checkStatus, false],
  ["inbound", checkInbound, false],
];

/** Validates a complete session record (as stored by the persistence codec). */
export function parseSession(raw: unknown): Parsed<StoredSession> {
  if (!isRecord(raw)) return { ok: false, error: new FieldError("session", "must be a JSON object") };
  const error = firstError(raw, SESSION_CHECKS);
  if (error) return { ok: false, error };
  return { ok: true, value: toStoredSession(raw as unknown as StoredSession) };
}

/** What a session may change about itself (PATCH /v1/sessions/me). */
export interface SessionPatch {
  /** An empty string clears the summary. */
  readonly summary?: string;
  readonly status?: SessionStatus | null;
  readonly inbound?: InboundPolicy;
}

const PATCH_CHECKS: ReadonlyArray<[string, Check, boolean]> = [
  ["summary", checkSummary, false],
  ["status", checkStatus, false],
  ["inbound", checkInbound, false],
];

/** Validates a patch body; at least one known field must be set. */
export function parseSessionPatch(raw: unknown): Parsed<SessionPatch> {
  if (!isRecord(raw)) return { ok: false, error: new FieldError("body", "must be a JSON object") };
  const error = firstError(raw, PATCH_CHECKS);
  if (error) return { ok: false, error };
  if (raw.summary === undefined && raw.status === undefined && raw.inbound === undefined) {
    return { ok: false, error: new FieldError("body", "must set at least one of summary, status, inbound") };
  }
  return {
    ok: true,
    value: {
      ...(raw.summary !== undefined && { summary: raw.summary as string }),
      ...(raw.status !== undefined && { status: raw.status as SessionStatus | null }),
      ...(raw.inbound !== undefined && { inbound: raw.inbound as InboundPolicy }),
    },
  };
}

/** The v1 fields of a session, copied one by one: both field lists below start from them. */
function v1Fields(s: StoredSession) {
  return {
    session_id: s.session_id,
    mesh: s.mesh,
    display_name: s.display_name,
    pid: s.pid,
    ...(s.cwd !== undefined && { cwd: s.cwd }),
    ...(s.role !== undefined && { role: s.role }),
    ...(s.groups !== undefined && { groups: Object.freeze([...s.groups]) }),
    start_time: s.start_time,
    registered_at: s.registered_at,
    token_prefix: s.token_prefix,
  };
}

/** The stored fields, from an explicit list: what the state file and the journal hold. */
export function toStoredSession(s: StoredSession): StoredSession {
  return Object.freeze({
    ...v1Fields(s),
    ...(s.summary !== undefined && s.summary !== "" && { summary: s.summary }),
    ...(s.status !== undefined && s.status !== null && { status: s.status }),
    ...(s.inbound !== undefined && s.inbound !== "accept" && { inbound: s.inbound }),
  });
}

/** Where a session lives, for its wire form: this daemon's, or one learned from another daemon. */
export interface SessionOrigin {
  readonly origin: "local" | "remote";
  readonly host?: string;
}

const LOCAL: SessionOrigin = { origin: "local" };

/**
 * The wire form of a session, from an explicit field list. Every response and every event goes
 * through here, so no other property (a token, a hash, a secret key) can ever slip through: of
 * the presence, only the public key, the member's fingerprint and the expiry leave.
 */
export function toSession(s: SessionRecord, where: SessionOrigin = LOCAL): Session {
  const presence = s.presence;
  // One literal with every field, optional ones undefined (JSON leaves them out): objects built
  // by spreading conditional parts got a hidden class of their own in V8, and with it a slow
  // serialisation (16 µs per session against 2 µs for this).
  return Object.freeze({
    session_id: s.session_id,
    mesh: s.mesh,
    display_name: s.display_name,
    pid: s.pid,
    cwd: s.cwd,
    role: s.role,
    groups: s.groups === undefined ? undefined : Object.freeze([...s.groups]),
    start_time: s.start_time,
    registered_at: s.registered_at,
    token_prefix: s.token_prefix,
    session_pubkey: presence?.session_pubkey ?? null,
    member_fingerprint: presence?.member_fingerprint ?? null,
    attestation_expires_at: presence?.parent_attestation.expires_at ?? null,
    summary: s.summary === undefined || s.summary === "" ? null : s.summary,
    status: s.status ?? null,
    inbound: s.inbound ?? "accept",
    origin: where.origin,
    host: where.host,
  });
}
