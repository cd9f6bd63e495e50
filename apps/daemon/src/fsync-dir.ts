// The last step of an atomic file write: a rename is durable only once its directory entry is.
import { open } from "node:fs/promises";
import { dirname } from "node:path";

/** Syncs the directory holding `path`; a file system that refuses fsync on a directory is let be. */
export async function fsyncDir(path: string): Promise<void> {
  try {
    const dir = await open(dirname(path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // some file systems refuse fsync on a directory; the data itself is synced
  }
}
