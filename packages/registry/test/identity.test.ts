import { afterAll, describe, expect, it } from "vitest";
import {
  createProcessProbe,
  createPsRunner,
  isExitedState,
  type LinuxProcIO,
  LinuxProcProbe,
  nodeLinuxProcIO,
  PsProbe,
  parseProcStat,
  parsePsOutput,
  runPs,
} from "../src/identity/index.js";
import { errno, statLine } from "./fixtures.js";
import { killAll, killAndWait, spawnSleeper, spawnZombie, waitFor } from "./processes.js";

afterAll(killAll);

describe("parseProcStat", () => {
  it("reads state and start time after the last parenthesis", () => {
    expect(parseProcStat(statLine("sleep", "S", "4242"))).toEqual({ state: "S", startTicks: "4242" });
    expect(parseProcStat(statLine("evil) R 1 (x", "Z", "77"))).toEqual({ state: "Z", startTicks: "77" });
    expect(parseProcStat(statLine("with space", "R", "1"))).toEqual({ state: "R", startTicks: "1" });
  });

  it("parses this process's real stat line", () => {
    const stat = parseProcStat(nodeLinuxProcIO.readStat(process.pid));
    expect(stat?.state).toMatch(/^[RS]$/);
    expect(stat?.startTicks).toMatch(/^\d+$/);
  });

  it.each([
    ["no parenthesis at all"],
    ["1 (x) S 1 2"],
    ["1 (x) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19"],
    [""],
  ])("returns undefined for %j", (text) => expect(parseProcStat(text)).toBeUndefined());

  it("treats zombie and dead states as exited", () => {
    expect(["Z", "X", "x"].map(isExitedState)).toEqual([true, true, true]);
    expect(["R", "S", "D", "T", "I"].map(isExitedState)).toEqual([false, false, false, false, false]);
  });
});

describe("parsePsOutput", () => {
  it("maps pids to state and folded lstart, skipping junk lines", () => {
    const out = "  12 Ss   Thu Nov 26 12:01:54 2026\n345 Z+ Mon  Jan  5 01:02:03 2026   \ngarbage\n\n";
    expect(parsePsOutput(out)).toEqual(
      new Map([
        [12, { stat: "Ss", lstart: "Thu Nov 26 12:01:54 2026" }],
        [345, { stat: "Z+", lstart: "Mon Jan 5 01:02:03 2026" }],
      ]),
    );
  });
});

const describeLinux = process.platform === "linux" ? describe : describe.skip;

describeLinux("LinuxProcProbe on real processes", () => {
  const probe = new LinuxProcProbe();

  it("sees a live child with a stable start time", async () => {
    const child = spawnSleeper();
    const pid = child.pid as number;
    const first = await probe.probe([pid]);
    const second = await probe.probe([pid]);
    expect(first.get(pid)).toMatchObject({ state: "alive" });
    const startTime = (first.get(pid) as { startTime: string }).startTime;
    expect(startTime).toMatch(/^[0-9a-f]{12}:\d+$/);
    expect(second.get(pid)).toEqual(first.get(pid));
  });

  it("gives two processes different start times when they start at different ticks", async () => {
    const a = spawnSleeper();
    await new Promise((r) => setTimeout(r, 30)); // > 1 clock tick (10 ms)
    const b = spawnSleeper();
    const results = await probe.probe([a.pid as number, b.pid as number]);
    expect(results.get(a.pid as number)).not.toEqual(results.get(b.pid as number));
  });

  it("reports a SIGKILLed child as dead", async () => {
    const child = spawnSleeper();
    await killAndWait(child);
    expect((await probe.probe([child.pid as number])).get(child.pid as number)).toEqual({ state: "dead" });
  });

  it("reports a zombie as dead", async () => {
    const { zombiePid } = await spawnZombie();
    await waitFor(() => parseProcStat(nodeLinuxProcIO.readStat(zombiePid))?.state === "Z", "the zombie");
    expect((await probe.probe([zombiePid])).get(zombiePid)).toEqual({ state: "dead" });
  });

  it("treats pid 1 (another user's or init) as alive", async () => {
    expect((await probe.probe([1])).get(1)).toMatchObject({ state: "alive" });
  });
});

describe("LinuxProcProbe error paths", () => {
  function io(overrides: Partial<LinuxProcIO>): LinuxProcIO {
    return {
      readStat: () => statLine("x", "S", "5"),
      readBootId: () => "0123abcd-4567-89ab-cdef-0123456789ab",
      signalZero: () => {},
      ...overrides,
    };
  }

  it("prefixes start times with the boot id so a reboot never matches", async () => {
    const results = await new LinuxProcProbe(io({})).probe([9]);
    expect(results.get(9)).toEqual({ state: "alive", startTime: "0123abcd4567:5" });
  });

  it("falls back to bare ticks when the boot id cannot be read", async () => {
    const probe = new LinuxProcProbe(
      io({
        readBootId: () => {
          throw errno("ENOENT");
        },
      }),
    );
    expect((await probe.probe([9])).get(9)).toEqual({ state: "alive", startTime: "5" });
  });

  it.each([
    ["ESRCH", { state: "dead" }],
    ["EPERM", { state: "alive", startTime: null }],
    ["EINVAL", { state: "unknown", reason: "stat ENOENT, kill EINVAL" }],
  ])("when stat is missing, kill(pid, 0) failing with %s means %j", async (code, expected) => {
    const probe = new LinuxProcProbe(
      io({
        readStat: () => {
          throw errno("ENOENT");
        },
        signalZero: () => {
          throw errno(code);
        },
      }),
    );
    expect((await probe.probe([9])).get(9)).toEqual(expected);
  });

  it("a stat file hidden from us but a process that answers kill(pid, 0) is alive", async () => {
    const probe = new LinuxProcProbe(
      io({
        readStat: () => {
          throw errno("EACCES");
        },
      }),
    );
    expect((await probe.probe([9])).get(9)).toEqual({ state: "alive", startTime: null });
  });

  it("an unparseable stat line is unknown, never dead", async () => {
    const probe = new LinuxProcProbe(io({ readStat: () => "garbage" }));
    expect((await probe.probe([9])).get(9)).toEqual({ state: "unknown", reason: "unparseable /proc/9/stat" });
  });

  it("reports a non-errno failure as unknown", async () => {
    const probe = new LinuxProcProbe(
      io({
        readStat: () => {
          throw "odd";
        },
        signalZero: () => {
          throw "odd";
        },
      }),
    );
    expect((await probe.probe([9])).get(9)).toEqual({ state: "unknown", reason: "stat error, kill error" });
  });
});

describe("PsProbe", () => {
  it("sees live, dead and zombie processes through one real ps call", async () => {
    const live = spawnSleeper();
    const dead = spawnSleeper();
    await killAndWait(dead);
    const { zombiePid } = await spawnZombie();
    await waitFor(() => parseProcStat(nodeLinuxProcIO.readStat(zombiePid))?.state === "Z", "the zombie");
    const calls: string[][] = [];
    const probe = new PsProbe((args, t) => {
      calls.push([...args]);
      return runPs(args, t);
    });
    const pids = [live.pid as number, dead.pid as number, zombiePid];
    const results = await probe.probe(pids);
    expect(calls).toHaveLength(1);
    expect(results.get(live.pid as number)).toMatchObject({ state: "alive", startTime: expect.stringMatching(/^ps:/) });
    expect(results.get(dead.pid as number)).toEqual({ state: "dead" });
    expect(results.get(zombiePid)).toEqual({ state: "dead" });
  });

  it("runs nothing for no pids", async () => {
    const probe = new PsProbe(() => Promise.reject(new Error("must not run")));
    expect(await probe.probe([])).toEqual(new Map());
  });

  it("answers unknown for every pid when ps fails, so nothing is removed", async () => {
    const probe = new PsProbe(() => Promise.reject(new Error("spawn ps ENOENT")));
    const results = await probe.probe([1, 2]);
    expect([...results.values()]).toEqual([
      { state: "unknown", reason: "ps failed: spawn ps ENOENT" },
      { state: "unknown", reason: "ps failed: spawn ps ENOENT" },
    ]);
  });

  it("rejects a usage error instead of reading empty output as every pid dead", async () => {
    await expect(runPs(["--no-such-flag"], 5_000)).rejects.toThrow();
  });

  it("rejects when the command is missing or outlives its timeout", async () => {
    await expect(createPsRunner("/nonexistent/ps")(["-p", "1"], 5_000)).rejects.toThrow(/ENOENT/);
    await expect(createPsRunner("sleep")(["5"], 50)).rejects.toMatchObject({ killed: true });
  });
});

describe("createProcessProbe", () => {
  it("uses /proc on Linux and ps elsewhere", () => {
    expect(createProcessProbe("linux")).toBeInstanceOf(LinuxProcProbe);
    expect(createProcessProbe("darwin")).toBeInstanceOf(PsProbe);
  });
});
