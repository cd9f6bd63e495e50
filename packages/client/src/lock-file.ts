// The daemon's lock file format, shared by the daemon (which writes it) and the CLI (which reads
// it to find a daemon that does not answer, e.g. one that is frozen).
import { readFileSync } from "node:fs";

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
