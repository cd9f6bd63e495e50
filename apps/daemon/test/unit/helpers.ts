// Shared helpers for the unit tests: temp dirs that are always removed and polling with a
// deadline (both from @claudemesh/testkit), a Logger that records what it was told, and the
// mesh parts a route table needs.
import { join } from "node:path";
import { generateSigningKey, memberKeyOf } from "@claudemesh/mesh";
import type { SessionRegistry } from "@claudemesh/registry";
import { TempDirs as KitTempDirs } from "@claudemesh/testkit";
import type { EventHub } from "../../src/events/event-hub.js";
import type { EventLog } from "../../src/events/event-log.js";
import type { LogFields, Logger, LogLevel } from "../../src/logger.js";
import { Messaging } from "../../src/mesh/messaging.js";
import { PresenceKeeper } from "../../src/mesh/presence-keeper.js";
import type { DaemonMetrics } from "../../src/metrics.js";
import { MeshBindings } from "../../src/nats/mesh-bindings.js";

export { waitFor } from "@claudemesh/testkit";

/** Temp dirs made by one test file; call `removeAll()` in afterEach. */
export class TempDirs extends KitTempDirs {
  constructor() {
    super("cmu-");
  }
}

export interface LogRecord {
  level: LogLevel;
  msg: string;
  fields: LogFields | undefined;
}

export class RecordingLogger implements Logger {
  readonly records: LogRecord[] = [];
  closed = false;

  debug(msg: string, fields?: LogFields): void {
    this.records.push({ level: "debug", msg, fields });
  }
  info(msg: string, fields?: LogFields): void {
    this.records.push({ level: "info", msg, fields });
  }
  warn(msg: string, fields?: LogFields): void {
    this.records.push({ level: "warn", msg, fields });
  }
  error(msg: string, fields?: LogFields): void {
    this.records.push({ level: "error", msg, fields });
  }
  close(): void {
    this.closed = true;
  }

  at(level: LogLevel): LogRecord[] {
    return this.records.filter((r) => r.level === level);
  }
}

/** The mesh parts routes need (member key, presence keeper, messaging, bound meshes), real, with state under `dir`. */
export function meshParts(parts: {
  registry: SessionRegistry;
  log: EventLog;
  hub: EventHub;
  metrics: DaemonMetrics;
  dir: string;
}) {
  const logger = new RecordingLogger();
  const member = memberKeyOf(generateSigningKey(), Date.now());
  const presence = new PresenceKeeper({ registry: parts.registry, member, logger });
  const messaging = new Messaging({
    ...parts,
    member,
    presence,
    host: "testhost",
    memberName: "tester",
    logger,
    path: join(parts.dir, "messages.jsonl"),
  });
  messaging.load();
  messaging.start(60_000);
  // No NATS here: a binding is recorded, never served.
  const meshes = new MeshBindings({
    path: join(parts.dir, "meshes.json"),
    logger,
    runtime: { bind: async () => {}, unbind: async () => false, status: () => undefined },
    check: async () => ({ ok: false, reason: "unreachable", message: "no NATS in unit tests" }),
  });
  return { member, presence, messaging, meshes };
}
