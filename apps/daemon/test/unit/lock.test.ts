import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createProcessProbe, type ProbeResult, type ProcessProbe } from "@claudemesh/registry";
import { afterEach, describe, expect, it } from "vitest";
import { acquireLock, LockHeldError, type LockOwner, readLockOwner } from "../../src/lock.js";
import { TempDirs } from "./helpers.js";

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

function lockPath(): string {
  return join(dirs.make("cmu-lock-"), "daemon.lock");
}

function owner(pid: number, start_time: string | null, started_at = 1_700_000_000_000): LockOwner {
  return { pid, start_time, version: "0.0.0-test", started_at };
}

function writeOwner(path: string, o: LockOwner): void {
  writeFileSync(path, `${JSON.stringify(o)}\n`, { mode: 0o600 });
}

/** A probe that answers from a table: listed pids are alive with that start time, others dead. */
function tableProbe(alive: ReadonlyMap<number, string | null>, override?: (pid: number) => ProbeResult | undefined) {
  const probe: ProcessProbe & { calls: number } = {
    calls: 0,
    async probe(pids) {
      probe.calls++;
      await new Promise((r) => setImmediate(r)); // a real probe yields too
      const out = new Map<number, ProbeResult>();
      for (const pid of pids) {
        const forced = override?.(pid);
        if (forced) out.set(pid, forced);
        else if (alive.has(pid)) out.set(pid, { state: "alive", startTime: alive.get(pid) ?? null });
        else out.set(pid, { state: "dead" });
      }
      return out;
    },
  };
  return probe;
}

async function ownStartTime(): Promise<string> {
  const result = (await createProcessProbe().probe([process.pid])).get(process.pid);
  if (result?.state !== "alive" || result.startTime === null) throw new Error("cannot read this process's start time");
  return result.startTime;
}

async function deadPid(): Promise<number> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  const pid = child.pid as number;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited; // node has reaped it: the pid is free
  return pid;
}

const noSleep = () => Promise.resolve();

describe("acquireLock", () => {
  it("creates the lock file 0600 holding the owner as JSON, and nothing else", async () => {
    const path = lockPath();
    const me = owner(process.pid, await ownStartTime());
    const lock = await acquireLock(path, { probe: createProcessProbe(), owner: me });
    expect(lock.path).toBe(path);
    expect(lock.owner).toEqual(me);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(me);
    expect(readLockOwner(path)).toEqual(me);
    expect(readdirSync(join(path, ".."))).toEqual(["daemon.lock"]); // no temp or reclaim file left
  });

  it("refuses while the recorded owner is alive (real pid and start time), naming its pid", async () => {
    const path = lockPath();
    const probe = createProcessProbe();
    const first = owner(process.pid, await ownStartTime());
    await acquireLock(path, { probe, owner: first });
    const before = readFileSync(path, "utf8");

    const second = acquireLock(path, { probe, owner: owner(process.pid, first.start_time, first.started_at + 1) });
    await expect(second).rejects.toBeInstanceOf(LockHeldError);
    await expect(second).rejects.toThrow(`pid ${process.pid}`);
    const error = await second.catch((e: unknown) => e);
    expect((error as LockHeldError).owner).toEqual(first);
    expect(readFileSync(path, "utf8")).toBe(before);
  });

  it("never steals a lock whose owner cannot be probed (unknown counts as alive)", async () => {
    const path = lockPath();
    const held = owner(4242, "t-4242");
    writeOwner(path, held);
    const probe = tableProbe(new Map(), () => ({ state: "unknown", reason: "probe failed" }));
    await expect(acquireLock(path, { probe, owner: owner(1, "t-1") })).rejects.toBeInstanceOf(LockHeldError);
    expect(readLockOwner(path)).toEqual(held);
  });

  it("reclaims a lock recorded for a pid that has exited", async () => {
    const path = lockPath();
    writeOwner(path, owner(await deadPid(), "123:456"));
    const me = owner(process.pid, await ownStartTime());
    const lock = await acquireLock(path, { probe: createProcessProbe(), owner: me });
    expect(lock.owner).toEqual(me);
    expect(readLockOwner(path)).toEqual(me);
    expect(existsSync(`${path}.reclaim`)).toBe(false);
  });

  it("reclaims a lock whose pid is alive but now belongs to another process (start time differs)", async () => {
    const path = lockPath();
    const start = await ownStartTime();
    writeOwner(path, owner(process.pid, `${start}-previous-holder`));
    const me = owner(process.pid, start, 1_800_000_000_000);
    await acquireLock(path, { probe: createProcessProbe(), owner: me });
    expect(readLockOwner(path)).toEqual(me);
  });

  it("never reclaims a lock that records a live pid but no start time", async () => {
    const path = lockPath();
    writeFileSync(path, `${JSON.stringify({ pid: process.pid, version: "old", started_at: 1 })}\n`, { mode: 0o600 });
    const probe = tableProbe(new Map([[process.pid, "some-start-time"]]));
    await expect(acquireLock(path, { probe, owner: owner(424242, "x"), sleep: noSleep })).rejects.toBeInstanceOf(
      LockHeldError,
    );
    expect(readLockOwner(path)?.version).toBe("old");
  });

  it("leaves unreadable garbage alone while it is younger than the grace period", async () => {
    const path = lockPath();
    writeFileSync(path, '{"pid":', { mode: 0o600 }); // e.g. a foreign writer caught mid-write
    const mtime = statSync(path).mtimeMs;
    const probe = tableProbe(new Map());
    await expect(
      acquireLock(path, { probe, owner: owner(1, "t-1"), now: () => mtime + 500, sleep: noSleep }),
    ).rejects.toThrow(/could not take the lock/);
    expect(readFileSync(path, "utf8")).toBe('{"pid":');
    expect(existsSync(`${path}.reclaim`)).toBe(false);
  });

  it("waits out the grace period on unreadable garbage, then reclaims it", async () => {
    const path = lockPath();
    writeFileSync(path, "\0\0garbage", { mode: 0o600 });
    const mtime = statSync(path).mtimeMs;
    let clock = mtime;
    let sleptMs = 0;
    const me = owner(77, "t-77");
    const lock = await acquireLock(path, {
      probe: tableProbe(new Map([[77, "t-77"]])),
      owner: me,
      now: () => clock,
      sleep: async (ms) => {
        sleptMs += ms;
        clock += ms;
      },
    });
    expect(lock.owner).toEqual(me);
    expect(readLockOwner(path)).toEqual(me);
    // It was not taken before the grace period (2 s) had passed on the injected clock.
    expect(sleptMs).toBeGreaterThanOrEqual(2_000);
    expect(sleptMs).toBeLessThan(3_000);
  });

  it("reclaims unreadable garbage older than the grace period at once", async () => {
    const path = lockPath();
    writeFileSync(path, "not json at all", { mode: 0o600 });
    const mtime = statSync(path).mtimeMs;
    const me = owner(77, "t-77");
    let slept = 0;
    await acquireLock(path, {
      probe: tableProbe(new Map()),
      owner: me,
      now: () => mtime + 60_000,
      sleep: async () => {
        slept++;
      },
    });
    expect(readLockOwner(path)).toEqual(me);
    expect(slept).toBe(0);
  });

  it("treats a JSON lock without a valid pid as unreadable", async () => {
    const path = lockPath();
    writeFileSync(path, JSON.stringify({ pid: -3, start_time: null }), { mode: 0o600 });
    expect(readLockOwner(path)).toBeUndefined();
    const mtime = statSync(path).mtimeMs;
    await acquireLock(path, { probe: tableProbe(new Map()), owner: owner(5, "t-5"), now: () => mtime + 60_000 });
    expect(readLockOwner(path)?.pid).toBe(5);
  });

  it("release() removes its own lock, and a released lock can be taken again", async () => {
    const path = lockPath();
    const probe = tableProbe(new Map([[10, "t-10"]]));
    const lock = await acquireLock(path, { probe, owner: owner(10, "t-10") });
    lock.release();
    expect(existsSync(path)).toBe(false);
    lock.release(); // idempotent
    const again = await acquireLock(path, { probe, owner: owner(10, "t-10", 2) });
    expect(readLockOwner(path)).toEqual(again.owner);
  });

  it("release() leaves a lock that another owner's content has replaced", async () => {
    const path = lockPath();
    const lock = await acquireLock(path, { probe: tableProbe(new Map()), owner: owner(10, "t-10") });
    const other = owner(11, "t-11");
    writeOwner(path, other);
    lock.release();
    expect(readLockOwner(path)).toEqual(other);

    // Same pid and start time but another start: still not ours.
    const sibling = owner(10, "t-10", lock.owner.started_at + 1);
    writeOwner(path, sibling);
    lock.release();
    expect(readLockOwner(path)).toEqual(sibling);
  });

  it("lets exactly one of many concurrent contenders reclaim a stale lock", async () => {
    const path = lockPath();
    writeOwner(path, owner(999, "t-999")); // stale: 999 is dead for the probe
    const contenders = Array.from({ length: 20 }, (_, i) => owner(1_000 + i, `t-${1_000 + i}`, 1_000 + i));
    const probe = tableProbe(new Map(contenders.map((c) => [c.pid, c.start_time])));

    const results = await Promise.allSettled(contenders.map((o) => acquireLock(path, { probe, owner: o })));

    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    const winner = (won[0] as PromiseFulfilledResult<{ owner: LockOwner }>).value.owner;
    for (const r of lost) {
      const reason = (r as PromiseRejectedResult).reason as unknown;
      expect(reason).toBeInstanceOf(LockHeldError);
      expect((reason as LockHeldError).owner).toEqual(winner);
    }
    expect(readLockOwner(path)).toEqual(winner);
    expect(readdirSync(join(path, ".."))).toEqual(["daemon.lock"]);
  });

  it("cleans up a leftover .reclaim file older than 10 s, then reclaims the stale lock", async () => {
    const path = lockPath();
    writeOwner(path, owner(999, "t-999"));
    writeFileSync(`${path}.reclaim`, "left by a crashed daemon", { mode: 0o600 });
    const me = owner(5, "t-5");
    await acquireLock(path, {
      probe: tableProbe(new Map([[5, "t-5"]])),
      owner: me,
      now: () => Date.now() + 11_000,
      sleep: noSleep,
    });
    expect(readLockOwner(path)).toEqual(me);
    expect(existsSync(`${path}.reclaim`)).toBe(false);
  });

  it("respects a fresh .reclaim file (someone else is reclaiming right now)", async () => {
    const path = lockPath();
    const stale = owner(999, "t-999");
    writeOwner(path, stale);
    writeFileSync(`${path}.reclaim`, "held by a live contender", { mode: 0o600 });
    const old = Date.now() / 1000 - 1; // a second old: well within 10 s
    utimesSync(`${path}.reclaim`, old, old);
    await expect(
      acquireLock(path, { probe: tableProbe(new Map()), owner: owner(5, "t-5"), sleep: noSleep }),
    ).rejects.toThrow(/could not take the lock/);
    expect(readLockOwner(path)).toEqual(stale);
    expect(readFileSync(`${path}.reclaim`, "utf8")).toBe("held by a live contender");
  });
});
