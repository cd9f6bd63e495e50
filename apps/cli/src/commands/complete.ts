// `claudemesh __complete sessions` (hidden): what the completion scripts call for live values.
import { requestJson, type SessionsResponse } from "@claudemesh/client";
import type { CliContext } from "../context.js";
import { EXIT } from "../exit-codes.js";

/**
 * One live session id per line, for the shell's completion. Never starts a daemon, never waits
 * long, never complains: with no daemon (or any error) it prints nothing and exits 0, since a
 * completion that fails must not print into the user's command line.
 */
export async function completeValues(ctx: CliContext, kind: "sessions"): Promise<number> {
  if (kind !== "sessions") return EXIT.ok;
  try {
    const res = await requestJson<SessionsResponse>(ctx.paths.socket, {
      method: "GET",
      path: "/v1/sessions",
      timeoutMs: 1_000,
    });
    ctx.stdout.write(res.body.sessions.map((s) => `${s.session_id}\n`).join(""));
  } catch {
    // no daemon, a busy one, or a socket path too long: nothing to offer
  }
  return EXIT.ok;
}
