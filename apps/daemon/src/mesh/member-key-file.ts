// The member key on disk: `member.key` (0600) in the daemon dir, created at the first start.
// A damaged file is never replaced silently: it is this user's identity, and peers on other
// machines may trust it by its fingerprint. The daemon refuses to start and says how to proceed.
import { chmodSync, linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import {
  decodeMemberKey,
  encodeMemberKey,
  generateSigningKey,
  type MemberKey,
  MemberKeyError,
  memberKeyOf,
} from "@claudemesh/mesh";
import type { Logger } from "../logger.js";

export class MemberKeyFileError extends Error {
  override readonly name = "MemberKeyFileError";
}

function read(path: string): MemberKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new MemberKeyFileError(`cannot read the member key ${path}: ${(error as Error).message}`);
  }
  try {
    return decodeMemberKey(text);
  } catch (error) {
    if (!(error instanceof MemberKeyError)) throw error;
    throw new MemberKeyFileError(
      `the member key ${path} is damaged (${error.message}); it is this user's identity, so it is not ` +
        `replaced by itself: move it aside (mv ${path} ${path}.damaged) and start the daemon again to ` +
        "create a new one (peers that trusted the old fingerprint must then trust the new one)",
    );
  }
}

/** Reads the member key, creating it (0600, exclusively) when there is none yet. */
export function loadMemberKey(path: string, logger: Logger, now: () => number = Date.now): MemberKey {
  let mode: number | undefined;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (mode === undefined) {
    const member = memberKeyOf(generateSigningKey(), now());
    // Written whole under a temporary name, then linked into place: never a half-written key,
    // and never one created over another's.
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, encodeMemberKey(member), { mode: 0o600, flag: "w" });
    try {
      linkSync(temp, path);
      logger.info("member key created", { path, fingerprint: member.fingerprint });
      return member;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      return read(path);
    } finally {
      unlinkSync(temp);
    }
  }
  if ((mode & 0o077) !== 0) {
    chmodSync(path, 0o600);
    logger.warn("member key was readable by others; its mode is now 0600", { path });
  }
  return read(path);
}
