// Prometheus metrics for /v1/metrics.
//
// The daemon counts in plain maps; the prom-client registry that exposes them (with the process
// and event-loop metrics, whose monitor costs a timer) is built at the first scrape.
// prom-client itself is imported statically. Imported lazily from node_modules (the unbundled
// daemon of the tests and benchmarks), it failed once the server was listening: Node 20's
// realpathSync trusts the type of the *last* stat the process made, and after the daemon stats
// its socket it stops resolving symlinks (nodejs/node#51142), so the import resolved through
// pnpm's symlink and prom-client's own `require("tdigest")` was not found. In the CLI's bundle the
// lazy import works, and measured 7 ms off an auto-start (B4 "absent": 155 vs 162 ms), too little
// to carry the workaround.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface MetricSources {
  sessions: () => number;
  eventStreams: () => number;
  stateWriteFailures: () => number;
  journalWriteFailures: () => number;
  /** Messages kept in the message store (their text once each). */
  messagesStored?: () => number;
  /** Attestations renewed since start. */
  attestationRenewals?: () => number;
  /** The meshes bound to NATS, summed. */
  remote?: () => RemoteTotals;
}

/** The meshes bound to NATS, summed over all of them. */
export interface RemoteTotals {
  remotePeers: number;
  outbox: number;
  published: number;
  received: number;
  presences: number;
  linksConnected: number;
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
  readonly messages = new LabeledCounts();
  readonly messageStates = new LabeledCounts();
  readonly messageRejections = new LabeledCounts();
  readonly remoteRefusals = new LabeledCounts();
  readonly remotePeerChanges = new LabeledCounts();
  // Sweep durations observed before the first scrape; afterwards they go to the histogram.
  #pendingSweeps: number[] = [];
  #observeSweep: ((seconds: number) => void) | undefined;
  #registry: Registry | undefined;

  constructor(readonly sources: MetricSources) {}

  countRegistration(result: "new" | "updated" | "replaced"): void {
    this.registrations.inc({ result });
  }

  countRemoval(reason: string): void {
    this.removals.inc({ reason });
  }

  countMessage(): void {
    this.messages.inc({});
  }

  countMessageState(state: string): void {
    this.messageStates.inc({ state });
  }

  /** A message refused before it was stored: bad_signature, duplicate_id, rate_limited. */
  countMessageRejection(reason: string): void {
    this.messageRejections.inc({ reason });
  }

  /** A remote presence or frame refused (forged, tampered, untrusted, stale key…). */
  countRemoteRefusal(kind: "presence" | "frame", reason: string): void {
    this.remoteRefusals.inc({ kind, reason });
  }

  /** A remote session arrived, or left and why (deleted, expired, dead_daemon, unbound). */
  countRemotePeer(change: string): void {
    this.remotePeerChanges.inc({ change });
  }

  countRequest(route: string, method: string, status: number): void {
    this.requests.inc({ route, method, status: String(status) });
  }

  observeSweep(seconds: number): void {
    if (this.#observeSweep) this.#observeSweep(seconds);
    else if (this.#pendingSweeps.length < 10_000) this.#pendingSweeps.push(seconds);
  }

  /** The Prometheus text and its content type; builds the registry on the first call. */
  async render(): Promise<{ contentType: string; text: string }> {
    this.#registry ??= this.#build();
    return { contentType: this.#registry.contentType, text: await this.#registry.metrics() };
  }

  #build(): Registry {
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
    gauge(
      "claudemesh_journal_write_failures",
      "Consecutive failed appends to the journal (0 when the last append worked)",
      sources.journalWriteFailures,
    );
    gauge("claudemesh_messages_stored", "Messages kept in the message store", sources.messagesStored ?? (() => 0));
    new Counter({
      name: "claudemesh_attestation_renewals_total",
      help: "Session attestations renewed since the daemon started",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(sources.attestationRenewals?.() ?? 0);
      },
    });
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
    counter("claudemesh_messages_accepted_total", "Messages accepted (journaled) by this daemon", [], this.messages);
    counter(
      "claudemesh_message_states_total",
      "Per-recipient delivery state changes, by the state reached",
      ["state"],
      this.messageStates,
    );
    counter(
      "claudemesh_messages_rejected_total",
      "Messages refused before they were stored, by reason (bad_signature, duplicate_id, rate_limited)",
      ["reason"],
      this.messageRejections,
    );
    counter(
      "claudemesh_remote_refused_total",
      "Remote presences and message frames refused, by kind and reason",
      ["kind", "reason"],
      this.remoteRefusals,
    );
    counter(
      "claudemesh_remote_peer_changes_total",
      "Remote sessions arrived, and removed by cause (deleted, expired, dead_daemon, unbound)",
      ["change"],
      this.remotePeerChanges,
    );
    const remote = () =>
      sources.remote?.() ?? { remotePeers: 0, outbox: 0, published: 0, received: 0, presences: 0, linksConnected: 0 };
    gauge(
      "claudemesh_remote_peers",
      "Remote sessions believed live, over every bound mesh",
      () => remote().remotePeers,
    );
    gauge(
      "claudemesh_outbox_depth",
      "Frames to remote sessions not yet stored by the NATS server",
      () => remote().outbox,
    );
    gauge(
      "claudemesh_nats_links_connected",
      "Bound meshes whose NATS link is connected",
      () => remote().linksConnected,
    );
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    total(
      "claudemesh_remote_frames_published_total",
      "Message frames the NATS server stored",
      () => remote().published,
    );
    total(
      "claudemesh_remote_frames_received_total",
      "Message frames taken from the NATS server",
      () => remote().received,
    );
    total("claudemesh_presences_published_total", "Presence documents put in the bucket", () => remote().presences);
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
