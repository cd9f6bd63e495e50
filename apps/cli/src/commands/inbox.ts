// `claudemesh inbox`: this session's messages, printed as peer messages. Printing is surfacing:
// once the output has been handed to the system (never before: a closed pipe surfaces nothing),
// what was printed is marked surfaced, and with --ack acked. --watch keeps printing new messages
// as they arrive, across daemon restarts, until interrupted.
import {
  ApiError,
  DaemonTimeoutError,
  DaemonUnavailableError,
  type InboxResponse,
  type MarkResponse,
  renderPeerMessage,
  requestJson,
  type WireMessage,
} from "@claudemesh/client";
import { refusal } from "../api.js";
import { type CliContext, warn, writtenOut } from "../context.js";
import { ensureDaemon } from "../daemon-control.js";
import { EXIT } from "../exit-codes.js";
import { untilInterrupted } from "../interruption.js";
import { PendingMarks } from "../pending-marks.js";
import { requireSessionToken } from "../session-token.js";

export interface InboxOptions {
  all?: boolean;
  watch?: boolean;
  ack?: boolean;
  json?: boolean;
  signal?: AbortSignal;
  /** Between a lost daemon and the next attempt. */
  retryDelayMs?: number;
}

/** How long one long-poll of --watch waits (the daemon allows 30 s). */
export const WATCH_POLL_MS = 25_000;

function render(ctx: CliContext, messages: readonly WireMessage[], json: "array" | "lines" | false): string {
  if (json === "array") return `${JSON.stringify({ messages })}\n`;
  if (json === "lines") return messages.map((m) => `${JSON.stringify(m)}\n`).join("");
  // Each message is followed by a blank line, so that batches printed apart read alike.
  return messages
    .map((m) => {
      const text = renderPeerMessage(m, ctx.now());
      if (!ctx.color) return `${text}\n`;
      const newline = text.indexOf("\n");
      return `\x1b[2m${text.slice(0, newline)}\x1b[22m${text.slice(newline)}\n`;
    })
    .join("");
}

function inboxPath(all: boolean, waitMs = 0): string {
  const query = [all ? "state=all" : "", waitMs > 0 ? `wait_ms=${waitMs}` : ""].filter(Boolean).join("&");
  return `/v1/inbox${query ? `?${query}` : ""}`;
}

export async function inboxCommand(ctx: CliContext, options: InboxOptions): Promise<number> {
  const token = requireSessionToken(ctx, "`claudemesh inbox`");
  const { socket } = await ensureDaemon(ctx);
  const fetchInbox = async (all: boolean, waitMs: number, signal: AbortSignal | undefined) => {
    try {
      return (
        await requestJson<InboxResponse>(socket, {
          method: "GET",
          path: inboxPath(all, waitMs),
          token,
          timeoutMs: waitMs + 5_000,
          ...(signal !== undefined && { signal }),
        })
      ).body.messages;
    } catch (error) {
      if (error instanceof ApiError) throw refusal(error);
      throw error;
    }
  };

  const pending = new PendingMarks(async (ids, state) => {
    await requestJson<MarkResponse>(socket, {
      method: "POST",
      path: "/v1/inbox/mark",
      body: { ids, state },
      token,
      timeoutMs: 5_000,
    });
  });
  if (!options.watch) {
    const messages = await fetchInbox(options.all === true, 0, options.signal);
    if (messages.length === 0 && ctx.stdout.isTTY && !options.json) {
      warn(ctx, options.all ? "no messages" : "no new messages");
      return EXIT.ok;
    }
    if (!(await writtenOut(ctx, render(ctx, messages, options.json ? "array" : false)))) return EXIT.failure;
    pending.add(messages, options.ack === true);
    await pending.flush();
    return EXIT.ok;
  }

  const interruption = untilInterrupted(options.signal);
  const printed = new Set<string>();
  let lost = false;
  try {
    let first = options.all === true;
    while (!interruption.signal.aborted) {
      let messages: WireMessage[];
      try {
        await pending.flush();
        messages = (await fetchInbox(first, first ? 0 : WATCH_POLL_MS, interruption.signal)).filter(
          (m) => !printed.has(m.id),
        );
        first = false;
        if (lost) warn(ctx, "reconnected");
        lost = false;
      } catch (error) {
        if (interruption.signal.aborted) break;
        if (!(error instanceof DaemonUnavailableError || error instanceof DaemonTimeoutError)) throw error;
        if (!lost) warn(ctx, "lost the daemon; reconnecting…");
        lost = true;
        await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 500));
        continue;
      }
      if (!(await writtenOut(ctx, render(ctx, messages, options.json ? "lines" : false)))) return EXIT.failure;
      for (const m of messages) printed.add(m.id);
      pending.add(messages, options.ack === true);
    }
    // What was printed last is marked before leaving, if the daemon is there.
    await pending.flush().catch(() => {});
  } finally {
    interruption.dispose();
  }
  return EXIT.ok;
}
