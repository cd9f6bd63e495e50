// Who is calling: the session whose token is in `Authorization: ClaudeMesh-Session <token>`,
// or, without the header, the user from a plain shell (the member). A header that is present but
// malformed or names no live session is refused, never read as "no token".
import { parseAuthorization } from "@claudemesh/client";
import type { SessionRecord, SessionRegistry } from "@claudemesh/registry";
import { HttpError } from "./http-error.js";
import type { RequestContext } from "./server.js";

export function tokenOf(ctx: RequestContext): string {
  const header = ctx.req.headers.authorization;
  const token = header === undefined ? undefined : parseAuthorization(header);
  if (token === undefined) {
    throw new HttpError("unauthorized", "missing or malformed Authorization: ClaudeMesh-Session <token> header");
  }
  return token;
}

/** The live session of the request's token; 401 without one. */
export function sessionOf(ctx: RequestContext, registry: SessionRegistry): SessionRecord {
  const session = registry.resolve(tokenOf(ctx));
  if (session === undefined) throw new HttpError("unauthorized", "no live session has this token");
  return session;
}

/** The session when the request carries a token (which must then be live), else undefined: the member. */
export function optionalSessionOf(ctx: RequestContext, registry: SessionRegistry): SessionRecord | undefined {
  return ctx.req.headers.authorization === undefined ? undefined : sessionOf(ctx, registry);
}
