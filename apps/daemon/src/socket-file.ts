// The socket file: stale ones are removed only with proof that nobody listens, and the new one
// is bound with a 077 umask so that it is never reachable by others, not even for a moment.
import { lstatSync, statSync, unlinkSync } from "node:fs";
import type { Server } from "node:http";
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

/** Binds the server to the path with umask 077, then returns the socket file's inode. */
export async function listenOnSocket(server: Server, path: string): Promise<number> {
  const previous = process.umask(0o077);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
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
