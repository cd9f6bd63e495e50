// Daemons, temp dirs and the raw HTTP helpers, against a stand-in daemon program.
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  Children,
  type Daemon,
  Daemons,
  http,
  killLockedDaemon,
  lockPid,
  processGone,
  rawExchange,
  stopDaemon,
  TempDirs,
} from "../src/index.js";

const program = fileURLToPath(new URL("./fixtures/fake-daemon.mjs", import.meta.url));
const paths = (dir: string) => ({ socket: join(dir, "daemon.sock"), lock: join(dir, "daemon.lock") });
const children = new Children();
const dirs = new TempDirs("cmk-");
const daemons = new Daemons({ program, paths, children });

afterEach(async () => {
  await children.stopAll();
  dirs.removeAll();
});

describe("Daemons", () => {
  it("starts several daemons side by side, each in its own dir, and stops them by pid", async () => {
    const [a, b] = (await daemons.startAll([join(dirs.make(), "d"), join(dirs.make(), "d")])) as [Daemon, Daemon];
    expect(a.socket).not.toBe(b.socket);
    expect((await http(a.socket, "GET", "/v1/health")).json()).toEqual({ pid: a.pid });
    expect((await http(b.socket, "GET", "/v1/health")).json()).toEqual({ pid: b.pid });
    expect(a.stderr()).toContain(`listening in ${a.dir}`);
    expect(await stopDaemon(a)).toEqual({ code: 0, signal: null });
    expect(await stopDaemon(b, "SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
  });

  it("fails at once, with the daemon's stderr, when the daemon exits instead of answering", async () => {
    const started = Date.now();
    await expect(daemons.start(join(dirs.make(), "d"), ["--refuse"])).rejects.toThrow(/exited \(2\).*refusing/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("leaves a daemon that a test forgot to its children's cleanup", async () => {
    const daemon = await daemons.start(join(dirs.make(), "d"));
    await children.stopAll();
    expect(processGone(daemon.pid)).toBe(true);
  });
});

describe("killLockedDaemon", () => {
  it("kills the process a lock names only when it serves that dir", async () => {
    const dir = join(dirs.make(), "d");
    const daemon = await daemons.start(dir);
    const stranger = children.sleeper();
    writeFileSync(paths(dir).lock, JSON.stringify({ pid: stranger.pid }));
    expect(lockPid(paths(dir).lock)).toBe(stranger.pid);
    await killLockedDaemon(paths(dir).lock, dir);
    expect(processGone(stranger.pid as number)).toBe(false);
    writeFileSync(paths(dir).lock, JSON.stringify({ pid: daemon.pid }));
    await killLockedDaemon(paths(dir).lock, dir);
    expect(processGone(daemon.pid)).toBe(true);
  });

  it("does nothing without a readable lock", async () => {
    const dir = dirs.make();
    expect(lockPid(join(dir, "daemon.lock"))).toBeUndefined();
    await killLockedDaemon(join(dir, "daemon.lock"), dir);
  });
});

describe("raw HTTP", () => {
  it("sends a request by hand and gets the daemon's bytes back", async () => {
    const daemon = await daemons.start(join(dirs.make(), "d"));
    const answer = await rawExchange(daemon.socket, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
  });

  it("can vanish mid-request, and can take a failed connection as an empty answer", async () => {
    const daemon = await daemons.start(join(dirs.make(), "d"));
    expect(
      await rawExchange(daemon.socket, "POST /v1/health HTTP/1.1\r\ncontent-length: 9\r\n\r\n{", { hangUp: true }),
    ).toBe("");
    const nowhere = join(dirs.make(), "none.sock");
    await expect(rawExchange(nowhere, "GET / HTTP/1.1\r\n\r\n")).rejects.toThrow(/ENOENT/);
    expect(await rawExchange(nowhere, "GET / HTTP/1.1\r\n\r\n", { tolerateErrors: true })).toBe("");
  });
});

describe("TempDirs", () => {
  it("makes short 0700 dirs and removes them all", () => {
    const made = [dirs.make(), dirs.make("cmx-")];
    for (const dir of made) expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(made[1]).toMatch(/\/cmx-[^/]+$/);
    dirs.removeAll();
    for (const dir of made) expect(existsSync(dir)).toBe(false);
  });
});
