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

export interface ProcessProbe {
  /** Probes every pid in one batch. Every pid asked for has an answer in the map. */
  probe(pids: readonly number[]): Promise<Map<number, ProbeResult>>;
}

export const DEAD: ProbeResult = Object.freeze({ state: "dead" });
