// The contract's error form: {"error":{"code","message"}} with a fixed status per code.
// The codes and their statuses are shared with the client (@claudemesh/client's wire module).
import { ERROR_STATUS, type ErrorCode } from "@claudemesh/client";

export type { ErrorCode };

export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    /** More fields of the error object, e.g. the candidates of an ambiguous recipient. */
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export function errorBody(code: ErrorCode, message: string, detail: Record<string, unknown> = {}): string {
  return JSON.stringify({ error: { ...detail, code, message } });
}
