// `claudemesh sessions list|me|watch`: a terminal gets an aligned table, a pipe gets tab-separated
// lines with no header, --json gets exactly what the API returns. Messages go to stderr only.
import {
  ApiError,
  type MeResponse,
  renderTable,
  renderTsv,
  requestJson,
  SESSION_COLUMNS,
  type SessionsResponse,
  sessionRow,
} from "@claudemesh/client";
import type { Session } from "@claudemesh/registry";
import { call } from "../api.js";
import { type CliContext, warn } from "../context.js";
import { daemonCallError, ensureDaemon, REQUEST_TIMEOUT_MS } from "../daemon-control.js";
import { CliError, EXIT } from "../exit-codes.js";
import { requireSessionToken } from "../session-token.js";

function bold(ctx: CliContext, text: string): string {
  return ctx.color ? `\x1b[1m${text}\x1b[22m` : text;
}

/** The session list in the form that suits where stdout goes. */
export function renderSessions(ctx: CliContext, sessions: readonly Session[]): string {
  const rows = sessions.map((s) => sessionRow(s, ctx.now(), ctx.home));
  if (!ctx.stdout.isTTY) return renderTsv(rows);
  const table = renderTable(SESSION_COLUMNS, rows);
  const newline = table.indexOf("\n");
  return bold(ctx, table.slice(0, newline)) + table.slice(newline);
}

export async function fetchSessions(ctx: CliContext, mesh: string | undefined): Promise<readonly Session[]> {
  const { socket } = await ensureDaemon(ctx);
  const path = mesh === undefined ? "/v1/sessions" : `/v1/sessions?mesh=${encodeURIComponent(mesh)}`;
  try {
    const res = await requestJson<SessionsResponse>(socket, { method: "GET", path, timeoutMs: REQUEST_TIMEOUT_MS });
    return res.body.sessions;
  } catch (error) {
    if (error instanceof ApiError && error.code === "invalid_field")
      throw new CliError(`invalid --mesh: ${error.message}`, EXIT.usage);
    return daemonCallError(ctx, error);
  }
}

export async function listSessions(ctx: CliContext, options: { mesh?: string; json?: boolean }): Promise<number> {
  const sessions = await fetchSessions(ctx, options.mesh);
  if (options.json) {
    ctx.stdout.write(`${JSON.stringify({ sessions })}\n`);
  } else if (sessions.length === 0 && ctx.stdout.isTTY) {
    warn(ctx, options.mesh === undefined ? "no live sessions" : `no live sessions in mesh ${options.mesh}`);
  } else {
    ctx.stdout.write(renderSessions(ctx, sessions));
  }
  return EXIT.ok;
}

export async function showMe(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const token = requireSessionToken(ctx, "`claudemesh sessions me`");
  const { session } = await call<MeResponse>(ctx, { method: "GET", path: "/v1/sessions/me", token });
  if (options.json) ctx.stdout.write(`${JSON.stringify({ session })}\n`);
  else if (!ctx.stdout.isTTY) ctx.stdout.write(renderTsv([sessionRow(session, ctx.now(), ctx.home)]));
  else {
    const row = sessionRow(session, ctx.now(), ctx.home);
    const fields = SESSION_COLUMNS.map((column, i) => [column, row[i] as string]);
    fields.push(["TOKEN", `${session.token_prefix}…`]);
    ctx.stdout.write(fields.map(([key, value]) => `${bold(ctx, `${key}:`.padEnd(9))}${value}\n`).join(""));
  }
  return EXIT.ok;
}
