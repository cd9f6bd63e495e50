// Proving a lock or socket stale, and removing it, with the same judgements the daemon uses
// (ownerVerdict, probeSocket and createExclusive from @claudemesh/client). A timeout, a failed
// probe or a daemon that answers is never proof: only a gone or replaced lock owner, or
// ECONNREFUSED on the socket.
import { lstatSync, readFileSync, statSync, unlinkSync } from "node:fs";
import {
  createExclusive,
  type DaemonPaths,
  type LockOwner,
  ownerVerdict,
  parseLockOwner,
  probeSocket,
} from "@claudemesh/client";
import type { ProcessProbe } from "@claudemesh/registry";

/** A lock that names no owner counts as stale only once this old (it may be being written). */
export const UNREADABLE_GRACE_MS = 2_000;

export type LockState =
  | { readonly kind: "none" }
  | { readonly kind: "held"; readonly owner: LockOwner }
  | { readonly kind: "stale"; readonly why: string; readonly text: string }
  | { readonly kind: "unknown"; readonly why: string };

/** A repair refused, with the reason (nothing was changed). */
export class NotFixed extends Error {
  override readonly name = "NotFixed";
}

function mtimeOf(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function readText(path: string): string | "missing" | "unreadable" {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "unreadable";
  }
}

/** Is the lock held, stale, or impossible to judge? Unknown and young garbage are never stale. */
export async function inspectLock(path: string, probe: ProcessProbe, now: () => number = Date.now): Promise<LockState> {
  const text = readText(path);
  if (text === "missing") return { kind: "none" };
  const owner = text === "unreadable" ? undefined : parseLockOwner(text);
  if (owner === undefined) {
    const mtime = mtimeOf(path);
    if (mtime === undefined) return { kind: "none" };
    if (now() - mtime < UNREADABLE_GRACE_MS) return { kind: "unknown", why: "it names no owner yet (being written?)" };
    return { kind: "stale", why: "it names no owner (damaged, or not written by a daemon)", text: String(text) };
  }
  const result = (await probe.probe([owner.pid])).get(owner.pid);
  switch (ownerVerdict(owner, result)) {
    case "alive":
      return { kind: "held", owner };
    case "gone":
      return { kind: "stale", why: `its owner, pid ${owner.pid}, is gone`, text };
    case "replaced":
      return { kind: "stale", why: `pid ${owner.pid} is now another process (its start time differs)`, text };
    case "unknown":
      return {
        kind: "unknown",
        why: `cannot tell whether pid ${owner.pid} runs${result?.state === "unknown" ? ` (${result.reason})` : ""}`,
      };
  }
}

/** Unlinks `path` only while it still holds `content`. */
function unlinkIfUnchanged(path: string, content: string): boolean {
  if (readText(path) !== content) return false;
  unlinkSync(path);
  return true;
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
