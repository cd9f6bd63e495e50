// Process identity: is a pid alive, and which process is it (its start time)?

/**
 * - `alive`: the pid runs; `startTime` identifies the process holding it (null when the
 *   platform would not say, e.g. permission denied).
 * - `dead`: no process holds the pid, or only a zombie does.
 * - `unknown`: the probe failed. Unknown never removes a session.
 */
export type ProbeResult =
  | { readonly state: "alive"; readonly startTime: string | null }
  | { readonly state: "dead" }
  | { readonly state: "unknown"; readonly reason: string };

export interface ProbeOptions {
  /**
   * The caller asks for (nearly) the same pids again and again, as the reaper's sweeps do: the
   * probe may keep per-pid state between such calls (LinuxProcProbe holds each pid's /proc file
   * open) and drops it for pids that later such calls stop asking for. One-off calls (a
   * registration, a lock check) leave it unset, so that they neither add state nor count as a
   * call that did not ask for the sweep's pids.
   */
  recurring?: boolean;
}

export interface ProcessProbe {
  /** Probes every pid in one batch. Every pid asked for has an answer in the map. */
  probe(pids: readonly number[], options?: ProbeOptions): Promise<Map<number, ProbeResult>>;
  /** Releases what the probe holds between calls (open files); it may hold some again if used later. */
  close?(): void;
}

export const DEAD: ProbeResult = Object.freeze({ state: "dead" });
