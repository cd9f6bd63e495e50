// Temp dirs for daemon dirs and work dirs. Short on purpose: a Unix socket path inside one must
// fit in sockaddr_un (104 bytes on macOS), and 0700 because the daemon refuses a looser dir.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh 0700 dir right under the system temp dir; the prefix tells whose a leftover is. */
export function makeTempDir(prefix = "cmk-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o700);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The temp dirs of one test file (or fixture), all removed by `removeAll()`. */
export class TempDirs {
  readonly #dirs: string[] = [];

  constructor(private readonly prefix = "cmk-") {}

  make(prefix = this.prefix): string {
    const dir = makeTempDir(prefix);
    this.#dirs.push(dir);
    return dir;
  }

  removeAll(): void {
    for (const dir of this.#dirs.splice(0)) removeDir(dir);
  }
}
