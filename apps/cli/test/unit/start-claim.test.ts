// The start claim decides which of many racing CLIs spawns the daemon: exactly one takes it, a
// live holder is waited for, and a holder that is gone, replaced or stuck is taken over.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProbeResult, ProcessProbe } from "@claudemesh/registry";
import { afterAll, describe, expect, it } from "vitest";
import { CLAIM_MAX_AGE_MS, claimStart } from "../../src/start-claim.js";

const temp = mkdtempSync(join(tmpdir(), "cm-claim-"));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
let n = 0;
const claimPath = () => join(temp, `daemon.starting.${n++}`);

/** A probe answering from a table; this process is alive with start time "self". */
function probeFrom(table: Record<number, ProbeResult>): ProcessProbe {
  return {
    async probe(pids) {
      const own: ProbeResult = { state: "alive", startTime: "self" };
      return new Map(pids.map((pid) => [pid, pid === process.pid ? own : (table[pid] ?? { state: "dead" })]));
    },
  };
}

const holder = (pid: number, startedAt: number, startTime = "t0") =>
  `${JSON.stringify({ pid, start_time: startTime, version: "0.1.0", started_at: startedAt })}\n`;

describe("claimStart", () => {
  it("takes a free claim, records this process, and releases it", async () => {
    const path = claimPath();
    const claim = await claimStart(path, probeFrom({}));
    expect(claim).toBeDefined();
    expect(JSON.parse(readFileSync(path, "utf8"))).toMatchObject({ pid: process.pid, start_time: "self" });
    claim?.release();
    expect(existsSync(path)).toBe(false);
  });

  it("gives way while a live holder has it, without touching its file", async () => {
    const path = claimPath();
    const content = holder(4242, Date.now());
    writeFileSync(path, content);
    expect(await claimStart(path, probeFrom({ 4242: { state: "alive", startTime: "t0" } }))).toBeUndefined();
    expect(readFileSync(path, "utf8")).toBe(content);
  });

  it("of two claims in a row only the first succeeds", async () => {
    const path = claimPath();
    const probe = probeFrom({});
    const first = await claimStart(path, probe);
    // The second asker is this same process here, so its probe says "alive": it must give way.
    expect(first).toBeDefined();
    expect(await claimStart(path, probe)).toBeUndefined();
    first?.release();
    expect(await claimStart(path, probe)).toBeDefined();
  });

  it.each([
    ["gone", { state: "dead" } as ProbeResult],
    ["replaced by pid reuse", { state: "alive", startTime: "t1" } as ProbeResult],
  ])("takes over a claim whose holder is %s", async (_why, result) => {
    const path = claimPath();
    writeFileSync(path, holder(4242, Date.now()));
    const claim = await claimStart(path, probeFrom({ 4242: result }));
    expect(claim).toBeDefined();
    expect(JSON.parse(readFileSync(path, "utf8")).pid).toBe(process.pid);
  });

  it("takes over a claim held longer than any start can take (a stopped CLI)", async () => {
    const path = claimPath();
    const now = Date.now();
    writeFileSync(path, holder(4242, now - CLAIM_MAX_AGE_MS - 1));
    const claim = await claimStart(path, probeFrom({ 4242: { state: "alive", startTime: "t0" } }), () => now);
    expect(claim).toBeDefined();
  });

  it("never takes a claim whose holder cannot be judged", async () => {
    const path = claimPath();
    const content = holder(4242, Date.now());
    writeFileSync(path, content);
    const unknown: ProbeResult = { state: "unknown", reason: "probe failed" };
    expect(await claimStart(path, probeFrom({ 4242: unknown }))).toBeUndefined();
    expect(readFileSync(path, "utf8")).toBe(content);
  });

  it("starts without a claim, never failing, when the claim cannot be written", async () => {
    const path = join(temp, "no-such-dir", "daemon.starting"); // stands for a read-only or full dir
    const claim = await claimStart(path, probeFrom({}));
    expect(claim).toBeDefined();
    claim?.release();
    expect(existsSync(path)).toBe(false);
  });

  it("release leaves a claim that another CLI took over in place", async () => {
    const path = claimPath();
    const claim = await claimStart(path, probeFrom({}));
    const other = holder(4243, Date.now());
    writeFileSync(path, other);
    claim?.release();
    expect(readFileSync(path, "utf8")).toBe(other);
  });
});
