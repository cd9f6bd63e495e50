// The singleton lock: a file recording the owner's pid and process start time, created
// atomically (hard link of a complete temp file) before the socket is bound, and held for the
// daemon's whole life. A lock whose owner is gone is stale and may be reclaimed; a live one is
// never touched.
import { readFileSync, statSync, unlinkSync } from "node:fs";
import { createExclusive, type LockOwner, ownerVerdict, parseLockOwner, UNREADABLE_GRACE_MS } from "@claudemesh/client";
import type { ProcessProbe } from "@claudemesh/registry";

export { readLockOwner } from "@claudemesh/client";
export type { LockOwner };

export class LockHeldError extends Error {
  override readonly name = "LockHeldError";
  constructor(readonly owner: LockOwner) {
    super(`another claudemesh daemon is running (pid ${owner.pid})`);
  }
}

export interface HeldLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock file, but only if it is still ours. */
  release(): void;
}

function readOwner(path: string): LockOwner | "missing" | "unreadable" {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "unreadable";
  }
  return parseLockOwner(text) ?? "unreadable";
}

function sameOwner(a: LockOwner, b: LockOwner): boolean {
  return a.pid === b.pid && a.start_time === b.start_time && a.started_at === b.started_at;
}

/** Only a gone or replaced owner makes a lock stale; unknown counts as alive: never steal. */
async function ownerAlive(owner: LockOwner, probe: ProcessProbe): Promise<boolean> {
  const verdict = ownerVerdict(owner, (await probe.probe([owner.pid])).get(owner.pid));
  return verdict === "alive" || verdict === "unknown";
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

const RECLAIM_STALE_MS = 10_000;

export interface AcquireOptions {
  probe: ProcessProbe;
  owner: LockOwner;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Takes the lock or throws LockHeldError naming the live owner. Reclaiming a stale lock happens
 * under a second, short-lived `.reclaim` lock so that two starting daemons can never both delete
 * and retake it.
 */
export async function acquireLock(path: string, options: AcquireOptions): Promise<HeldLock> {
  const { probe, owner } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const content = `${JSON.stringify(owner)}\n`;
  const reclaimPath = `${path}.reclaim`;
  for (let attempt = 0; attempt < 500; attempt++) {
    if (createExclusive(path, content)) return heldLock(path, owner);
    const current = readOwner(path);
    if (current === "missing") continue;
    if (current === "unreadable") {
      // Written by something else, or damaged: only old enough garbage counts as stale.
      const mtime = fileMtime(path);
      if (mtime === undefined) continue; // gone meanwhile: try to create it again
      if (now() - mtime < UNREADABLE_GRACE_MS) {
        await sleep(20);
        continue;
      }
    } else if (await ownerAlive(current, probe)) {
      throw new LockHeldError(current);
    }
    if (createExclusive(reclaimPath, content)) {
      try {
        const again = readOwner(path);
        const unchanged =
          current === "unreadable"
            ? again === "unreadable"
            : again !== "missing" && again !== "unreadable" && sameOwner(again, current);
        if (unchanged) tryUnlink(path);
      } finally {
        tryUnlink(reclaimPath);
      }
    } else {
      // Someone is reclaiming right now; a reclaim lock left by a crash goes stale quickly.
      // A file that vanished meanwhile was a live reclaim that finished: never unlink blindly.
      const mtime = fileMtime(reclaimPath);
      if (mtime !== undefined && now() - mtime > RECLAIM_STALE_MS) tryUnlink(reclaimPath);
      await sleep(10);
    }
  }
  throw new Error(`could not take the lock ${path}: too much contention`);
}

function fileMtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function heldLock(path: string, owner: LockOwner): HeldLock {
  return {
    path,
    owner,
    release() {
      const current = readOwner(path);
      if (typeof current === "object" && sameOwner(current, owner)) tryUnlink(path);
    },
  };
}
