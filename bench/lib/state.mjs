// A daemon state file for benchmarks: `count` sessions spread over live pids, with the start
// times the daemon's probe reports for them (so that every one restores), encoded by the
// registry's own codec.
import { encodeState, hashToken, LinuxProcProbe, tokenPrefix } from "../../packages/registry/dist/index.js";
import { newToken } from "./http.mjs";

export function stateFileText(count, pids) {
  const probe = new LinuxProcProbe();
  const startTimes = new Map(pids.map((pid) => [pid, probe.probeOne(pid).startTime]));
  const now = Date.now();
  const entries = Array.from({ length: count }, (_, i) => {
    const pid = pids[i % pids.length];
    const token = newToken();
    return {
      tokenHash: hashToken(token),
      session: {
        session_id: `restored-${i}`,
        mesh: "default",
        display_name: `restored-${i}`,
        pid,
        cwd: `/home/bench/projects/app-${i}`,
        start_time: startTimes.get(pid),
        registered_at: now - count + i,
        token_prefix: tokenPrefix(token),
      },
    };
  });
  return encodeState(entries, now);
}
