// The daemon dir is the real security boundary: a 0700 directory owned by the user. The socket
// inside it is unreachable for anyone else no matter what mode the socket file itself has.
import { mkdirSync, statSync } from "node:fs";

export class DaemonDirError extends Error {
  override readonly name = "DaemonDirError";
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/**
 * Creates the dir (0700) if needed, then refuses one that is not owned by this user or that
 * group or others may access. The message names the fix.
 */
export function ensureDaemonDir(dir: string, uid: number = process.getuid?.() ?? 0): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // Something that is not a directory is in the way: say so, with the fix, not a bare errno.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR") {
      throw new DaemonDirError(`a parent of daemon dir ${dir} is not a directory; set CLAUDEMESH_DAEMON_DIR elsewhere`);
    }
    if (code !== "EEXIST") throw error; // EEXIST: a file is at `dir` itself; the check below names it
  }
  const stat = statSync(dir);
  if (!stat.isDirectory()) {
    throw new DaemonDirError(`daemon dir ${dir} is not a directory; remove it or set CLAUDEMESH_DAEMON_DIR elsewhere`);
  }
  if (stat.uid !== uid) {
    throw new DaemonDirError(
      `daemon dir ${dir} is owned by uid ${stat.uid}, not by you (uid ${uid}); ` +
        `fix: \`chown ${uid} ${dir}\` or set CLAUDEMESH_DAEMON_DIR to a directory you own`,
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new DaemonDirError(
      `daemon dir ${dir} is accessible to group or others (mode ${octal(stat.mode)}); fix: \`chmod 700 ${dir}\``,
    );
  }
}
