// The mesh core's refusals as the contract's HTTP errors.
import { MeshError } from "@claudemesh/mesh";
import { FieldError } from "@claudemesh/registry";
import { HttpError } from "./http-error.js";

export function httpErrorOf(error: unknown): unknown {
  if (error instanceof FieldError) return new HttpError("invalid_field", error.message);
  if (!(error instanceof MeshError)) return error;
  switch (error.code) {
    case "invalid_field":
      return new HttpError("invalid_field", error.message);
    case "unknown_recipient":
      return new HttpError("unknown_recipient", error.message);
    case "not_found":
      return new HttpError("not_found", error.message);
    case "ambiguous_recipient":
      return new HttpError("ambiguous_recipient", error.message, {}, { candidates: error.detail.candidates ?? [] });
    case "rate_limited":
      return new HttpError("rate_limited", error.message, {
        "retry-after": String(Math.max(1, Math.ceil((error.detail.retryAfterMs ?? 1000) / 1000))),
      });
  }
}

/** Runs `fn`, turning a mesh refusal into its HTTP error. */
export function asHttp<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw httpErrorOf(error);
  }
}
