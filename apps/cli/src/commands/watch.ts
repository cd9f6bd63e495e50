// `claudemesh sessions watch`: the live sessions, then one line per change until interrupted.
// Kept apart from list/me: it needs the long-lived event stream client, they do not.
import { renderTsv, type SessionEvent, sessionRow, watchEvents } from "@claudemesh/client";
import type { Session } from "@claudemesh/registry";
import { type CliContext, warn } from "../context.js";
import { ensureDaemon } from "../daemon-control.js";
import { EXIT } from "../exit-codes.js";
import { untilInterrupted } from "../interruption.js";
import { fetchSessions, renderSessions } from "./sessions.js";

/**
 * The sessions live when watching starts. Piped, they take the same 8 columns as event lines
 * (`=` and `live` first), so a script reads one shape throughout.
 */
export function renderInitial(ctx: CliContext, sessions: readonly Session[]): string {
  if (ctx.stdout.isTTY) return renderSessions(ctx, sessions);
  return renderTsv(sessions.map((s) => ["=", "live", ...sessionRow(s, ctx.now(), ctx.home)]));
}

const MARKS: Record<SessionEvent["type"], string> = {
  session_registered: "+",
  session_deregistered: "-",
  session_updated: "~",
};

/** One line per event: `+` registered, `-` removed, `~` updated; reason, then the session's columns. */
export function renderEvent(ctx: CliContext, event: SessionEvent): string {
  const row = sessionRow(event.session, ctx.now(), ctx.home);
  const mark = MARKS[event.type];
  if (!ctx.stdout.isTTY) return renderTsv([[mark, event.reason, ...row]]);
  const text = `${mark} ${event.reason.padEnd(12)} ${row.join("  ")}\n`;
  if (!ctx.color) return text;
  const colour = mark === "+" ? 32 : mark === "-" ? 31 : 33;
  return `\x1b[${colour}m${text}\x1b[39m`;
}

export async function watchSessions(
  ctx: CliContext,
  options: { json?: boolean; signal?: AbortSignal; reconnectDelayMs?: number },
): Promise<number> {
  const { socket } = await ensureDaemon(ctx);
  const interruption = untilInterrupted(options.signal);

  // Subscribe first and hold events back until the list is out, so nothing falls in between.
  let listed = false;
  const held: SessionEvent[] = [];
  const print = (event: SessionEvent) => {
    ctx.stdout.write(options.json ? `${JSON.stringify(event)}\n` : renderEvent(ctx, event));
  };
  const watching = watchEvents(socket, {
    signal: interruption.signal,
    reconnectDelayMs: options.reconnectDelayMs ?? 500,
    onEvent: (event) => (listed ? print(event) : held.push(event)),
    onState: (state) => {
      if (state === "disconnected") warn(ctx, "lost the daemon; reconnecting…");
      else if (listed) warn(ctx, "reconnected");
    },
  });
  try {
    const sessions = await fetchSessions(ctx, undefined);
    ctx.stdout.write(options.json ? `${JSON.stringify({ sessions })}\n` : renderInitial(ctx, sessions));
    listed = true;
    for (const event of held.splice(0)) print(event);
    await watching;
  } finally {
    interruption.dispose();
  }
  return EXIT.ok;
}
