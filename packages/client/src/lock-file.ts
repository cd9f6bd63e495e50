// The daemon's lock file format, shared by the daemon (which writes it) and the CLI (which reads
// it to find a daemon that does not answer, e.g. one that is frozen).
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import type { ProbeResult } from "@claudemesh/registry";

/** A lock file that names no owner counts as stale only once this old: it may be being written. */
export const UNREADABLE_GRACE_MS = 2_000;

export interface LockOwner {
  readonly pid: number;
  readonly start_time: string | null;
  readonly version: string;
  readonly started_at: number;
}

/** Parses lock file content; undefined unless it names a plausible owner. */
export function parseLockOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as LockOwner;
    if (Number.isInteger(owner?.pid) && owner.pid > 0) return owner;
  } catch {
    // not a lock we wrote
  }
  return undefined;
}

/** The owner recorded in the lock file at `path`, if it can be read. */
export function readLockOwner(path: string): LockOwner | undefined {
  try {
    return parseLockOwner(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * Is a lock's recorded owner still the process that took it? `gone` and `replaced` are the only
 * proofs of staleness; `unknown` (a failed probe) never is. A lock or platform that records no
 * start time cannot prove pid reuse, so such an owner counts as alive.
 */
export type OwnerVerdict = "alive" | "gone" | "replaced" | "unknown";

export function ownerVerdict(owner: LockOwner, probed: ProbeResult | undefined): OwnerVerdict {
  if (probed === undefined || probed.state === "unknown") return "unknown";
  if (probed.state === "dead") return "gone";
  const recorded = owner.start_time ?? null;
  if (recorded === null || probed.startTime === null || probed.startTime === recorded) return "alive";
  return "replaced";
}

/** Creates `path` holding `content` atomically (hard link of a complete temp file); false when it exists. */
export function createExclusive(path: string, content: string): boolean {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: 0o600 });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
  }
}
