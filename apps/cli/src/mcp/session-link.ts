// What the MCP tools call: the daemon, as the session this server runs in. Every failure becomes
// one sentence a model can act on. A daemon found absent is started again (as every CLI command
// does), once per call; outside a session, every call says how to get into one.
import { ApiError, DaemonUnavailableError } from "@claudemesh/client";
import { refusal } from "../api.js";
import type { CliContext } from "../context.js";
import { ensureDaemon } from "../daemon-control.js";
import { CliError } from "../exit-codes.js";
import { sessionToken } from "../session-token.js";
import { type DaemonCall, DaemonClient } from "./daemon-client.js";

/** A failure of a tool, worded for the model (and the user reading along). */
export class ToolFailure extends Error {
  override readonly name = "ToolFailure";
}

export const OUTSIDE_SESSION =
  "This MCP server is not running inside a claudemesh session, so it has no identity in a mesh " +
  "(CLAUDEMESH_IPC_TOKEN_FILE is not set). The user can start the agent as a session with " +
  "`claudemesh launch` (for Claude Code: `claudemesh launch --name NAME`); its peers then see it " +
  "and these tools work.";

const ENDED =
  "This claudemesh session has ended (the daemon no longer knows its token). The user can start " +
  "the agent again with `claudemesh launch`.";

export class SessionLink {
  #client: DaemonClient | undefined;

  private constructor(
    private readonly ctx: CliContext,
    readonly token: string | undefined,
  ) {
    if (token !== undefined) this.#client = new DaemonClient(ctx.paths.socket, token);
  }

  /** Reads the session's token from the environment; a named but unreadable file counts as outside. */
  static fromContext(ctx: CliContext): SessionLink {
    let token: string | undefined;
    try {
      token = sessionToken(ctx);
    } catch {
      token = undefined;
    }
    return new SessionLink(ctx, token);
  }

  get inSession(): boolean {
    return this.#client !== undefined;
  }

  get socketPath(): string {
    return this.ctx.paths.socket;
  }

  /** One call as this session; throws ToolFailure. */
  async call<T>(call: DaemonCall): Promise<T> {
    const client = this.#client;
    if (client === undefined) throw new ToolFailure(OUTSIDE_SESSION);
    try {
      return await client.request<T>(call);
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError && error.provesAbsent)) throw toolFailure(error);
    }
    // Nobody listens: start the daemon (sessions are restored from its state) and try once more.
    try {
      await ensureDaemon(this.ctx);
    } catch (error) {
      throw toolFailure(error);
    }
    try {
      return await client.request<T>(call);
    } catch (error) {
      throw toolFailure(error);
    }
  }

  close(): Promise<void> {
    return this.#client?.close() ?? Promise.resolve();
  }
}

export function toolFailure(error: unknown): ToolFailure {
  if (error instanceof ToolFailure) return error;
  if (error instanceof ApiError) {
    if (error.status === 401) return new ToolFailure(ENDED);
    return new ToolFailure(refusal(error).message);
  }
  if (error instanceof DaemonUnavailableError) {
    return new ToolFailure(
      `The claudemesh daemon is not answering (${error.message}). Try again in a moment; ` +
        "`claudemesh daemon status` shows what is wrong.",
    );
  }
  if (error instanceof CliError) return new ToolFailure(error.message);
  return new ToolFailure(`Unexpected failure: ${error instanceof Error ? error.message : String(error)}`);
}
