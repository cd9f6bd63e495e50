// Prometheus metrics for /v1/metrics, on a registry of our own (no process-global state).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface DaemonMetrics {
  readonly registry: Registry;
  readonly sessions: Gauge;
  readonly registrations: Counter<"result">;
  readonly removals: Counter<"reason">;
  readonly sweepDuration: Histogram;
  readonly requests: Counter<"route" | "method" | "status">;
  readonly eventStreams: Gauge;
  readonly stateWriteFailures: Gauge;
}

export interface MetricSources {
  sessions: () => number;
  eventStreams: () => number;
  stateWriteFailures: () => number;
}

export function createMetrics(read: MetricSources): DaemonMetrics {
  const registry = new Registry();
  // Process metrics (RSS, CPU, open fds, event-loop lag): what an operator and our soak and
  // benchmark runs watch. Lag statistics are reset at every scrape.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1 });
  const sessions = new Gauge({
    name: "claudemesh_sessions",
    help: "Sessions currently registered",
    registers: [registry],
    collect() {
      this.set(read.sessions());
    },
  });
  const eventStreams = new Gauge({
    name: "claudemesh_event_streams",
    help: "Open /v1/events streams",
    registers: [registry],
    collect() {
      this.set(read.eventStreams());
    },
  });
  return {
    registry,
    sessions,
    eventStreams,
    registrations: new Counter({
      name: "claudemesh_registrations_total",
      help: "Registrations, by result (new, updated, replaced)",
      labelNames: ["result"],
      registers: [registry],
    }),
    removals: new Counter({
      name: "claudemesh_removals_total",
      help: "Sessions removed, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    sweepDuration: new Histogram({
      name: "claudemesh_reaper_sweep_duration_seconds",
      help: "Wall time of one reaper sweep",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    requests: new Counter({
      name: "claudemesh_http_requests_total",
      help: "HTTP requests, by route, method and status",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    stateWriteFailures: new Gauge({
      name: "claudemesh_state_write_failures",
      help: "Consecutive failed writes of the state file (0 when the last write worked)",
      registers: [registry],
      collect() {
        this.set(read.stateWriteFailures());
      },
    }),
  };
}
