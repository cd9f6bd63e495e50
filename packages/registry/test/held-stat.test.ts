// LinuxProcProbe holding /proc/<pid>/stat files open between probes: the limits parsing, every
// path against a fake kernel, then the same guarantees on real processes.
import { readdirSync, readlinkSync } from "node:fs";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  defaultMaxCachedFds,
  type LinuxProcIO,
  LinuxProcProbe,
  nodeLinuxProcIO,
  type ProbeResult,
  parseMaxOpenFiles,
  parseProcStat,
} from "../src/identity/index.js";
import { Reaper } from "../src/reaper.js";
import { SessionRegistry } from "../src/registry.js";
import { errno, registration, statLine } from "./fixtures.js";
import { killAll, killAndWait, spawnSleeper, spawnUnwaitedSleeper, waitFor } from "./processes.js";

afterAll(killAll);

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
`;

describe("parseMaxOpenFiles and defaultMaxCachedFds", () => {
  it("reads the soft column of the Max open files line", () => {
    expect(parseMaxOpenFiles(LIMITS)).toBe(1024);
    expect(parseMaxOpenFiles(LIMITS.replace("1024     ", "unlimited"))).toBe(Number.POSITIVE_INFINITY);
  });

  it.each([
    [""],
    ["Max processes  100  100  processes\n"],
    ["Max open files\n"],
    ["Max open files  lots  10  files\n"],
  ])("is undefined for %j", (text) => expect(parseMaxOpenFiles(text)).toBeUndefined());

  it("reads this process's real limits", () => {
    expect(parseMaxOpenFiles(nodeLinuxProcIO.readLimits())).toBeGreaterThan(0);
  });

  it.each([
    [undefined, 256],
    [Number.POSITIVE_INFINITY, 4096],
    [1_048_576, 4096],
    [20_000, 4096],
    [1024, 256],
    [3, 0],
  ])("soft limit %j holds at most %j files", (soft, expected) => {
    expect(defaultMaxCachedFds(soft)).toBe(expected);
  });
});

/** The split-based parser the indexOf one replaced: both must agree on every input. */
function referenceParse(text: string) {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(" ", 20);
  const state = fields[0];
  const startTicks = fields[19];
  if (state?.length !== 1 || !startTicks || !/^\d+$/.test(startTicks)) return undefined;
  return { state, startTicks };
}

describe("parseProcStat", () => {
  it("agrees with the split-based parser on near-valid and arbitrary lines", () => {
    const digits = fc.stringMatching(/^\d{1,6}$/);
    const field = fc.oneof(
      { weight: 9, arbitrary: digits },
      { weight: 1, arbitrary: fc.constantFrom("", "-1", "\n", "12\n", "S") },
    );
    const line = fc
      .tuple(
        fc.string({ maxLength: 20 }),
        fc.oneof(fc.constantFrom("S", "Z", "R"), fc.string({ maxLength: 2 })),
        fc.array(field, { minLength: 17, maxLength: 19 }),
        field,
        fc.array(field, { maxLength: 3 }),
        fc.boolean(),
      )
      .map(
        ([comm, state, middle, start, tail, newline]) =>
          `42 (${comm}) ${[state, ...middle, start, ...tail].join(" ")}${newline ? "\n" : ""}`,
      );
    let parsed = 0;
    fc.assert(
      fc.property(line, (text) => {
        const result = parseProcStat(text);
        if (result !== undefined) parsed++;
        expect(result).toEqual(referenceParse(text));
      }),
      { numRuns: 2_000 },
    );
    expect(parsed).toBeGreaterThan(200); // the property is not vacuous
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(parseProcStat(text)).toEqual(referenceParse(text));
      }),
    );
  });
});

interface FakeProcess {
  start: string;
  state: string;
  reaped: boolean;
}

/** A kernel in memory: a held fd is bound to the process it was opened for, as in procfs. */
class FakeKernel implements LinuxProcIO {
  readonly processes = new Map<number, FakeProcess>();
  readonly fds = new Map<number, FakeProcess>();
  #nextFd = 100;
  opens = 0;
  preads = 0;
  statReads = 0;
  limitReads = 0;
  closed: number[] = [];
  failOpen: string | undefined;
  failPread: string | undefined;
  failClose = false;
  limits: string | undefined = "Max open files 1048576 1048576 files\n";

  run(pid: number, start: string, state = "S"): FakeProcess {
    const process = { start, state, reaped: false };
    this.processes.set(pid, process);
    return process;
  }

  reap(pid: number): void {
    (this.processes.get(pid) as FakeProcess).reaped = true;
    this.processes.delete(pid);
  }

  #line(process: FakeProcess): string {
    return statLine("fake", process.state, process.start);
  }

  readStat(pid: number): string {
    this.statReads++;
    const process = this.processes.get(pid);
    if (process === undefined) throw errno("ENOENT");
    return this.#line(process);
  }

  readBootId(): string {
    return "0123abcd-4567-89ab-cdef-0123456789ab";
  }

  signalZero(pid: number): void {
    if (!this.processes.has(pid)) throw errno("ESRCH");
  }

  openStat(pid: number): number {
    this.opens++;
    if (this.failOpen !== undefined) throw errno(this.failOpen);
    const process = this.processes.get(pid);
    if (process === undefined) throw errno("ENOENT");
    const fd = this.#nextFd++;
    this.fds.set(fd, process);
    return fd;
  }

  preadStat(fd: number): string {
    this.preads++;
    const process = this.fds.get(fd);
    if (process === undefined) throw errno("EBADF");
    if (this.failPread !== undefined) throw errno(this.failPread);
    if (process.reaped) throw errno("ESRCH");
    return this.#line(process);
  }

  closeStat(fd: number): void {
    if (!this.fds.delete(fd)) throw errno("EBADF");
    this.closed.push(fd);
    if (this.failClose) throw errno("EIO");
  }

  readLimits(): string {
    this.limitReads++;
    if (this.limits === undefined) throw errno("ENOENT");
    return this.limits;
  }
}

const alive = (ticks: string): ProbeResult => ({ state: "alive", startTime: `0123abcd4567:${ticks}` });
const DEAD = { state: "dead" };

/** A recurring call, as the reaper makes: the only kind that holds files. */
const sweep = (probe: LinuxProcProbe, pids: readonly number[]) => probe.probe(pids, { recurring: true });

async function probeOne(probe: LinuxProcProbe, pid: number, recurring = true): Promise<ProbeResult | undefined> {
  return (await probe.probe([pid], { recurring })).get(pid);
}

describe("LinuxProcProbe holding stat files (fake kernel)", () => {
  it("opens a live pid's file once and then only re-reads it", async () => {
    const kernel = new FakeKernel();
    kernel.run(7, "100");
    const probe = new LinuxProcProbe(kernel);
    expect(await probeOne(probe, 7)).toEqual(alive("100"));
    expect(await probeOne(probe, 7)).toEqual(alive("100"));
    expect(await probeOne(probe, 7)).toEqual(alive("100"));
    expect({ opens: kernel.opens, preads: kernel.preads, statReads: kernel.statReads }).toEqual({
      opens: 1,
      preads: 3,
      statReads: 0,
    });
    expect(probe.cachedFds).toBe(1);
  });

  it("sees a state change through the held file: a zombie is dead and its file closed", async () => {
    const kernel = new FakeKernel();
    const process = kernel.run(7, "100");
    const probe = new LinuxProcProbe(kernel);
    await probeOne(probe, 7);
    process.state = "Z";
    expect(await probeOne(probe, 7)).toEqual(DEAD);
    expect(kernel.opens).toBe(1);
    expect(kernel.fds.size).toBe(0);
    expect(probe.cachedFds).toBe(0);
  });

  it("a reused pid: the held file fails, the fresh open sees the new process and is held instead", async () => {
    const kernel = new FakeKernel();
    kernel.run(7, "100");
    const probe = new LinuxProcProbe(kernel);
    await probeOne(probe, 7);
    const [oldFd] = kernel.fds.keys();
    kernel.reap(7);
    kernel.run(7, "555");
    expect(await probeOne(probe, 7)).toEqual(alive("555"));
    expect(kernel.closed).toEqual([oldFd]);
    expect(kernel.opens).toBe(2);
    expect(probe.cachedFds).toBe(1);
    expect(await probeOne(probe, 7)).toEqual(alive("555"));
    expect(kernel.opens).toBe(2);
  });

  it("a reaped pid nobody took: the held file fails, stat is gone, kill(pid, 0) says dead", async () => {
    const kernel = new FakeKernel();
    kernel.run(7, "100");
    const probe = new LinuxProcProbe(kernel);
    await probeOne(probe, 7);
    kernel.reap(7);
    expect(await probeOne(probe, 7)).toEqual(DEAD);
    expect(kernel.fds.size).toBe(0);
    expect(probe.cachedFds).toBe(0);
  });

  it("any failed read of a held file (not only ESRCH) drops it and probes afresh", async () => {
    const kernel = new FakeKernel();
    kernel.run(7, "100");
    const probe = new LinuxProcProbe(kernel);
    await probeOne(probe, 7);
    kernel.failPread = "EIO";
    // The fresh file fails too, so the answer comes from kill(pid, 0).
    expect(await probeOne(probe, 7)).toEqual({ state: "alive", startTime: null });
    expect(kernel.fds.size).toBe(0);
    kernel.failPread = undefined;
    expect(await probeOne(probe, 7)).toEqual(alive("100"));
    expect(probe.cachedFds).toBe(1);
  });

  it.each([
    ["ENOENT", DEAD],
    ["EACCES", { state: "alive", startTime: null }],
  ])("an open failing with %s falls back to kill(pid, 0) and holds nothing", async (code, expected) => {
    const kernel = new FakeKernel();
    kernel.failOpen = code;
    if (code === "EACCES") kernel.run(7, "100");
    const probe = new LinuxProcProbe(kernel);
    expect(await probeOne(probe, 7)).toEqual(expected);
    expect(probe.cachedFds).toBe(0);
  });

  it("a process reaped between open and read: the fresh file is closed, kill(pid, 0) decides", async () => {
    const kernel = new FakeKernel();
    kernel.run(7, "100");
    kernel.failPread = "ESRCH";
    const probe = new LinuxProcProbe(kernel);
    kernel.signalZero = () => {
      throw errno("ESRCH");
    };
    expect(await probeOne(probe, 7)).toEqual(DEAD);
    expect(kernel.fds.size).toBe(0);
  });

  it("a non-errno failure of a fresh file's read is unknown", async () => {
    const kernel = new FakeKernel();
    const odd = () => {
      throw "odd";
    };
    const probe = new LinuxProcProbe({
      ...bound(kernel),
      openStat: () => 5,
      preadStat: odd,
      closeStat: () => {},
      signalZero: odd,
    });
    expect(await probeOne(probe, 7)).toEqual({ state: "unknown", reason: "stat error, kill error" });
  });

  it("an unparseable or dead line holds nothing; a held file turning unparseable is dropped", async () => {
    const kernel = new FakeKernel();
    const process = kernel.run(7, "not-a-number");
    kernel.run(8, "100", "X");
    const probe = new LinuxProcProbe(kernel);
    const results = await sweep(probe, [7, 8]);
    expect(results.get(7)).toEqual({ state: "unknown", reason: "unparseable /proc/7/stat" });
    expect(results.get(8)).toEqual(DEAD);
    expect(kernel.fds.size).toBe(0);
    process.start = "100";
    await probeOne(probe, 7);
    expect(probe.cachedFds).toBe(1);
    process.start = "?";
    expect((await probeOne(probe, 7))?.state).toBe("unknown");
    expect(kernel.fds.size).toBe(0);
  });

  it("a close that fails still forgets the fd", async () => {
    const kernel = new FakeKernel();
    kernel.run(7, "100", "S");
    const probe = new LinuxProcProbe(kernel);
    await probeOne(probe, 7);
    kernel.failClose = true;
    (kernel.processes.get(7) as FakeProcess).state = "Z";
    expect(await probeOne(probe, 7)).toEqual(DEAD);
    expect(probe.cachedFds).toBe(0);
  });

  it("closes the files of pids not asked for in two consecutive probes", async () => {
    const kernel = new FakeKernel();
    for (const pid of [1, 2, 3]) kernel.run(pid, `${pid}`);
    const probe = new LinuxProcProbe(kernel);
    await sweep(probe, [1, 2, 3]);
    expect(probe.cachedFds).toBe(3);
    await sweep(probe, [1, 2]); // 3 missed once: kept
    expect(probe.cachedFds).toBe(3);
    await sweep(probe, [1]); // 3 missed twice: closed; 2 missed once: kept
    expect(probe.cachedFds).toBe(2);
    await sweep(probe, []); // 2 missed twice
    expect(probe.cachedFds).toBe(1);
    await sweep(probe, []);
    expect(probe.cachedFds).toBe(0);
    expect(kernel.fds.size).toBe(0);
    expect(kernel.closed).toHaveLength(3);
  });

  it("evictAfterProbes: 1 closes a file as soon as a probe does not ask for its pid", async () => {
    const kernel = new FakeKernel();
    for (const pid of [1, 2]) kernel.run(pid, `${pid}`);
    const probe = new LinuxProcProbe(kernel, { evictAfterProbes: 1 });
    await sweep(probe, [1, 2]);
    await sweep(probe, [1]);
    expect([...kernel.fds.values()]).toEqual([kernel.processes.get(1)]);
  });

  it("one-off calls read held files but hold none and never close a sweep's files", async () => {
    const kernel = new FakeKernel();
    const pids = [1, 2, 3];
    for (const pid of [...pids, 99]) kernel.run(pid, `${pid}`);
    const probe = new LinuxProcProbe(kernel);
    await sweep(probe, pids);
    // Registrations and lock checks between two sweeps: each asks for one other pid.
    for (let i = 0; i < 5; i++) expect(await probeOne(probe, 99, false)).toEqual(alive("99"));
    expect((await probe.probe(pids)).get(1)).toEqual(alive("1"));
    expect(probe.probeOne(2)).toEqual(alive("2"));
    await sweep(probe, pids);
    expect({ opens: kernel.opens, statReads: kernel.statReads, held: probe.cachedFds }).toEqual({
      opens: 3,
      statReads: 5,
      held: 3,
    });
  });

  it("a one-off call drops a held file that fails, and answers from a fresh read", async () => {
    const kernel = new FakeKernel();
    kernel.run(7, "100");
    const probe = new LinuxProcProbe(kernel);
    await sweep(probe, [7]);
    kernel.reap(7);
    kernel.run(7, "555");
    expect(probe.probeOne(7)).toEqual(alive("555"));
    expect({ held: probe.cachedFds, open: kernel.fds.size, statReads: kernel.statReads }).toEqual({
      held: 0,
      open: 0,
      statReads: 1,
    });
  });

  it("two sweeps running at once (two reapers on one probe) still answer right and leak nothing", async () => {
    const kernel = new FakeKernel();
    const short = Array.from({ length: 32 }, (_, i) => i + 1);
    const long = Array.from({ length: 96 }, (_, i) => i + 1001);
    for (const pid of [...short, ...long]) kernel.run(pid, `${pid}`);
    let t = 0;
    // Real yields to the event loop: the two calls interleave slice by slice.
    const probe = new LinuxProcProbe(kernel, { budgetMs: 1, now: () => (t += 1) });
    for (let round = 0; round < 3; round++) {
      const [a, b] = await Promise.all([sweep(probe, long), sweep(probe, short)]);
      expect([...a.values(), ...b.values()]).toEqual([...long, ...short].map((pid) => alive(`${pid}`)));
      expect(kernel.fds.size).toBe(probe.cachedFds);
    }
    probe.close();
    expect(kernel.fds.size).toBe(0);
  });

  it("holds at most maxCachedFds files; the other pids are read with open/read/close", async () => {
    const kernel = new FakeKernel();
    for (const pid of [1, 2, 3]) kernel.run(pid, `${pid}`);
    const probe = new LinuxProcProbe(kernel, { maxCachedFds: 2 });
    const first = await sweep(probe, [1, 2, 3]);
    const second = await sweep(probe, [1, 2, 3]);
    expect([...first.values()]).toEqual([alive("1"), alive("2"), alive("3")]);
    expect(second).toEqual(first);
    expect({ held: probe.cachedFds, opens: kernel.opens, statReads: kernel.statReads }).toEqual({
      held: 2,
      opens: 2,
      statReads: 2,
    });
    // Room again once a held pid dies: the next pid takes its place.
    (kernel.processes.get(1) as FakeProcess).state = "Z";
    await sweep(probe, [1, 2, 3]);
    expect(probe.cachedFds).toBe(2);
    expect([...kernel.fds.values()]).toEqual([kernel.processes.get(2), kernel.processes.get(3)]);
  });

  it("maxCachedFds: 0 holds nothing", async () => {
    const kernel = new FakeKernel();
    kernel.run(1, "1");
    const probe = new LinuxProcProbe(kernel, { maxCachedFds: 0 });
    expect(await probeOne(probe, 1)).toEqual(alive("1"));
    expect({ opens: kernel.opens, statReads: kernel.statReads, held: probe.cachedFds }).toEqual({
      opens: 0,
      statReads: 1,
      held: 0,
    });
  });

  it.each([
    ["Max open files 40 4096 files\n", 10],
    ["Max open files unlimited unlimited files\n", 4096],
    ["garbage", 256],
    [undefined, 256],
  ])("the default cap comes from /proc/self/limits %j: %j files, read once", async (limits, cap) => {
    const kernel = new FakeKernel();
    kernel.limits = limits;
    const pids = Array.from({ length: cap + 5 }, (_, i) => i + 1);
    for (const pid of pids) kernel.run(pid, "1");
    const probe = new LinuxProcProbe(kernel);
    await sweep(probe, pids);
    await sweep(probe, pids);
    expect(probe.cachedFds).toBe(cap);
    expect(kernel.limitReads).toBe(1);
  });

  it("an IO without readLimits holds 256; one without the held-file calls holds none", async () => {
    const kernel = new FakeKernel();
    const pids = Array.from({ length: 300 }, (_, i) => i + 1);
    for (const pid of pids) kernel.run(pid, "1");
    const { readLimits: _, ...withoutLimits } = bound(kernel);
    const probe = new LinuxProcProbe(withoutLimits);
    await sweep(probe, pids);
    expect(probe.cachedFds).toBe(256);
    const { openStat: __, ...withoutOpen } = bound(kernel);
    const plain = new LinuxProcProbe(withoutOpen, { maxCachedFds: 10 });
    expect(await probeOne(plain, 1)).toEqual(alive("1"));
    expect(plain.cachedFds).toBe(0);
  });

  it("close() closes every held file; the probe holds files again afterwards", async () => {
    const kernel = new FakeKernel();
    for (const pid of [1, 2]) kernel.run(pid, `${pid}`);
    const probe = new LinuxProcProbe(kernel);
    await sweep(probe, [1, 2]);
    probe.close();
    expect(kernel.fds.size).toBe(0);
    expect(probe.cachedFds).toBe(0);
    expect(await sweep(probe, [1, 2])).toEqual(
      new Map([
        [1, alive("1")],
        [2, alive("2")],
      ]),
    );
    expect(probe.cachedFds).toBe(2);
  });

  it("a probe running when close() is called holds no new file", async () => {
    const kernel = new FakeKernel();
    const pids = Array.from({ length: 32 }, (_, i) => i + 1);
    for (const pid of pids) kernel.run(pid, `${pid}`);
    let t = 0;
    const probe: LinuxProcProbe = new LinuxProcProbe(kernel, {
      budgetMs: 1,
      now: () => (t += 1),
      yieldToLoop: async () => {
        probe.close();
      },
    });
    const results = await sweep(probe, pids);
    expect([...results.values()]).toEqual(pids.map((pid) => alive(`${pid}`)));
    expect(probe.cachedFds).toBe(0);
    expect(kernel.fds.size).toBe(0);
  });
});

/** A copy of the kernel's methods bound to it, so that some can be left out. */
function bound(kernel: FakeKernel): Required<LinuxProcIO> {
  return {
    readStat: (pid) => kernel.readStat(pid),
    readBootId: () => kernel.readBootId(),
    signalZero: (pid) => kernel.signalZero(pid),
    openStat: (pid) => kernel.openStat(pid),
    preadStat: (fd) => kernel.preadStat(fd),
    closeStat: (fd) => kernel.closeStat(fd),
    readLimits: () => kernel.readLimits(),
  };
}

/** The real IO, counting the calls that matter. */
function countingIO() {
  const calls = { opens: 0, preads: 0, closes: 0, statReads: 0 };
  const io: LinuxProcIO = {
    ...nodeLinuxProcIO,
    readStat(pid) {
      calls.statReads++;
      return nodeLinuxProcIO.readStat(pid);
    },
    openStat(pid) {
      calls.opens++;
      return nodeLinuxProcIO.openStat(pid);
    },
    preadStat(fd) {
      calls.preads++;
      return nodeLinuxProcIO.preadStat(fd);
    },
    closeStat(fd) {
      calls.closes++;
      nodeLinuxProcIO.closeStat(fd);
    },
  };
  return { io, calls };
}

const openFds = () => readdirSync("/proc/self/fd").length;
/** Our fds that point at /proc/<pid>/stat. */
const heldStatFiles = (pid: number) =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === `/proc/${pid}/stat`;
    } catch {
      return false;
    }
  }).length;

const describeLinux = process.platform === "linux" ? describe : describe.skip;

describeLinux("LinuxProcProbe holding stat files (real processes)", () => {
  it("the kernel: a held stat file fails with ESRCH once its process is reaped", async () => {
    const child = spawnSleeper();
    const fd = nodeLinuxProcIO.openStat(child.pid as number);
    try {
      expect(parseProcStat(nodeLinuxProcIO.preadStat(fd))?.state).toMatch(/^[RS]$/);
      await killAndWait(child);
      expect(() => nodeLinuxProcIO.preadStat(fd)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    } finally {
      nodeLinuxProcIO.closeStat(fd);
    }
  });

  it("sees a live child alive on every probe, same start time, with one open", async () => {
    const child = spawnSleeper();
    const pid = child.pid as number;
    const { io, calls } = countingIO();
    const probe = new LinuxProcProbe(io);
    const uncached = new LinuxProcProbe(nodeLinuxProcIO, { maxCachedFds: 0 }).probeOne(pid);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await probeOne(probe, pid));
    expect(uncached).toMatchObject({ state: "alive", startTime: expect.stringMatching(/^[0-9a-f]{12}:\d+$/) });
    expect(results).toEqual(Array(5).fill(uncached));
    expect(calls).toEqual({ opens: 1, preads: 5, closes: 0, statReads: 0 });
    expect(heldStatFiles(pid)).toBe(1);
    probe.close();
    expect(heldStatFiles(pid)).toBe(0);
  });

  it("after SIGKILL and reaping: dead on the next probe, and the fd is closed", async () => {
    const child = spawnSleeper();
    const pid = child.pid as number;
    const { io, calls } = countingIO();
    const probe = new LinuxProcProbe(io);
    const before = openFds();
    expect(await probeOne(probe, pid)).toMatchObject({ state: "alive" });
    expect(openFds()).toBe(before + 1);
    await killAndWait(child);
    expect(await probeOne(probe, pid)).toEqual(DEAD);
    expect(openFds()).toBe(before);
    expect(heldStatFiles(pid)).toBe(0);
    expect(calls.closes).toBe(1);
    expect(probe.cachedFds).toBe(0);
  });

  it("sees a zombie as dead through the held file, without a new open", async () => {
    const { childPid } = await spawnUnwaitedSleeper();
    const { io, calls } = countingIO();
    const probe = new LinuxProcProbe(io);
    expect(await probeOne(probe, childPid)).toMatchObject({ state: "alive" });
    process.kill(childPid, "SIGKILL");
    await waitFor(() => parseProcStat(nodeLinuxProcIO.readStat(childPid))?.state === "Z", "the zombie");
    expect(await probeOne(probe, childPid)).toEqual(DEAD);
    expect(calls).toMatchObject({ opens: 1, preads: 2, closes: 1 });
    expect(heldStatFiles(childPid)).toBe(0);
  });

  it("closes the files of pids no longer asked for", async () => {
    const [a, b] = [spawnSleeper(), spawnSleeper()].map((c) => c.pid as number) as [number, number];
    const probe = new LinuxProcProbe();
    const before = openFds();
    await sweep(probe, [a, b]);
    expect(openFds()).toBe(before + 2);
    await sweep(probe, [a]);
    await sweep(probe, [a]);
    expect([heldStatFiles(a), heldStatFiles(b), openFds()]).toEqual([1, 0, before + 1]);
    probe.close();
    expect(openFds()).toBe(before);
  });

  it("holds no more than maxCachedFds files and answers the same for the others", async () => {
    const pids = [spawnSleeper(), spawnSleeper(), spawnSleeper()].map((c) => c.pid as number);
    const reference = await new LinuxProcProbe(nodeLinuxProcIO, { maxCachedFds: 0 }).probe(pids);
    const probe = new LinuxProcProbe(nodeLinuxProcIO, { maxCachedFds: 1 });
    const before = openFds();
    expect(await sweep(probe, pids)).toEqual(reference);
    expect(await sweep(probe, pids)).toEqual(reference);
    expect(openFds()).toBe(before + 1);
    expect(probe.cachedFds).toBe(1);
    probe.close();
  });

  it("Reaper.stop() closes the files its probe holds", async () => {
    const child = spawnSleeper();
    const probe = new LinuxProcProbe();
    const registry = new SessionRegistry();
    registry.register(registration(1, { pid: child.pid as number }), null);
    const reaper = new Reaper(registry, probe);
    await reaper.sweep();
    expect(probe.cachedFds).toBe(1);
    reaper.stop();
    expect(probe.cachedFds).toBe(0);
    expect(heldStatFiles(child.pid as number)).toBe(0);
  });
});
