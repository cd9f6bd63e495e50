// The start claim: when many CLIs find no daemon at once (16 launches from a script), only the
// one holding `daemon.starting` spawns a daemon; the others wait for it to answer. The daemon's
// own lock would keep the result to one daemon anyway, but without the claim every racing CLI
// boots a daemon process that then loses the lock and exits: wasted start-ups on a busy machine,
// and for a moment many daemons in `ps`.
//
// The claim is advisory and self-healing: a claim whose holder is gone (killed mid-start), was
// replaced by pid reuse, or has held it longer than any start can take, is taken over.
import { createExclusive } from "@claudemesh/client";
import type { ProcessProbe } from "@claudemesh/registry";
import { inspectLock, ownLockOwner, unlinkIfUnchanged } from "./lock-state.js";

/** A claim older than this belongs to a CLI stuck mid-start (e.g. stopped): take it over. */
export const CLAIM_MAX_AGE_MS = 10_000;

export interface StartClaim {
  /** Removes the claim file, only if it is still this claim. */
  release(): void;
}

/**
 * Takes the start claim at `path`, or returns undefined while another CLI holds it (or its holder
 * cannot be judged: a failed probe never proves a holder gone). Never throws: a claim that cannot
 * be written is skipped (see below).
 */
export async function claimStart(
  path: string,
  probe: ProcessProbe,
  now: () => number = Date.now,
): Promise<StartClaim | undefined> {
  const content = `${JSON.stringify(await ownLockOwner(probe, now))}\n`;
  // Each pass either takes the claim, gives way to a live holder, or removes a stale claim (and
  // tries again); three passes cover a claim released or replaced while we looked.
  for (let pass = 0; pass < 3; pass++) {
    let created: boolean;
    try {
      created = createExclusive(path, content);
    } catch {
      // The claim cannot be written (a read-only or full dir): start without one. The claim only
      // spares the machine extra daemon boots; the daemon's own lock still keeps one daemon.
      return { release: () => {} };
    }
    if (created) return { release: () => void unlinkIfUnchanged(path, content) };
    const state = await inspectLock(path, probe, now);
    switch (state.kind) {
      case "none":
        continue;
      case "unknown":
        return undefined;
      case "held":
        if (now() - state.owner.started_at < CLAIM_MAX_AGE_MS) return undefined;
        unlinkIfUnchanged(path, state.text);
        continue;
      case "stale":
        unlinkIfUnchanged(path, state.text);
        continue;
    }
  }
  return undefined;
}
