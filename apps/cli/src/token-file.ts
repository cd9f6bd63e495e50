// The session token's home while a session runs: a 0600 file in a fresh 0700 temp dir. The
// program receives the file's path, never the value (argv and environments are readable by
// other tools; a 0600 file is not).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isToken } from "@claudemesh/registry";

export interface TokenFile {
  readonly dir: string;
  readonly path: string;
  remove(): void;
}

export function writeTokenFile(token: string, parent: string = tmpdir()): TokenFile {
  const dir = mkdtempSync(join(parent, "claudemesh-")); // mkdtemp creates it 0700
  const path = join(dir, "token");
  writeFileSync(path, token, { mode: 0o600, flag: "wx" });
  return {
    dir,
    path,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Reads a token file; undefined when it is missing, unreadable or does not hold a token. */
export function readTokenFile(path: string): string | undefined {
  try {
    const token = readFileSync(path, "utf8").trim();
    return isToken(token) ? token : undefined;
  } catch {
    return undefined;
  }
}
