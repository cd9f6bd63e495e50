// Where the daemon lives. Shared by the daemon and the CLI so that both always agree.
// Pure apart from `path.resolve` reading the current directory for a relative override.
import { join, resolve } from "node:path";

/** The only variable that moves the daemon dir. */
export const DAEMON_DIR_ENV = "CLAUDEMESH_DAEMON_DIR";

export const SOCKET_FILE = "daemon.sock";
export const LOCK_FILE = "daemon.lock";
export const LOG_FILE = "daemon.log";
export const STATE_FILE = "sessions.jsonl";
/** Held by the one CLI that is starting the daemon, so that racing CLIs spawn one daemon, not many. */
export const START_CLAIM_FILE = "daemon.starting";
/** The member key: this user on this machine (ed25519, 0600), created at the daemon's first start. */
export const MEMBER_KEY_FILE = "member.key";
/** The persisted messages: their text once each, their delivery states, the known session ids. */
export const MESSAGES_FILE = "messages.jsonl";
/** The meshes bound to NATS servers (`claudemesh mesh add`): servers and credential file paths, never a secret. */
export const MESHES_FILE = "meshes.json";

/**
 * `$CLAUDEMESH_DAEMON_DIR` (made absolute) when set and non-empty, else `<home>/.claudemesh/daemon`.
 * Nothing else may influence it: a variable that `launch` sets per session once moved every CLI call
 * inside a session to the wrong daemon, so no other variable is read here.
 */
export function resolveDaemonDir(env: NodeJS.ProcessEnv, homeDir: string): string {
  const override = env[DAEMON_DIR_ENV];
  if (override !== undefined && override !== "") return resolve(override);
  return resolve(homeDir, ".claudemesh", "daemon");
}

export interface DaemonPaths {
  readonly dir: string;
  readonly socket: string;
  readonly lock: string;
  readonly log: string;
  readonly state: string;
  readonly startClaim: string;
  readonly memberKey: string;
  readonly messages: string;
  readonly meshes: string;
}

export function daemonPaths(dir: string): DaemonPaths {
  return {
    dir,
    socket: join(dir, SOCKET_FILE),
    lock: join(dir, LOCK_FILE),
    log: join(dir, LOG_FILE),
    state: join(dir, STATE_FILE),
    startClaim: join(dir, START_CLAIM_FILE),
    memberKey: join(dir, MEMBER_KEY_FILE),
    messages: join(dir, MESSAGES_FILE),
    meshes: join(dir, MESHES_FILE),
  };
}

/**
 * Usable bytes of `sockaddr_un.sun_path`, which also holds the terminating NUL:
 * 108 on Linux, 104 on macOS and the BSDs. Node does not check it and silently truncates
 * the path, so two daemons could end up answering one truncated path.
 */
export const MAX_SOCKET_PATH_BYTES: Readonly<Partial<Record<NodeJS.Platform, number>>> = {
  linux: 107,
  android: 107,
  darwin: 103,
  freebsd: 103,
  openbsd: 103,
  netbsd: 103,
};

/** For platforms not listed: the smallest common limit, so a path accepted here fits everywhere. */
export const DEFAULT_MAX_SOCKET_PATH_BYTES = 103;

export function maxSocketPathBytes(platform: NodeJS.Platform = process.platform): number {
  return MAX_SOCKET_PATH_BYTES[platform] ?? DEFAULT_MAX_SOCKET_PATH_BYTES;
}

export class SocketPathTooLongError extends Error {
  override readonly name = "SocketPathTooLongError";
  constructor(
    readonly path: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `socket path ${path} is ${bytes} bytes, over the ${limit}-byte limit of this OS; ` +
        `set ${DAEMON_DIR_ENV} to a shorter directory`,
    );
  }
}

/** Throws SocketPathTooLongError when `path` does not fit in `sun_path`; bytes, not characters, count. */
export function checkSocketPath(path: string, platform: NodeJS.Platform = process.platform): void {
  const bytes = Buffer.byteLength(path, "utf8");
  const limit = maxSocketPathBytes(platform);
  if (bytes > limit) throw new SocketPathTooLongError(path, bytes, limit);
}
