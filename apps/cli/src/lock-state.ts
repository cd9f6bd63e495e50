// Judging a lock-style file (the daemon's lock, the CLI's start claim): who holds it, and is that
// proven stale? Shared by `doctor` and auto-start so both apply the daemon's own rules
// (ownerVerdict from @claudemesh/client): only a gone or replaced owner, or a file that has named
// no owner for a while, is stale; a failed probe never is.
import { readFileSync, statSync, unlinkSync } from "node:fs";
import { type LockOwner, ownerVerdict, parseLockOwner, UNREADABLE_GRACE_MS } from "@claudemesh/client";
import type { ProcessProbe } from "@claudemesh/registry";
import { CLI_VERSION } from "./version.js";

export type LockState =
  | { readonly kind: "none" }
  | { readonly kind: "held"; readonly owner: LockOwner; readonly text: string }
  | { readonly kind: "stale"; readonly why: string; readonly text: string }
  | { readonly kind: "unknown"; readonly why: string };

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
      return { kind: "held", owner, text };
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
export function unlinkIfUnchanged(path: string, content: string): boolean {
  if (readText(path) !== content) return false;
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** This CLI process as a lock owner: pid, process start time (so pid reuse is caught), version. */
export async function ownLockOwner(probe: ProcessProbe, now: () => number = Date.now): Promise<LockOwner> {
  const own = (await probe.probe([process.pid])).get(process.pid);
  return {
    pid: process.pid,
    start_time: own?.state === "alive" ? own.startTime : null,
    version: CLI_VERSION,
    started_at: now(),
  };
}
