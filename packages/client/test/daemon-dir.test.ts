import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonDirError, ensureDaemonDir } from "../src/daemon-dir.js";

// Temp dirs of this file, removed after each test.
const dirs = {
  made: [] as string[],
  make(prefix = "cmu-"): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.made.push(dir);
    return dir;
  },
  removeAll(): void {
    for (const dir of this.made.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
};
afterEach(() => dirs.removeAll());

const myUid = process.getuid?.() ?? 0;

function refusal(dir: string, uid?: number): DaemonDirError {
  try {
    if (uid === undefined) ensureDaemonDir(dir);
    else ensureDaemonDir(dir, uid);
  } catch (error) {
    expect(error).toBeInstanceOf(DaemonDirError);
    return error as DaemonDirError;
  }
  throw new Error(`ensureDaemonDir(${dir}) accepted it`);
}

describe("ensureDaemonDir", () => {
  it("creates a missing dir, and its missing parents, with mode 0700", () => {
    const base = dirs.make("cmu-dir-");
    const dir = join(base, "a", "b", "daemon");
    ensureDaemonDir(dir);
    const stat = statSync(dir);
    expect(stat.isDirectory()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o700);
    expect(stat.uid).toBe(myUid);
    expect(statSync(join(base, "a")).mode & 0o077).toBe(0); // nothing on the way is open to others
  });

  it("creates it 0700 even under a permissive umask", () => {
    const dir = join(dirs.make("cmu-dir-"), "daemon");
    const previous = process.umask(0);
    try {
      ensureDaemonDir(dir);
    } finally {
      process.umask(previous);
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("accepts an existing 0700 dir owned by the user, and leaves it as it was", () => {
    const dir = dirs.make("cmu-dir-");
    chmodSync(dir, 0o700);
    writeFileSync(join(dir, "keep"), "x");
    ensureDaemonDir(dir);
    ensureDaemonDir(dir, myUid);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "keep")).isFile()).toBe(true);
  });

  it.each(["755", "750", "701", "770", "777"])("refuses a dir with mode 0%s, naming the chmod fix", (octal) => {
    const mode = Number.parseInt(octal, 8);
    const dir = dirs.make("cmu-dir-");
    chmodSync(dir, mode);
    const error = refusal(dir);
    expect(error.message).toContain(`chmod 700 ${dir}`);
    expect(error.message).toContain(`mode 0${octal}`);
    expect(statSync(dir).mode & 0o777).toBe(mode); // refused, not silently "fixed"
  });

  it("refuses a dir owned by another uid, naming that uid", () => {
    const dir = dirs.make("cmu-dir-");
    chmodSync(dir, 0o700);
    if (myUid === 0) {
      chownSync(dir, 65534, 65534);
      const error = refusal(dir);
      expect(error.message).toContain("uid 65534");
      expect(error.message).toContain("chown");
    }
    // Whoever runs the tests: a dir they own, seen by another uid.
    const mine = dirs.make("cmu-dir-");
    chmodSync(mine, 0o700);
    const error = refusal(mine, myUid + 4242);
    expect(error.message).toContain(`owned by uid ${myUid}`);
    expect(error.message).toContain(`uid ${myUid + 4242}`);
  });

  it("refuses a path that is a regular file, saying so", () => {
    const file = join(dirs.make("cmu-dir-"), "daemon");
    writeFileSync(file, "not a dir", { mode: 0o600 });
    const error = refusal(file);
    expect(error.message).toContain("is not a directory");
    expect(error.message).toContain(file);
  });

  it("refuses a path below a regular file, saying so", () => {
    const file = join(dirs.make("cmu-dir-"), "daemon");
    writeFileSync(file, "not a dir", { mode: 0o600 });
    const error = refusal(join(file, "sub"));
    expect(error.message).toContain("not a directory");
  });

  it("refuses an existing 0711 dir: mkdir leaves an existing dir's mode alone, the check does not", () => {
    const dir = join(dirs.make("cmu-dir-"), "existing");
    mkdirSync(dir, { mode: 0o711 });
    chmodSync(dir, 0o711);
    expect(refusal(dir).message).toContain("chmod 700");
  });
});
