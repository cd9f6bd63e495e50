// The token of the session this process runs in: the file named by CLAUDEMESH_IPC_TOKEN_FILE.
import type { CliContext } from "./context.js";
import { CliError, EXIT } from "./exit-codes.js";
import { readTokenFile } from "./token-file.js";

/** The session's token, or undefined outside a session. A named file that holds no token is an error (exit 4). */
export function sessionToken(ctx: CliContext): string | undefined {
  const file = ctx.env.CLAUDEMESH_IPC_TOKEN_FILE;
  if (file === undefined || file === "") return undefined;
  const token = readTokenFile(file);
  if (token === undefined)
    throw new CliError(`not inside a live session: cannot read a token from ${file}`, EXIT.notFound);
  return token;
}

/** The session's token; exit 4 outside a session, naming what needs one. */
export function requireSessionToken(ctx: CliContext, what: string): string {
  const token = sessionToken(ctx);
  if (token === undefined) {
    throw new CliError(
      `${what} works inside a claudemesh session (CLAUDEMESH_IPC_TOKEN_FILE is not set); start one with \`claudemesh launch\``,
      EXIT.notFound,
    );
  }
  return token;
}
