// One-shot calls to the daemon for the peer and mesh commands, with the contract's errors turned
// into the CLI's exit codes: unknown recipient, message or bound mesh 4, ambiguous recipient 2
// (candidates named), bad input (a credentials file included) 2, a token that names no live
// session 4, rate limited, a mesh already bound or a NATS server that failed its check 1.
import { ApiError, type ErrorBody, requestJson } from "@claudemesh/client";
import type { CliContext } from "./context.js";
import { daemonCallError, ensureDaemon, REQUEST_TIMEOUT_MS } from "./daemon-control.js";
import { CliError, EXIT } from "./exit-codes.js";

export interface Call {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly token?: string;
  readonly timeoutMs?: number;
}

function candidatesOf(error: ApiError): string {
  const candidates = error.detail.candidates as NonNullable<ErrorBody["error"]["candidates"]> | undefined;
  return (candidates ?? []).map((c) => `  ${c.session_id}\t${c.display_name}`).join("\n");
}

/** The CliError for a refusal of the daemon. */
export function refusal(error: ApiError): CliError {
  switch (error.code) {
    case "unknown_recipient":
    case "not_found":
    case "mesh_not_bound":
      return new CliError(error.message, EXIT.notFound);
    case "ambiguous_recipient": {
      const candidates = candidatesOf(error);
      return new CliError(`${error.message}${candidates ? `:\n${candidates}` : ""}`, EXIT.usage);
    }
    case "invalid_field":
    case "invalid_json":
    case "payload_too_large":
    case "credentials_file":
      return new CliError(error.message, EXIT.usage);
    case "unauthorized":
      return new CliError("this session is not registered with the daemon (it has ended)", EXIT.notFound);
    default:
      return new CliError(error.message, EXIT.failure);
  }
}

/** Makes sure a daemon answers, then makes one call; throws CliError for every failure. */
export async function call<T>(ctx: CliContext, request: Call): Promise<T> {
  const { socket } = await ensureDaemon(ctx);
  try {
    const res = await requestJson<T>(socket, {
      method: request.method,
      path: request.path,
      timeoutMs: request.timeoutMs ?? REQUEST_TIMEOUT_MS,
      ...(request.body !== undefined && { body: request.body }),
      ...(request.token !== undefined && { token: request.token }),
    });
    return res.body;
  } catch (error) {
    if (error instanceof ApiError) throw refusal(error);
    return daemonCallError(ctx, error);
  }
}
