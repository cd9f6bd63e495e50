// From a mesh binding to nats.js connect options: the servers, how to authenticate (a creds file,
// a token file or an nkey seed file, read when connecting, never stored or logged), and TLS.
// Reading the files is the one piece of I/O (`readSecret`); the rest is pure. The nats client
// itself is never imported here (only its types): the caller passes the module it loaded lazily,
// so that a daemon with no bound mesh never loads it.

import { accessSync, constants, readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { CredentialKind, MeshBinding } from "@claudemesh/mesh";
import type { Authenticator, NodeConnectionOptions } from "@nats-io/transport-node";

/** The two authenticator factories of `@nats-io/transport-node` (re-exported from nats-core). */
export interface NatsAuthenticators {
  credsAuthenticator(creds: Uint8Array): Authenticator;
  nkeyAuthenticator(seed: Uint8Array): Authenticator;
}

/** What of the connect options comes from the binding. */
export type BindingConnectOptions = Pick<NodeConnectionOptions, "servers" | "token" | "authenticator" | "tls">;

/** A credentials (or CA) file that cannot be used: the message names the file, never its contents. */
export class CredentialsFileError extends Error {
  override readonly name = "CredentialsFileError";
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

const FILE_LABEL: Record<CredentialKind, string> = {
  creds: "creds file",
  token: "token file",
  nkey: "nkey seed file",
};

/** The secret as the connect options take it: a token's text, or the bytes of a creds file or seed. */
export type Secret =
  | { readonly kind: "token"; readonly token: string }
  | { readonly kind: "creds" | "nkey"; readonly bytes: Uint8Array };

export type ReadFile = (path: string) => Uint8Array;

const errorCode = (error: unknown): string =>
  (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));

const JWT_BLOCK = /-{3,}[^\n]*BEGIN NATS USER JWT[^\n]*-{3,}\s*\n\s*\S+/;
const SEED_BLOCK = /-{3,}[^\n]*BEGIN USER NKEY SEED[^\n]*-{3,}\s*\n\s*S\S+/;
/** A user nkey seed: `SU` and base32, 58 characters. */
const USER_SEED = /^SU[A-Z2-7]{56}$/;

/** Checks a secret file's contents and turns them into a `Secret`. Pure. */
export function parseSecret(kind: CredentialKind, file: string, bytes: Uint8Array): Secret {
  const text = new TextDecoder().decode(bytes);
  switch (kind) {
    case "token": {
      const token = text.trim();
      if (token === "") throw new CredentialsFileError(`the token file ${file} is empty`, file);
      if (/\s/.test(token)) throw new CredentialsFileError(`the token file ${file} holds more than one line`, file);
      return { kind, token };
    }
    case "creds":
      if (!JWT_BLOCK.test(text) || !SEED_BLOCK.test(text)) {
        throw new CredentialsFileError(
          `the creds file ${file} holds no JWT/seed (expected a NATS user creds file, as nsc generates)`,
          file,
        );
      }
      return { kind, bytes };
    case "nkey": {
      const seed = text.trim();
      if (!USER_SEED.test(seed)) {
        throw new CredentialsFileError(`the nkey seed file ${file} holds no user seed (SU…, as nk -gen user)`, file);
      }
      return { kind, bytes: new TextEncoder().encode(seed) };
    }
  }
}

/** Reads the binding's credentials file, if it has one; errors name the file and the cause only. */
export function readSecret(binding: MeshBinding, read: ReadFile = readFileSync): Secret | undefined {
  const credentials = binding.credentials;
  if (credentials === undefined) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = read(credentials.file);
  } catch (error) {
    throw new CredentialsFileError(
      `cannot read the ${FILE_LABEL[credentials.kind]} ${credentials.file}: ${errorCode(error)}`,
      credentials.file,
    );
  }
  return parseSecret(credentials.kind, credentials.file, bytes);
}

/** Fails early, with the file named, when the TLS CA file cannot be read (nats.js would say less). */
export function checkCaFile(binding: MeshBinding, access: (path: string) => void = canRead): void {
  if (binding.tlsCa === undefined) return;
  try {
    access(binding.tlsCa);
  } catch (error) {
    throw new CredentialsFileError(`cannot read the TLS CA file ${binding.tlsCa}: ${errorCode(error)}`, binding.tlsCa);
  }
}

const canRead = (path: string) => accessSync(path, constants.R_OK);

/**
 * The connect options for a binding and its secret. Pure. TLS is required when a CA is given or
 * any server is `tls://`: nats.js v3 does not enforce TLS from the scheme alone (it connects to a
 * plain server at a `tls://` address), so an empty `tls` object asks for it, checked against the
 * system's CAs.
 */
export function connectOptionsFor(
  binding: MeshBinding,
  secret: Secret | undefined,
  nats: NatsAuthenticators,
): BindingConnectOptions {
  const options: BindingConnectOptions = { servers: [...binding.servers] };
  if (secret?.kind === "token") options.token = secret.token;
  else if (secret?.kind === "creds") options.authenticator = nats.credsAuthenticator(secret.bytes);
  else if (secret?.kind === "nkey") options.authenticator = nats.nkeyAuthenticator(secret.bytes);
  if (binding.tlsCa !== undefined) options.tls = { caFile: binding.tlsCa };
  else if (binding.servers.some((s) => s.startsWith("tls://"))) options.tls = {};
  // Reached by an IP address, nats.js 3.4.0 checks the certificate against "localhost": name
  // the address it must hold instead (one address only; several would need one name each).
  const hosts = [...new Set(binding.servers.map((s) => new URL(s).hostname))];
  if (options.tls !== undefined && hosts.length === 1 && isIP(hosts[0] as string) !== 0) {
    options.tls = { ...options.tls, host: hosts[0] as string } as typeof options.tls;
  }
  return options;
}

/** Reads the files a binding names and builds its connect options; throws `CredentialsFileError`. */
export function loadConnectOptions(
  binding: MeshBinding,
  nats: NatsAuthenticators,
  io: { read?: ReadFile; access?: (path: string) => void } = {},
): BindingConnectOptions {
  const secret = readSecret(binding, io.read);
  checkCaFile(binding, io.access);
  return connectOptionsFor(binding, secret, nats);
}
