// The keys of a hosted mesh and the JWTs they sign, NATS's own decentralized auth: an operator,
// a system account (the server's own), an account for the mesh with a signing key that signs
// every user, and two users of the host (one in each account). Seeds never leave the host dir
// except each user's own. Pure: keys in, JWT text out.
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  type KeyPair,
  type User,
} from "@nats-io/jwt";

/** The seeds of a hosted mesh (`S…` nkey seeds). */
export interface HostKeys {
  readonly operator: string;
  readonly systemAccount: string;
  /** The user the host uses in the system account: it pushes account updates (revocations). */
  readonly systemUser: string;
  readonly meshAccount: string;
  /** Signs every user of the mesh account; the account key itself signs nothing but the account. */
  readonly meshSigner: string;
  /** The host's own user in the mesh account: answers joins, makes the stream and the bucket. */
  readonly hostUser: string;
}

const seedOf = (kp: KeyPair): string => new TextDecoder().decode(kp.getSeed());
export const publicKeyOf = (seed: string): string => fromSeed(new TextEncoder().encode(seed)).getPublicKey();

export function newHostKeys(): HostKeys {
  return {
    operator: seedOf(createOperator()),
    systemAccount: seedOf(createAccount()),
    systemUser: seedOf(createUser()),
    meshAccount: seedOf(createAccount()),
    meshSigner: seedOf(createAccount()),
    hostUser: seedOf(createUser()),
  };
}

/** A fresh user key pair: its public key goes into a JWT, its seed stays with whoever connects. */
export function newUserSeed(): string {
  return seedOf(createUser());
}

/** Which prefix each seed must have: a host dir with a key in the wrong slot is refused. */
export const HOST_KEY_PREFIXES: Readonly<Record<keyof HostKeys, string>> = {
  operator: "SO",
  systemAccount: "SA",
  systemUser: "SU",
  meshAccount: "SA",
  meshSigner: "SA",
  hostUser: "SU",
};

const kp = (seed: string): KeyPair => fromSeed(new TextEncoder().encode(seed));

/** No limit on anything but what JetStream and the server impose. */
const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export async function operatorJwt(keys: HostKeys, mesh: string): Promise<string> {
  return encodeOperator(`claudemesh ${mesh}`, kp(keys.operator), {
    system_account: publicKeyOf(keys.systemAccount),
  });
}

export async function systemAccountJwt(keys: HostKeys): Promise<string> {
  return encodeAccount("SYS", publicKeyOf(keys.systemAccount), { limits: UNLIMITED }, { signer: kp(keys.operator) });
}

/**
 * The mesh's account: JetStream on, the signing key that signs its users, and the users revoked
 * (public key → the second up to which their JWTs no longer count). Re-signed on every revocation.
 */
export async function meshAccountJwt(
  keys: HostKeys,
  mesh: string,
  revocations: Readonly<Record<string, number>>,
): Promise<string> {
  return encodeAccount(
    mesh,
    publicKeyOf(keys.meshAccount),
    {
      limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
      signing_keys: [publicKeyOf(keys.meshSigner)],
      ...(Object.keys(revocations).length > 0 && { revocations: { ...revocations } }),
    },
    { signer: kp(keys.operator) },
  );
}

export interface UserGrant {
  readonly name: string;
  /** The user's public key (`U…`): the seed is the connecting side's. */
  readonly userPublicKey: string;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  /** May answer the requests it receives (its ping replies, JetStream flow control). */
  readonly respond: boolean;
  /** Seconds since the epoch after which the server refuses it. */
  readonly expiresAt?: number;
}

/** A user JWT of the mesh account, signed by its signing key. */
export async function meshUserJwt(keys: HostKeys, grant: UserGrant): Promise<string> {
  const user: Partial<User> = {
    pub: { allow: [...grant.publish] },
    sub: { allow: [...grant.subscribe] },
    ...(grant.respond && { resp: { max: 1, ttl: 0 } }),
  };
  return encodeUser(grant.name, grant.userPublicKey, publicKeyOf(keys.meshAccount), user, {
    signer: kp(keys.meshSigner),
    ...(grant.expiresAt !== undefined && { exp: grant.expiresAt }),
  });
}

/** A user of the host in either account, unrestricted within it. */
export async function hostUserJwt(keys: HostKeys, which: "system" | "mesh"): Promise<string> {
  if (which === "system") {
    return encodeUser("claudemesh host", publicKeyOf(keys.systemUser), kp(keys.systemAccount));
  }
  return encodeUser(
    "claudemesh host",
    publicKeyOf(keys.hostUser),
    publicKeyOf(keys.meshAccount),
    {},
    {
      signer: kp(keys.meshSigner),
    },
  );
}

/** The `.creds` file text nats.js and the daemon read: the JWT and the seed that goes with it. */
export function credsText(jwt: string, userSeed: string): string {
  return new TextDecoder().decode(fmtCreds(jwt, kp(userSeed)));
}
