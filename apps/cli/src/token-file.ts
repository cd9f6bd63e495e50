// The session token's home while a session runs: a 0600 file in a fresh 0700 dir. The program
// receives the file's path, never the value (argv and environments are readable by other
// tools; a 0600 file is not).
//
// Token dirs live under one per-user parent, `$TMPDIR/claudemesh-<uid>` (0700), beside a file
// naming the launch that owns them. A launch removes its own dir on every way out it survives;
// the dir of a SIGKILLed launch is removed by a later launch once its session has ended.
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TokenFile {
  readonly dir: string;
  readonly path: string;
  /** The per-user parent holding the dir; undefined when a private fallback dir was used. */
  readonly parent: string | undefined;
  remove(): void;
}

const TOKEN = /^[0-9a-f]{64}$/;

/** The per-user parent of token dirs, or undefined when it exists but is not safely ours. */
export function tokenDirParent(base: string = tmpdir(), uid: number = process.getuid?.() ?? 0): string | undefined {
  const parent = join(base, `claudemesh-${uid}`);
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const stat = lstatSync(parent);
  return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0 ? parent : undefined;
}

export function writeTokenFile(token: string, base: string = tmpdir()): TokenFile {
  // A parent someone else controls is never used: fall back to a private dir of our own.
  const parent = tokenDirParent(base);
  const dir = mkdtempSync(join(parent ?? base, parent ? "session-" : "claudemesh-")); // mkdtemp: 0700
  const path = join(dir, "token");
  writeFileSync(path, token, { mode: 0o600, flag: "wx" });
  writeFileSync(join(dir, "launcher"), String(process.pid), { mode: 0o600 });
  return { dir, path, parent, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads a token file; undefined when it is missing, unreadable or does not hold a token. */
export function readTokenFile(path: string): string | undefined {
  try {
    const token = readFileSync(path, "utf8").trim();
    return TOKEN.test(token) ? token : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes token dirs left by launches that were killed: their launcher is gone and the daemon
 * no longer knows their token. Any doubt (a launcher pid that runs, a daemon that does not
 * answer) keeps the dir. Returns how many were removed.
 */
export async function sweepTokenDirs(
  parent: string,
  sessionIsLive: (token: string) => Promise<boolean>,
  ownDir?: string,
): Promise<number> {
  let removed = 0;
  for (const name of readdirSync(parent)) {
    const dir = join(parent, name);
    if (dir === ownDir || !name.startsWith("session-")) continue;
    let launcher: number;
    try {
      launcher = Number(readFileSync(join(dir, "launcher"), "utf8"));
    } catch {
      continue; // being created right now, or not ours
    }
    if (!Number.isInteger(launcher) || launcher <= 0 || isRunning(launcher)) continue;
    const token = readTokenFile(join(dir, "token"));
    if (token !== undefined && (await sessionIsLive(token))) continue;
    rmSync(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
