import { afterAll, describe, expect, it } from "vitest";
import { createProcessProbe } from "../src/identity/index.js";
import { LinuxProcProbe } from "../src/identity/linux-proc-probe.js";
import { DEAD, type ProbeResult, type ProcessProbe } from "../src/identity/probe.js";
import { Reaper, reapDecision, type SweepReport } from "../src/reaper.js";
import { type RegistryEvent, SessionRegistry } from "../src/registry.js";
import { registration, token } from "./fixtures.js";
import { killAll, killAndWait, spawnSleeper, spawnZombie, waitFor } from "./processes.js";

afterAll(killAll);

/** A probe answering from a function, recording every batch it was asked. */
function scriptedProbe(answer: (pid: number) => ProbeResult, before?: () => void | Promise<void>) {
  const batches: number[][] = [];
  const probe: ProcessProbe = {
    async probe(pids) {
      batches.push([...pids]);
      await before?.();
      return new Map(pids.map((pid) => [pid, answer(pid)]));
    },
  };
  return { probe, batches };
}

const alive = (startTime: string | null = "st"): ProbeResult => ({ state: "alive", startTime });

function removals(registry: SessionRegistry): [string, string][] {
  const out: [string, string][] = [];
  registry.subscribe((e: RegistryEvent) => {
    if (e.type === "session_deregistered") out.push([e.session.session_id, e.reason]);
  });
  return out;
}

/** Registers a real process the way the daemon does: start time captured at registration. */
async function registerReal(registry: SessionRegistry, probe: ProcessProbe, n: number, pid: number) {
  const result = (await probe.probe([pid])).get(pid);
  const startTime = result?.state === "alive" ? result.startTime : null;
  registry.register(registration(n, { pid }), startTime);
}

describe("reapDecision", () => {
  it.each([
    ["st", undefined, null],
    ["st", { state: "unknown", reason: "x" }, null],
    ["st", DEAD, "exited"],
    [null, DEAD, "exited"],
    ["st", alive("st"), null],
    ["st", alive("other"), "pid_reused"],
    ["st", alive(null), null],
    [null, alive("other"), null],
  ] as const)("stored %j with %j → %j", (stored, result, expected) => {
    expect(reapDecision(stored, result)).toBe(expected);
  });
});

describe("Reaper on real processes", () => {
  const probe = createProcessProbe();

  it("removes a SIGKILLed child with reason exited and keeps the live one", async () => {
    const registry = new SessionRegistry();
    const gone = removals(registry);
    const victim = spawnSleeper();
    const survivor = spawnSleeper();
    await registerReal(registry, probe, 1, victim.pid as number);
    await registerReal(registry, probe, 2, survivor.pid as number);
    const reaper = new Reaper(registry, probe);
    expect((await reaper.sweep()).removed).toEqual({ exited: 0, pid_reused: 0 });
    await killAndWait(victim);
    const report = await reaper.sweep();
    expect(report).toMatchObject({ checked: 2, removed: { exited: 1, pid_reused: 0 }, unknown: 0 });
    expect(gone).toEqual([["s1", "exited"]]);
    expect(registry.resolve(token(2))?.pid).toBe(survivor.pid);
  });

  it("removes a zombie", async () => {
    const registry = new SessionRegistry();
    const gone = removals(registry);
    const { zombiePid } = await spawnZombie();
    registry.register(registration(1, { pid: zombiePid }), null);
    await waitFor(async () => (await new Reaper(registry, probe).sweep()).removed.exited === 1, "zombie removal");
    expect(gone).toEqual([["s1", "exited"]]);
  });

  it("removes an entry whose pid now has another start time as pid_reused", async () => {
    const registry = new SessionRegistry();
    const gone = removals(registry);
    const child = spawnSleeper();
    // The stored identity belongs to an earlier process that held the same pid.
    registry.register(registration(1, { pid: child.pid as number }), "0123456789ab:1");
    await new Reaper(registry, probe).sweep();
    expect(gone).toEqual([["s1", "pid_reused"]]);
  });

  it("sweeps on its own every interval until stopped", async () => {
    const registry = new SessionRegistry();
    const child = spawnSleeper();
    await registerReal(registry, probe, 1, child.pid as number);
    const reports: SweepReport[] = [];
    const reaper = new Reaper(registry, probe, { onSweep: (r) => reports.push(r) });
    reaper.start(20);
    reaper.start(20); // idempotent
    await killAndWait(child);
    await waitFor(() => registry.size === 0, "the reaper loop to remove the dead child");
    reaper.stop();
    const count = reports.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(reports.length).toBe(count);
  });
});

describe("Reaper decisions and races", () => {
  it("keeps every entry whose probe result is unknown", async () => {
    const registry = new SessionRegistry();
    for (let n = 1; n <= 3; n++) registry.register(registration(n), "st");
    const { probe } = scriptedProbe(() => ({ state: "unknown", reason: "probe failed" }));
    const report = await new Reaper(registry, probe).sweep();
    expect(report).toMatchObject({ checked: 3, unknown: 3, removed: { exited: 0, pid_reused: 0 } });
    expect(registry.size).toBe(3);
  });

  it("probes each pid once per sweep, in one batch", async () => {
    const registry = new SessionRegistry();
    registry.register(registration(1, { pid: 50 }), "st");
    registry.register(registration(2, { pid: 50 }), "st");
    registry.register(registration(3, { pid: 60 }), "st");
    const { probe, batches } = scriptedProbe(() => alive());
    await new Reaper(registry, probe).sweep();
    expect(batches).toEqual([[50, 60]]);
  });

  it("does not remove an entry re-registered while the probe ran (stale snapshot)", async () => {
    const registry = new SessionRegistry();
    const gone = removals(registry);
    registry.register(registration(1, { pid: 100 }), "st");
    registry.register(registration(2, { pid: 200 }), "st");
    // While the probe runs: token 1 re-registers with a new pid, token 3 takes over s2's id.
    const { probe } = scriptedProbe(
      (pid) => (pid === 100 || pid === 200 ? DEAD : alive()),
      () => {
        registry.register(registration(1, { pid: 101 }), "st");
        registry.register(registration(3, { session_id: "s2", pid: 300 }), "st");
      },
    );
    const report = await new Reaper(registry, probe).sweep();
    expect(report).toMatchObject({ removed: { exited: 0, pid_reused: 0 }, skippedChanged: 2 });
    expect(gone).toEqual([["s2", "replaced"]]);
    expect(registry.list().map((s) => [s.session_id, s.pid])).toEqual([
      ["s1", 101],
      ["s2", 300],
    ]);
  });

  it("never runs two sweeps at once: a second call joins the first", async () => {
    const registry = new SessionRegistry();
    registry.register(registration(1), "st");
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { probe, batches } = scriptedProbe(
      () => alive(),
      () => gate,
    );
    const reaper = new Reaper(registry, probe);
    const first = reaper.sweep();
    const second = reaper.sweep();
    expect(second).toBe(first);
    release();
    await first;
    expect(batches).toHaveLength(1);
    await reaper.sweep();
    expect(batches).toHaveLength(2);
  });

  it("reports a failing probe through onError and keeps sweeping", async () => {
    const registry = new SessionRegistry();
    registry.register(registration(1), "st");
    let calls = 0;
    const errors: unknown[] = [];
    const probe: ProcessProbe = {
      async probe() {
        calls++;
        throw new Error("probe exploded");
      },
    };
    const reaper = new Reaper(registry, probe, { onError: (e) => errors.push(e) });
    reaper.start(5);
    await waitFor(() => calls >= 2, "two sweeps");
    reaper.stop();
    expect(errors[0]).toEqual(new Error("probe exploded"));
    expect(registry.size).toBe(1);
  });

  it("cuts the decisions of a 10,000-session sweep into slices", async () => {
    const registry = new SessionRegistry();
    for (let n = 1; n <= 10_000; n++) registry.register(registration(n, { pid: n }), "st");
    let yields = 0;
    let t = 0;
    const reaper = new Reaper(registry, scriptedProbe((pid) => (pid % 2 ? DEAD : alive("st"))).probe, {
      // A fake clock where each reading is 0.1 ms later. The clock is read every 16 items, so a
      // 2 ms budget is spent every 20 readings = 320 items: 10,000 / 320 ≈ 31 slices (30 yields between them).
      slice: { budgetMs: 2, now: () => (t += 0.1), yieldToLoop: async () => void yields++ },
    });
    const report = await reaper.sweep();
    expect(report.removed.exited).toBe(5_000);
    expect(registry.size).toBe(5_000);
    expect(yields).toBeGreaterThanOrEqual(30);
  });

  it("the Linux probe slices its reads too", async () => {
    let yields = 0;
    let t = 0;
    const probe = new LinuxProcProbe(undefined, {
      budgetMs: 1,
      now: () => (t += 1),
      yieldToLoop: async () => void yields++,
    });
    const pids = Array.from({ length: 64 }, () => process.pid);
    await probe.probe(pids);
    expect(yields).toBe(4);
  });
});

describe("Reaper and the probe's held state", () => {
  it("marks its probe calls recurring and releases the probe on stop", async () => {
    const registry = new SessionRegistry();
    registry.register(registration(1, { pid: 50 }), "st");
    const calls: unknown[] = [];
    let closed = 0;
    const probe: ProcessProbe = {
      async probe(pids, options) {
        calls.push(options);
        return new Map(pids.map((pid) => [pid, alive()]));
      },
      close: () => void closed++,
    };
    const reaper = new Reaper(registry, probe);
    await reaper.sweep();
    expect(calls).toEqual([{ recurring: true }]);
    reaper.start(60_000);
    reaper.stop();
    expect(closed).toBe(1);
  });
});
