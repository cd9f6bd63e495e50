// Prometheus metrics for /v1/metrics.
//
// The daemon counts in plain maps; prom-client (≈25 ms to load, a third of the daemon's start-up)
// is imported at the first scrape, which builds a registry of our own whose metrics read those
// counts. So a daemon auto-started by a CLI call is ready sooner, and one that is never scraped
// never loads it.
import type { Registry } from "prom-client";

export interface MetricSources {
  sessions: () => number;
  eventStreams: () => number;
  stateWriteFailures: () => number;
}

type LabelValues = Record<string, string>;

/** A counter with labels, as a map from the labels' JSON to the count. */
class LabeledCounts {
  readonly #counts = new Map<string, { labels: LabelValues; value: number }>();

  inc(labels: LabelValues): void {
    const key = JSON.stringify(labels);
    const entry = this.#counts.get(key);
    if (entry) entry.value++;
    else this.#counts.set(key, { labels, value: 1 });
  }

  entries(): Iterable<{ labels: LabelValues; value: number }> {
    return this.#counts.values();
  }
}

export const SWEEP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class DaemonMetrics {
  readonly registrations = new LabeledCounts();
  readonly removals = new LabeledCounts();
  readonly requests = new LabeledCounts();
  // Sweep durations observed before the first scrape; afterwards they go to the histogram.
  #pendingSweeps: number[] = [];
  #observeSweep: ((seconds: number) => void) | undefined;
  #registry: Promise<Registry> | undefined;

  constructor(readonly sources: MetricSources) {}

  countRegistration(result: "new" | "updated" | "replaced"): void {
    this.registrations.inc({ result });
  }

  countRemoval(reason: string): void {
    this.removals.inc({ reason });
  }

  countRequest(route: string, method: string, status: number): void {
    this.requests.inc({ route, method, status: String(status) });
  }

  observeSweep(seconds: number): void {
    if (this.#observeSweep) this.#observeSweep(seconds);
    else if (this.#pendingSweeps.length < 10_000) this.#pendingSweeps.push(seconds);
  }

  /** The Prometheus text and its content type; loads prom-client on the first call. */
  async render(): Promise<{ contentType: string; text: string }> {
    this.#registry ??= this.#build();
    const registry = await this.#registry;
    return { contentType: registry.contentType, text: await registry.metrics() };
  }

  async #build(): Promise<Registry> {
    // prom-client is CommonJS: bundled, its exports arrive as `default`; unbundled, as names.
    const loaded = await import("prom-client");
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = (loaded.default ?? loaded) as typeof loaded;
    const registry = new Registry();
    // Process metrics (RSS, CPU, open fds, event-loop lag) for operators, the soak test and the
    // benchmarks. Lag statistics are reset at every scrape.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1 });
    const { sources } = this;
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    gauge("claudemesh_sessions", "Sessions currently registered", sources.sessions);
    gauge("claudemesh_event_streams", "Open /v1/events streams", sources.eventStreams);
    gauge(
      "claudemesh_state_write_failures",
      "Consecutive failed writes of the state file (0 when the last write worked)",
      sources.stateWriteFailures,
    );
    const counter = (name: string, help: string, labelNames: string[], counts: LabeledCounts) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const { labels, value } of counts.entries()) this.inc(labels, value);
        },
      });
    counter(
      "claudemesh_registrations_total",
      "Registrations, by result (new, updated, replaced)",
      ["result"],
      this.registrations,
    );
    counter("claudemesh_removals_total", "Sessions removed, by reason", ["reason"], this.removals);
    counter(
      "claudemesh_http_requests_total",
      "HTTP requests, by route, method and status",
      ["route", "method", "status"],
      this.requests,
    );
    const sweeps = new Histogram({
      name: "claudemesh_reaper_sweep_duration_seconds",
      help: "Wall time of one reaper sweep",
      buckets: SWEEP_BUCKETS,
      registers: [registry],
    });
    for (const seconds of this.#pendingSweeps.splice(0)) sweeps.observe(seconds);
    this.#observeSweep = (seconds) => sweeps.observe(seconds);
    return registry;
  }
}
