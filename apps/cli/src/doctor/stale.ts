// Proving a lock or socket stale, and removing it, with the same judgements the daemon uses
// (ownerVerdict, probeSocket and createExclusive from @claudemesh/client). A timeout, a failed
// probe or a daemon that answers is never proof: only a gone or replaced lock owner, or
// ECONNREFUSED on the socket.
import { lstatSync, unlinkSync } from "node:fs";
import { createExclusive, type DaemonPaths, type LockOwner, probeSocket } from "@claudemesh/client";
import type { ProcessProbe } from "@claudemesh/registry";
import { inspectLock, unlinkIfUnchanged } from "../lock-state.js";

/** A repair refused, with the reason (nothing was changed). */
export class NotFixed extends Error {
  override readonly name = "NotFixed";
}

/**
 * Removes a stale lock: never while anything answers on the socket, and, like the daemon, under
 * `<lock>.reclaim` and only if the lock still holds what was judged stale.
 */
export async function removeStaleLock(paths: DaemonPaths, probe: ProcessProbe, self: LockOwner): Promise<string> {
  const socket = await probeSocket(paths.socket);
  if (socket === "listening" || socket === "busy") {
    throw new NotFixed(`something answers on ${paths.socket}; its lock is left alone`);
  }
  const state = await inspectLock(paths.lock, probe);
  if (state.kind !== "stale") throw new NotFixed(`the lock is no longer provably stale (${state.kind})`);
  const reclaim = `${paths.lock}.reclaim`;
  if (!createExclusive(reclaim, `${JSON.stringify(self)}\n`)) {
    throw new NotFixed(`${reclaim} exists: a daemon is reclaiming the lock right now`);
  }
  try {
    if (!unlinkIfUnchanged(paths.lock, state.text)) throw new NotFixed("the lock changed meanwhile");
  } finally {
    unlinkSync(reclaim);
  }
  return `removed ${paths.lock} (${state.why})`;
}

/**
 * Removes a socket file nobody listens on, holding the daemon's own lock meanwhile (as the daemon
 * does), so that no daemon can bind a fresh socket between the proof and the unlink. A daemon
 * starting in that instant sees the lock held and exits; the next command starts it again.
 */
export async function removeStaleSocket(paths: DaemonPaths, self: LockOwner): Promise<string> {
  const content = `${JSON.stringify(self)}\n`;
  if (!createExclusive(paths.lock, content)) {
    throw new NotFixed("the lock is taken: a daemon that owns the socket, or a stale lock (see the lock check)");
  }
  try {
    let isSocket: boolean;
    try {
      isSocket = lstatSync(paths.socket).isSocket();
    } catch {
      throw new NotFixed("the socket is gone already");
    }
    if (!isSocket) throw new NotFixed(`${paths.socket} is not a socket; remove it by hand`);
    const state = await probeSocket(paths.socket);
    if (state !== "refused") throw new NotFixed(`the socket is no longer provably stale (${state})`);
    unlinkSync(paths.socket);
  } finally {
    unlinkIfUnchanged(paths.lock, content);
  }
  return `removed ${paths.socket} (nothing listened on it)`;
}
