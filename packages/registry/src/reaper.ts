// The reaper: removes sessions whose process is gone, never one whose process is alive.
import type { ProbeResult, ProcessProbe } from "./identity/probe.js";
import type { EntrySnapshot, RemovalReason, SessionRegistry } from "./registry.js";
import { forEachSliced, type SliceOptions } from "./slicing.js";

/**
 * What to do with an entry given what the probe said. Pure.
 * - dead → `exited`; a start time different from the stored one → `pid_reused`;
 * - unknown, or alive with no start time on either side → keep. No TTL: a live process stays.
 */
export function reapDecision(storedStartTime: string | null, result: ProbeResult | undefined): RemovalReason | null {
  if (result === undefined || result.state === "unknown") return null;
  if (result.state === "dead") return "exited";
  if (storedStartTime !== null && result.startTime !== null && result.startTime !== storedStartTime) {
    return "pid_reused";
  }
  return null;
}

export interface SweepReport {
  readonly checked: number;
  readonly removed: Readonly<Record<"exited" | "pid_reused", number>>;
  readonly unknown: number;
  /** Entries that changed between snapshot and decision, and were therefore left alone. */
  readonly skippedChanged: number;
  readonly durationMs: number;
}

export interface ReaperOptions {
  slice?: SliceOptions;
  now?: () => number;
  /** Called after every sweep (for metrics and logs). */
  onSweep?: (report: SweepReport) => void;
  onError?: (error: unknown) => void;
}

export class Reaper {
  readonly #registry: SessionRegistry;
  readonly #probe: ProcessProbe;
  readonly #options: ReaperOptions;
  #inFlight: Promise<SweepReport> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(registry: SessionRegistry, probe: ProcessProbe, options: ReaperOptions = {}) {
    this.#registry = registry;
    this.#probe = probe;
    this.#options = options;
  }

  /** Sweeps once. A sweep asked for while one runs joins it: sweeps never overlap. */
  sweep(): Promise<SweepReport> {
    if (this.#inFlight === undefined) {
      this.#inFlight = this.#sweep().finally(() => {
        this.#inFlight = undefined;
      });
    }
    return this.#inFlight;
  }

  /** Sweeps every `intervalMs`, each sweep scheduled after the previous one ends. */
  start(intervalMs: number): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(intervalMs);
  }

  /** Stops the loop and releases what the probe holds (its open /proc files). */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#probe.close?.();
  }

  #schedule(intervalMs: number): void {
    this.#timer = setTimeout(() => {
      this.sweep()
        .catch((error: unknown) => this.#options.onError?.(error))
        .finally(() => {
          if (this.#running) this.#schedule(intervalMs);
        });
    }, intervalMs);
    this.#timer.unref();
  }

  async #sweep(): Promise<SweepReport> {
    const now = this.#options.now ?? (() => performance.now());
    const started = now();
    const snapshot = this.#registry.snapshot();
    const pids = [...new Set(snapshot.map((s) => s.pid))];
    const results = await this.#probe.probe(pids, { recurring: true });
    const removed = { exited: 0, pid_reused: 0 };
    let unknown = 0;
    let skippedChanged = 0;
    await forEachSliced(
      snapshot,
      (entry: EntrySnapshot) => {
        const result = results.get(entry.pid);
        if (result?.state === "unknown" || result === undefined) unknown++;
        const reason = reapDecision(entry.startTime, result);
        if (reason === null) return;
        // The entry may have been re-registered or replaced while we probed: re-check first.
        if (this.#registry.removeIfUnchanged(entry, reason)) removed[reason as "exited" | "pid_reused"]++;
        else skippedChanged++;
      },
      this.#options.slice,
    );
    const report: SweepReport = {
      checked: snapshot.length,
      removed,
      unknown,
      skippedChanged,
      durationMs: now() - started,
    };
    this.#options.onSweep?.(report);
    return report;
  }
}
