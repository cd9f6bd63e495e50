// Human and script output of session lists. Pure, so every rule is tested without a terminal.
import type { WireMessage, WireRecipient } from "@claudemesh/mesh";
import type { Session } from "@claudemesh/registry";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A compact age in its largest whole unit, floored: "12s", "5m", "3h", "2d". Negative (clock skew) → "0s". */
export function formatAge(ms: number): string {
  if (!(ms > 0)) return "0s";
  if (ms < MINUTE) return `${Math.floor(ms / SECOND)}s`;
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)}m`;
  if (ms < DAY) return `${Math.floor(ms / HOUR)}h`;
  return `${Math.floor(ms / DAY)}d`;
}

/** Replaces a leading `home` with `~`, only at a path boundary: `/home/al` never shortens `/home/alice`. */
export function tildify(path: string, home: string): string {
  const base = home.length > 1 ? home.replace(/\/+$/, "") : home;
  if (base === "" || base === "/") return path;
  if (path === base) return "~";
  if (path.startsWith(`${base}/`)) return `~${path.slice(base.length)}`;
  return path;
}

// Every control character (tabs, newlines, escape sequences from a hostile cwd) would break the
// alignment or drive the terminal; a table is for eyes, so they become spaces.
const CONTROL = /\p{Cc}/gu;
// Piped output is for scripts: only what would split a cell or a line is replaced.
const TSV_BREAKERS = /[\t\r\n]/g;

/** Width in code points: close enough for names and paths, and never splits a surrogate pair. */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Aligned columns separated by two spaces, header first; no trailing spaces; ends with a newline. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [headers, ...rows].map((row) => headers.map((_, i) => (row[i] ?? "").replace(CONTROL, " ")));
  const widths = headers.map((_, i) => Math.max(...lines.map((cells) => width(cells[i] as string))));
  return lines
    .map((cells) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat((widths[i] as number) - width(cell))))
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

/** Tab-separated lines, no header, nothing truncated; a tab or newline inside a cell becomes a space. */
export function renderTsv(rows: readonly (readonly string[])[]): string {
  return rows.map((cells) => `${cells.map((cell) => cell.replace(TSV_BREAKERS, " ")).join("\t")}\n`).join("");
}

export const SESSION_COLUMNS = ["SESSION", "NAME", "MESH", "PID", "AGE", "CWD"] as const;

/** One row of `sessions list`, in SESSION_COLUMNS order. */
export function sessionRow(session: Session, now: number, home: string): string[] {
  return [
    session.session_id,
    session.display_name,
    session.mesh,
    String(session.pid),
    formatAge(now - session.registered_at),
    session.cwd === undefined || session.cwd === "" ? "-" : tildify(session.cwd, home),
  ];
}

export const PEER_COLUMNS = ["NAME", "SESSION", "ROLE", "STATUS", "HOST", "AGE", "SUMMARY"] as const;

/** One row of `peers`, in PEER_COLUMNS order. A local peer's host is this machine: `local`. */
export function peerRow(peer: Session, now: number): string[] {
  return [
    peer.display_name,
    peer.session_id,
    peer.role ?? "-",
    peer.status ?? "-",
    peer.origin === "remote" ? (peer.host ?? "?") : "local",
    formatAge(now - peer.registered_at),
    peer.summary ?? "",
  ];
}

export const RECIPIENT_COLUMNS = ["NAME", "SESSION", "STATE", "UPDATED", "REASON"] as const;

/** One row of a message's delivery states, in RECIPIENT_COLUMNS order. */
export function recipientRow(r: WireRecipient, now: number): string[] {
  return [r.display_name, r.session_id, r.state, `${formatAge(now - r.updated_at)} ago`, r.reason ?? ""];
}

/** `2026-12-01 21:40:02`, local time: when something happened, for a person. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * A message as a person or an agent reads it: a header naming it a peer message and its sender,
 * then the text with every line quoted (`> `), so that nothing in the text can pass for the
 * header of another message or for anything but a peer's words. Control characters never reach
 * the terminal: the daemon refuses them in text, and names are cleaned here.
 */
export function renderPeerMessage(m: WireMessage, now: number): string {
  const from = m.from;
  const who =
    from.session_id === null
      ? `${from.display_name} (the member, from a shell`
      : `${from.display_name} (session ${from.session_id}`;
  const header =
    `[peer message ${m.id}] from ${who}, ${from.member_fingerprint}, host ${from.host}) · ` +
    `${formatTime(m.sent_at)} (${formatAge(now - m.sent_at)} ago) · priority ${m.priority}` +
    (m.reply_to === null ? "" : ` · reply to ${m.reply_to}`);
  const body = m.text
    .split("\n")
    .map((line) => `> ${line}`)
    .join("\n");
  return `${header.replace(CONTROL, " ")}\n${body}\n`;
}
