// Where a reaper sweep's time goes (B1), step by step, on real live processes:
// the full sweep; the probe alone; the bare open/read/close of /proc/<pid>/stat with no parsing
// (the floor for any /proc reader in Node); the decisions alone; and the baseline's ps, split into
// the subprocess and the parsing. Medians of interleaved rounds.
//   node bench/profile/reaper.mjs [--sessions 10000] [--pids 2000] [--rounds 15]
import { execFile } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import { parseArgs } from "node:util";
import { LinuxProcProbe, Reaper, reapDecision, SessionRegistry } from "../../packages/registry/dist/index.js";
import { newToken } from "../lib/http.mjs";
import { interleave } from "../lib/interleave.mjs";
import { spawnSleepers } from "../lib/proc.mjs";
import { fmtMs, summarize } from "../lib/stats.mjs";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "10000" },
    pids: { type: "string", default: "2000" },
    rounds: { type: "string", default: "15" },
  },
});
const sessions = Number(values.sessions);
const rounds = Number(values.rounds);

function ps(pids) {
  return new Promise((resolve, reject) => {
    execFile(
      "ps",
      ["-o", "pid=,lstart=", "-p", pids.join(",")],
      { env: { ...process.env, LC_ALL: "C" }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => (error && stderr.trim() !== "" ? reject(error) : resolve(stdout)),
    );
  });
}

const sleepers = await spawnSleepers(Math.min(Number(values.pids), sessions));
try {
  const pids = sleepers.pids;
  const probe = new LinuxProcProbe();
  const registry = new SessionRegistry();
  for (let i = 0; i < sessions; i++) {
    const pid = pids[i % pids.length];
    registry.register(
      { token: newToken(), session_id: `s-${i}`, mesh: "default", display_name: "s", pid },
      probe.probeOne(pid).startTime,
    );
  }
  const reaper = new Reaper(registry, probe);
  const buffer = Buffer.allocUnsafe(4096);
  const probeResults = await probe.probe(pids);
  const heldFds = pids.map((pid) => openSync(`/proc/${pid}/stat`, "r"));
  const timed = async (fn) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const samples = await interleave(
    [
      { name: "full sweep (Reaper.sweep)", run: () => timed(() => reaper.sweep()) },
      { name: "probe only (LinuxProcProbe.probe)", run: () => timed(() => probe.probe(pids)) },
      {
        name: "open+read+close /proc/<pid>/stat, no parse, no slicing",
        run: () =>
          timed(() => {
            for (const pid of pids) {
              const fd = openSync(`/proc/${pid}/stat`, "r");
              readSync(fd, buffer, 0, buffer.length, 0);
              closeSync(fd);
            }
          }),
      },
      {
        // Not what the product does: what keeping one fd per pid open between sweeps would cost.
        name: "readSync on /proc/<pid>/stat fds held open (an idea, not the product)",
        run: () =>
          timed(() => {
            for (const fd of heldFds) readSync(fd, buffer, 0, buffer.length, 0);
          }),
      },
      {
        name: "decisions only (snapshot + reapDecision per session)",
        run: () =>
          timed(() => {
            for (const entry of registry.snapshot()) reapDecision(entry.startTime, probeResults.get(entry.pid));
          }),
      },
      { name: "baseline: ps subprocess (execFile until exit)", run: () => timed(() => ps(pids)) },
    ],
    { rounds, warmup: 2 },
  );
  process.stdout.write(`${sessions} sessions on ${pids.length} live pids, ${rounds} rounds (median, min–max):\n`);
  for (const [name, list] of Object.entries(samples)) {
    const s = summarize(list);
    const perPid = name.includes("decisions") ? "" : `, ${((s.median / pids.length) * 1000).toFixed(2)} µs per pid`;
    process.stdout.write(`  ${fmtMs(s.median).padStart(9)}  (${fmtMs(s.min)} – ${fmtMs(s.max)})  ${name}${perPid}\n`);
  }
  for (const fd of heldFds) closeSync(fd);
} finally {
  await sleepers.stop();
}
