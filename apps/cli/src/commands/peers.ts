// `claudemesh peers`, `whoami` and `status`: who else is in the mesh, who am I, and what I say
// about myself. Output as `sessions list`: an aligned table on a terminal, tab-separated lines
// when piped, exactly the API's JSON with --json.
import {
  type MemberResponse,
  type MeResponse,
  PEER_COLUMNS,
  type PeersResponse,
  peerRow,
  renderTable,
  renderTsv,
  type SessionPatchRequest,
} from "@claudemesh/client";
import { INBOUND_POLICIES, SESSION_STATUSES, type Session } from "@claudemesh/registry";
import { call } from "../api.js";
import type { CliContext } from "../context.js";
import { CliError, EXIT } from "../exit-codes.js";
import { requireSessionToken, sessionToken } from "../session-token.js";

function bold(ctx: CliContext, text: string): string {
  return ctx.color ? `\x1b[1m${text}\x1b[22m` : text;
}

/** Columns with a bold header on a terminal, TSV without a header when piped. */
export function table(ctx: CliContext, headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (!ctx.stdout.isTTY) return renderTsv(rows);
  const text = renderTable(headers, rows);
  const newline = text.indexOf("\n");
  return bold(ctx, text.slice(0, newline)) + text.slice(newline);
}

/** `key: value` lines for a person; one TSV line of the values when piped. */
export function fields(ctx: CliContext, pairs: readonly [string, string][]): string {
  if (!ctx.stdout.isTTY) return renderTsv([pairs.map(([, value]) => value)]);
  const width = Math.max(...pairs.map(([key]) => key.length)) + 2;
  return pairs.map(([key, value]) => `${bold(ctx, `${key}:`.padEnd(width))}${value}\n`).join("");
}

export async function peersCommand(ctx: CliContext, options: { mesh?: string; json?: boolean }): Promise<number> {
  const token = sessionToken(ctx);
  // Inside a session: the others of its own mesh. Outside: the mesh a plain shell sends in.
  const mesh = token === undefined ? (options.mesh ?? (ctx.env.CLAUDEMESH_MESH || "default")) : options.mesh;
  const path = mesh === undefined ? "/v1/peers" : `/v1/peers?mesh=${encodeURIComponent(mesh)}`;
  const { peers } = await call<PeersResponse>(ctx, { method: "GET", path, ...(token !== undefined && { token }) });
  if (options.json) ctx.stdout.write(`${JSON.stringify({ peers })}\n`);
  else if (peers.length === 0 && ctx.stdout.isTTY) ctx.stderr.write("claudemesh: no peers\n");
  else
    ctx.stdout.write(
      table(
        ctx,
        PEER_COLUMNS,
        peers.map((p) => peerRow(p, ctx.now())),
      ),
    );
  return EXIT.ok;
}

function sessionFields(session: Session): [string, string][] {
  return [
    ["session", session.session_id],
    ["name", session.display_name],
    ["mesh", session.mesh],
    ["role", session.role ?? "-"],
    ["groups", session.groups?.join(",") || "-"],
    ["status", session.status ?? "-"],
    ["inbound", session.inbound ?? "accept"],
    ["summary", session.summary ?? ""],
    ["key", session.session_pubkey ?? "-"],
    ["member", session.member_fingerprint ?? "-"],
  ];
}

/** Inside a session: the session and its member. Outside: the member (this user on this machine). */
export async function whoamiCommand(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const token = sessionToken(ctx);
  const { member } = await call<MemberResponse>(ctx, { method: "GET", path: "/v1/member" });
  if (token === undefined) {
    if (options.json) ctx.stdout.write(`${JSON.stringify({ session: null, member })}\n`);
    else {
      ctx.stdout.write(
        fields(ctx, [
          ["member", member.fingerprint],
          ["user", member.name],
          ["host", member.host],
        ]),
      );
    }
    return EXIT.ok;
  }
  const { session } = await call<MeResponse>(ctx, { method: "GET", path: "/v1/sessions/me", token });
  if (options.json) ctx.stdout.write(`${JSON.stringify({ session, member })}\n`);
  else ctx.stdout.write(fields(ctx, [...sessionFields(session), ["host", member.host]]));
  return EXIT.ok;
}

export interface StatusOptions {
  summary?: string;
  status?: string;
  inbound?: string;
  json?: boolean;
}

/** The patch the options ask for, checked before anything is sent; undefined when they ask for none. */
export function statusPatch(options: StatusOptions): SessionPatchRequest | undefined {
  const patch: { summary?: string; status?: Session["status"]; inbound?: Session["inbound"] } = {};
  if (options.summary !== undefined) patch.summary = options.summary;
  if (options.status !== undefined) {
    // `none` (or an empty value) clears it.
    if (options.status === "none" || options.status === "") patch.status = null;
    else if ((SESSION_STATUSES as readonly string[]).includes(options.status)) patch.status = options.status as never;
    else throw new CliError(`invalid --status: must be one of ${SESSION_STATUSES.join(", ")} or none`, EXIT.usage);
  }
  if (options.inbound !== undefined) {
    if (!(INBOUND_POLICIES as readonly string[]).includes(options.inbound)) {
      throw new CliError(`invalid --inbound: must be one of ${INBOUND_POLICIES.join(", ")}`, EXIT.usage);
    }
    patch.inbound = options.inbound as Session["inbound"];
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** Shows, or sets then shows, what this session says about itself. */
export async function statusCommand(ctx: CliContext, options: StatusOptions): Promise<number> {
  const patch = statusPatch(options);
  const token = requireSessionToken(ctx, "`claudemesh status`");
  const { session } =
    patch === undefined
      ? await call<MeResponse>(ctx, { method: "GET", path: "/v1/sessions/me", token })
      : await call<MeResponse>(ctx, { method: "PATCH", path: "/v1/sessions/me", body: patch, token });
  if (options.json) ctx.stdout.write(`${JSON.stringify({ session })}\n`);
  else {
    ctx.stdout.write(
      fields(ctx, [
        ["status", session.status ?? "-"],
        ["inbound", session.inbound ?? "accept"],
        ["summary", session.summary ?? ""],
      ]),
    );
  }
  return EXIT.ok;
}
