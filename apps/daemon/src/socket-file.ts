// The socket file: stale ones are removed only with proof that nobody listens, and the new one
// is bound with a 077 umask so that it is never reachable by others, not even for a moment.
import { lstatSync, renameSync, rmSync, statSync, unlinkSync } from "node:fs";
import type { Server } from "node:http";
import { dirname, join } from "node:path";
import { probeSocket } from "@claudemesh/client";

export class SocketInUseError extends Error {
  override readonly name = "SocketInUseError";
}

/** Call only while holding the lock: removes a socket file that provably nobody listens on. */
export async function removeStaleSocket(path: string): Promise<boolean> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return false; // nothing there
  }
  if (!isSocket) throw new SocketInUseError(`${path} exists and is not a socket; remove it by hand`);
  const state = await probeSocket(path);
  if (state === "listening" || state === "busy") {
    throw new SocketInUseError(`another process answers on ${path}; refusing to take it over`);
  }
  if (state === "refused") unlinkSync(path);
  return state === "refused";
}

/**
 * Binds the server with umask 077 under a temporary name beside `path`, renames the socket into
 * place, and returns its inode.
 *
 * Why not bind `path` itself: closing a listening Unix socket unlinks the path it was bound to
 * (libuv does), whatever file is there by then. A daemon exiting because another one took its
 * path over would delete the newcomer's socket. Bound under a name of its own, the close only
 * removes that name (long gone), and the socket at `path` is removed by the daemon itself, and
 * only while it is still its own (`socketIsOurs`). The temporary name (`s.<pid>`) is shorter than
 * `daemon.sock`, so it fits wherever `path` does.
 */
export async function listenOnSocket(server: Server, path: string): Promise<number> {
  const bound = join(dirname(path), `s.${process.pid}`);
  rmSync(bound, { force: true }); // left by a crashed daemon that had this pid; we hold the lock
  const previous = process.umask(0o077);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(bound, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  try {
    renameSync(bound, path);
  } catch (error) {
    server.close(); // unlinks `bound`
    throw error;
  }
  return statSync(path).ino;
}

/** Is the file at `path` still the socket we bound (same inode)? */
export function socketIsOurs(path: string, inode: number): "ours" | "gone" | "replaced" {
  try {
    return statSync(path).ino === inode ? "ours" : "replaced";
  } catch {
    return "gone";
  }
}
