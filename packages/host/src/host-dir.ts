// A hosted mesh's files (`mesh host --dir`, default ~/.claudemesh/host/<mesh>), 0700, every file
// 0600 and written whole (temp file + rename) so that a crash never leaves half a key:
//   host.json            the mesh, where the server listens, the addresses members dial
//   keys.json            the operator, account and user seeds (host-keys.ts)
//   nats-server.conf     rewritten on each start; jwt/ the resolver's store; jetstream/
//   invites/<id>.json    one per invite: its user key and expiry
//   members/<daemon>.json  one per member daemon that joined: fingerprint, user keys
//   revoked/<user key>.json  one per revoked user (invites used or revoked, members revoked)
// One file per record, each written once by one process, so `mesh invite`, `mesh revoke` and the
// running host never rewrite each other's.
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOST_KEY_PREFIXES, type HostKeys } from "./host-keys.js";

export interface HostConfig {
  readonly v: 1;
  readonly mesh: string;
  readonly host: string;
  readonly port: number;
  /** What members dial, in join strings. */
  readonly servers: readonly string[];
  readonly leafPort?: number;
  readonly createdAt: number;
}

export interface InviteRecord {
  readonly id: string;
  readonly userPublicKey: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface MemberRecord {
  readonly daemon: string;
  readonly fingerprint: string;
  readonly userPublicKeys: readonly string[];
  readonly invite: string | null;
  readonly joinedAt: number;
}

export interface RevokedRecord {
  readonly userPublicKey: string;
  /** Seconds since the epoch: JWTs of this user issued up to then no longer count. */
  readonly at: number;
  readonly why: string;
}

export class HostDirError extends Error {
  override readonly name = "HostDirError";
}

export class HostDir {
  constructor(readonly dir: string) {}

  get configPath(): string {
    return join(this.dir, "host.json");
  }
  get serverConfigPath(): string {
    return join(this.dir, "nats-server.conf");
  }
  get resolverDir(): string {
    return join(this.dir, "jwt");
  }
  get storeDir(): string {
    return join(this.dir, "jetstream");
  }
  get serverLogPath(): string {
    return join(this.dir, "nats-server.log");
  }

  exists(): boolean {
    try {
      return statSync(this.configPath).isFile();
    } catch {
      return false;
    }
  }

  /** Makes the dir (0700) and its record dirs. */
  create(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    for (const sub of ["invites", "members", "revoked", "jwt", "jetstream"]) {
      mkdirSync(join(this.dir, sub), { recursive: true, mode: 0o700 });
    }
  }

  writeConfig(config: HostConfig): void {
    this.#write(this.configPath, config);
  }

  readConfig(): HostConfig {
    const raw = this.#read(this.configPath, "host.json") as Partial<HostConfig>;
    if (raw.v !== 1 || typeof raw.mesh !== "string" || typeof raw.port !== "number" || !Array.isArray(raw.servers)) {
      throw new HostDirError(`${this.configPath}: not a claudemesh host config`);
    }
    return raw as HostConfig;
  }

  writeKeys(keys: HostKeys): void {
    this.#write(join(this.dir, "keys.json"), keys);
  }

  readKeys(): HostKeys {
    const path = join(this.dir, "keys.json");
    const raw = this.#read(path, "keys.json") as Record<string, unknown>;
    for (const [name, prefix] of Object.entries(HOST_KEY_PREFIXES)) {
      const seed = raw[name];
      if (typeof seed !== "string" || !seed.startsWith(prefix)) {
        throw new HostDirError(`${path}: ${name} is missing or not a ${prefix}… seed`);
      }
    }
    return raw as unknown as HostKeys;
  }

  writeInvite(invite: InviteRecord): void {
    this.#write(join(this.dir, "invites", `${invite.id}.json`), invite);
  }

  readInvite(id: string): InviteRecord | undefined {
    return this.#readIfThere(join(this.dir, "invites", `${id}.json`)) as InviteRecord | undefined;
  }

  invites(): InviteRecord[] {
    return this.#list("invites") as InviteRecord[];
  }

  writeMember(member: MemberRecord): void {
    this.#write(join(this.dir, "members", `${member.daemon}.json`), member);
  }

  readMember(daemon: string): MemberRecord | undefined {
    return this.#readIfThere(join(this.dir, "members", `${daemon}.json`)) as MemberRecord | undefined;
  }

  members(): MemberRecord[] {
    return this.#list("members") as MemberRecord[];
  }

  writeRevoked(record: RevokedRecord): void {
    this.#write(join(this.dir, "revoked", `${record.userPublicKey}.json`), record);
  }

  revoked(): RevokedRecord[] {
    return this.#list("revoked") as RevokedRecord[];
  }

  /** The account JWT's revocation list, from every revoked record. */
  revocations(): Record<string, number> {
    return Object.fromEntries(this.revoked().map((r) => [r.userPublicKey, r.at]));
  }

  writeText(path: string, text: string): void {
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, path);
  }

  #write(path: string, value: unknown): void {
    this.writeText(path, `${JSON.stringify(value, null, 2)}\n`);
  }

  #read(path: string, what: string): unknown {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new HostDirError(
        `${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : String(error)} (${what})`,
      );
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new HostDirError(`${path}: not valid JSON; it is left as it is`);
    }
  }

  #readIfThere(path: string): unknown {
    try {
      return JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new HostDirError(`${path}: unreadable (${(error as Error).message}); it is left as it is`);
    }
  }

  #list(sub: string): unknown[] {
    let names: string[];
    try {
      names = readdirSync(join(this.dir, sub));
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith(".json"))
      .sort()
      .map((n) => this.#readIfThere(join(this.dir, sub, n)))
      .filter((r) => r !== undefined);
  }
}
