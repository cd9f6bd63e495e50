// What the host side of a mesh does with its files and keys, apart from running the server:
// set up a host dir, write the server's config, mint member credentials, mint invites, revoke.
// Revocations take effect through the account JWT: re-signed with every revoked user in it and
// pushed to the running server (`$SYS.REQ.CLAIMS.UPDATE`, as the system account's user), which
// then refuses those users and closes their connections.
import { randomBytes } from "node:crypto";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { daemonAllowlist, daemonIdOf } from "@claudemesh/mesh";
import { credsAuthenticator, connect as natsConnect } from "@nats-io/transport-node";
import { type HostConfig, HostDir, HostDirError, type MemberRecord } from "./host-dir.js";
import {
  credsText,
  type HostKeys,
  hostUserJwt,
  meshAccountJwt,
  meshUserJwt,
  newHostKeys,
  newUserSeed,
  operatorJwt,
  publicKeyOf,
  systemAccountJwt,
} from "./host-keys.js";
import { joinInboxPrefix, joinSubject } from "./join-request.js";
import { encodeJoinString } from "./join-string.js";
import { serverConfigText } from "./server-config.js";

export const DEFAULT_LISTEN = "0.0.0.0:4222";

export function defaultHostDir(home: string, mesh: string): string {
  return join(home || homedir(), ".claudemesh", "host", mesh);
}

/** A `--listen` value that is not HOST:PORT: the user's to fix. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}

/** `host:port` → its parts; throws ListenError naming what is wrong. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):([0-9]{1,5})$/.exec(text.trim());
  const port = m === null ? Number.NaN : Number(m[2]);
  if (m === null || !(port >= 1 && port <= 65535)) {
    throw new ListenError(`--listen ${JSON.stringify(text)}: give HOST:PORT, e.g. 0.0.0.0:4222`);
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port };
}

/** Where members dial: the listen address, or this machine's name when it listens everywhere. */
export function advertisedServers(host: string, port: number, machine = hostname()): string[] {
  const shown = host === "0.0.0.0" || host === "::" ? machine : host.includes(":") ? `[${host}]` : host;
  return [`nats://${shown}:${port}`];
}

export interface PrepareOptions {
  readonly dir: string;
  readonly mesh: string;
  readonly listen?: string;
  readonly advertise?: readonly string[];
  readonly leafPort?: number;
  readonly now: number;
}

/**
 * The host dir, made with fresh keys the first time; later, the same keys (the members' credentials
 * stay good) with the listen address and advertised servers of this run when given.
 */
export function prepareHost(o: PrepareOptions): {
  hostDir: HostDir;
  config: HostConfig;
  keys: HostKeys;
  created: boolean;
} {
  const hostDir = new HostDir(o.dir);
  const created = !hostDir.exists();
  const previous = created ? undefined : hostDir.readConfig();
  if (previous !== undefined && previous.mesh !== o.mesh) {
    throw new HostDirError(`${o.dir} hosts mesh ${previous.mesh}, not ${o.mesh}: give another --dir`);
  }
  const listen = o.listen === undefined ? undefined : parseListen(o.listen);
  const { host, port } = listen ?? previous ?? parseListen(DEFAULT_LISTEN);
  const servers =
    o.advertise !== undefined && o.advertise.length > 0
      ? [...o.advertise]
      : listen === undefined && previous !== undefined
        ? previous.servers
        : advertisedServers(host, port);
  hostDir.create();
  const keys = created ? newHostKeys() : hostDir.readKeys();
  if (created) hostDir.writeKeys(keys);
  const leafPort = o.leafPort ?? previous?.leafPort;
  const config: HostConfig = {
    v: 1,
    mesh: o.mesh,
    host,
    port,
    servers,
    ...(leafPort !== undefined && { leafPort }),
    createdAt: previous?.createdAt ?? o.now,
  };
  hostDir.writeConfig(config);
  return { hostDir, config, keys, created };
}

/** The account JWT as it stands: every revoked user in it. */
export function currentAccountJwt(hostDir: HostDir, keys: HostKeys, config: HostConfig): Promise<string> {
  return meshAccountJwt(keys, config.mesh, hostDir.revocations());
}

export async function writeServerConfig(hostDir: HostDir, keys: HostKeys, config: HostConfig): Promise<void> {
  const text = serverConfigText({
    serverName: `claudemesh_${config.mesh.replace(/[^a-z0-9_-]/g, "_")}`,
    host: config.host,
    port: config.port,
    storeDir: hostDir.storeDir,
    resolverDir: hostDir.resolverDir,
    operatorJwt: await operatorJwt(keys, config.mesh),
    systemAccount: publicKeyOf(keys.systemAccount),
    accounts: {
      [publicKeyOf(keys.systemAccount)]: await systemAccountJwt(keys),
      [publicKeyOf(keys.meshAccount)]: await currentAccountJwt(hostDir, keys, config),
    },
    ...(config.leafPort !== undefined && { leafListen: `${config.host}:${config.leafPort}` }),
  });
  hostDir.writeText(hostDir.serverConfigPath, text);
}

/** A creds file of the host's own for one account, unrestricted within it. */
export async function hostCreds(keys: HostKeys, which: "system" | "mesh"): Promise<string> {
  return credsText(await hostUserJwt(keys, which), which === "system" ? keys.systemUser : keys.hostUser);
}

/** The address the host's own connections dial (the listen address, loopback when it is every address). */
export function localUrl(config: HostConfig): string {
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host === "::" ? "::1" : config.host;
  return `nats://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
}

export interface MintedMember {
  readonly jwt: string;
  readonly daemon: string;
  readonly fingerprint: string;
}

/**
 * A member credential for the daemon whose member key this is: the daemon allowlist of its id,
 * for the public user key given (the member keeps the seed). Recorded in members/.
 */
export async function mintMember(
  hostDir: HostDir,
  keys: HostKeys,
  config: HostConfig,
  member: { readonly publicKey: string; readonly fingerprint: string },
  userPublicKey: string,
  o: { readonly create: boolean; readonly invite: string | null; readonly now: number },
): Promise<MintedMember> {
  const daemon = daemonIdOf(member.publicKey);
  const { publish, subscribe } = daemonAllowlist(config.mesh, daemon, o.create);
  const jwt = await meshUserJwt(keys, {
    name: `${member.fingerprint} ${daemon}`,
    userPublicKey,
    publish,
    subscribe,
    respond: true,
  });
  const before: MemberRecord | undefined = hostDir.readMember(daemon);
  hostDir.writeMember({
    daemon,
    fingerprint: member.fingerprint,
    userPublicKeys: [...(before?.userPublicKeys ?? []).filter((k) => k !== userPublicKey), userPublicKey],
    invite: o.invite ?? before?.invite ?? null,
    joinedAt: before?.joinedAt ?? o.now,
  });
  return { jwt, daemon, fingerprint: member.fingerprint };
}

/** A new invite: its own user (it may only ask to join, and reads only its replies), recorded in invites/. */
export async function createInvite(
  hostDir: HostDir,
  keys: HostKeys,
  config: HostConfig,
  o: { readonly expiresMs: number; readonly now: number; readonly hostMember: string },
): Promise<{ readonly id: string; readonly joinString: string; readonly expiresAt: number }> {
  const id = randomBytes(8).toString("hex");
  const seed = newUserSeed();
  const expiresAt = o.now + o.expiresMs;
  const jwt = await meshUserJwt(keys, {
    name: `invite ${id}`,
    userPublicKey: publicKeyOf(seed),
    publish: [joinSubject(config.mesh, id)],
    subscribe: [`${joinInboxPrefix(id)}.>`],
    respond: false,
    expiresAt: Math.floor(expiresAt / 1000),
  });
  hostDir.writeInvite({ id, userPublicKey: publicKeyOf(seed), createdAt: o.now, expiresAt });
  const joinString = encodeJoinString({
    mesh: config.mesh,
    servers: config.servers,
    id,
    jwt,
    seed,
    expiresAt,
    hostMember: o.hostMember,
  });
  return { id, joinString, expiresAt };
}

export class RevokeError extends Error {
  override readonly name = "RevokeError";
}

/** The users a `mesh revoke` argument names: an invite id, a daemon id, or a member fingerprint. */
export function usersNamedBy(hostDir: HostDir, who: string): { users: string[]; what: string } {
  const invite = /^[0-9a-f]{16}$/.test(who) ? hostDir.readInvite(who) : undefined;
  if (invite !== undefined) return { users: [invite.userPublicKey], what: `invite ${who}` };
  const members = hostDir.members().filter((m) => m.daemon === who || m.fingerprint === who);
  if (members.length > 0) {
    return {
      users: members.flatMap((m) => m.userPublicKeys),
      what: members.map((m) => `member ${m.fingerprint} (daemon ${m.daemon})`).join(", "),
    };
  }
  throw new RevokeError(
    `${who} is no invite id, daemon id or member fingerprint of this mesh (see ${join(hostDir.dir, "members")} and invites)`,
  );
}

/** Records the users as revoked (from `nowSeconds` back); the account JWT must then be pushed. */
export function recordRevoked(hostDir: HostDir, users: readonly string[], why: string, nowSeconds: number): void {
  for (const userPublicKey of users) hostDir.writeRevoked({ userPublicKey, at: nowSeconds, why });
}

/**
 * Pushes the account JWT as it stands to the running server, as the system account's user.
 * Throws when the server cannot be reached or refuses it (the revocation is still recorded and
 * is in the config the next start writes).
 */
export async function pushAccount(hostDir: HostDir, keys: HostKeys, config: HostConfig): Promise<void> {
  const jwt = await currentAccountJwt(hostDir, keys, config);
  const nc = await natsConnect({
    servers: localUrl(config),
    authenticator: credsAuthenticator(new TextEncoder().encode(await hostCreds(keys, "system"))),
    name: "claudemesh host (claims)",
    timeout: 5_000,
    reconnect: false,
  });
  try {
    const reply = await nc.request("$SYS.REQ.CLAIMS.UPDATE", jwt, { timeout: 5_000 });
    const body = JSON.parse(reply.string()) as { data?: { code?: number }; error?: { description?: string } };
    if (body.error !== undefined || body.data?.code !== 200) {
      throw new RevokeError(`the server refused the account update: ${body.error?.description ?? reply.string()}`);
    }
  } finally {
    await nc.close();
  }
}
