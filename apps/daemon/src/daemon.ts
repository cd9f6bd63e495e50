// Wires the daemon together: dir, lock, restored state, registry, reaper, events, HTTP server,
// self-check, and an orderly shutdown that removes only what is still its own.
import { chmodSync, unlinkSync } from "node:fs";
import type { Server } from "node:http";
import { hostname, userInfo } from "node:os";
import { checkSocketPath, daemonPaths, ensureDaemonDir, requestJson } from "@claudemesh/client";
import { daemonIdOf, inboxPrefix, toRemoteSession } from "@claudemesh/mesh";
import {
  createProcessProbe,
  journalLineOf,
  type ProcessProbe,
  Reaper,
  type RegistryEntry,
  type RegistryEvent,
  type RemovalReason,
  reapDecision,
  SessionRegistry,
} from "@claudemesh/registry";
import { EventHub } from "./events/event-hub.js";
import { EventLog, remoteSessionEvent, sessionEvent } from "./events/event-log.js";
import { createRoutes } from "./http/routes.js";
import { createHttpServer } from "./http/server.js";
import { Journal, journalPrefixFor } from "./journal.js";
import { acquireLock, type HeldLock } from "./lock.js";
import type { Logger } from "./logger.js";
import { loadMemberKey } from "./mesh/member-key-file.js";
import { Messaging } from "./mesh/messaging.js";
import { PresenceKeeper } from "./mesh/presence-keeper.js";
import { DaemonMetrics } from "./metrics.js";
import { checkServer } from "./nats/check.js";
import { MeshBindings } from "./nats/mesh-bindings.js";
import { RemoteMeshes } from "./nats/remote-meshes.js";
import { SealingKeys } from "./nats/sealing-keys.js";
import { listenOnSocket, removeStaleSocket, socketIsOurs } from "./socket-file.js";
import { StateStore } from "./state-store.js";
import { DAEMON_VERSION } from "./version.js";

export interface DaemonOptions {
  dir: string;
  logger: Logger;
  reaperIntervalMs?: number;
  selfCheckIntervalMs?: number;
  shutdownDeadlineMs?: number;
  /** How often messages are expired and compacted, and attestations checked for renewal. */
  maintenanceIntervalMs?: number;
  probe?: ProcessProbe;
}

export interface RunningDaemon {
  readonly socketPath: string;
  readonly registry: SessionRegistry;
  /** Stops the daemon; resolves when everything is closed (or the deadline passed). */
  shutdown(reason: string, exitCode?: number): Promise<void>;
  /** Resolves with the exit code the process should end with, once the daemon has stopped. */
  readonly stopped: Promise<number>;
}

export const DEFAULTS = {
  reaperIntervalMs: 5_000,
  selfCheckIntervalMs: 60_000,
  shutdownDeadlineMs: 1_500,
  maintenanceIntervalMs: 60_000,
} as const;

/** The log line of a session's arrival or departure: ids, never a token or a key. */
function logSessionEvent(logger: Logger, event: RegistryEvent): void {
  const { session } = event;
  if (event.type === "session_registered") {
    logger.info("session registered", {
      session_id: session.session_id,
      mesh: session.mesh,
      display_name: session.display_name,
      pid: session.pid,
    });
  } else if (event.type === "session_deregistered") {
    logger.info("session removed", { session_id: session.session_id, mesh: session.mesh, reason: event.reason });
  }
}

/** Restores persisted entries whose process identity still matches; reports the others. */
async function restoreEntries(
  entries: RegistryEntry[],
  registry: SessionRegistry,
  probe: ProcessProbe,
): Promise<{ restored: number; dropped: { entry: RegistryEntry; reason: RemovalReason }[] }> {
  const results = await probe.probe([...new Set(entries.map((e) => e.session.pid))]);
  const dropped: { entry: RegistryEntry; reason: RemovalReason }[] = [];
  let restored = 0;
  for (const entry of entries) {
    const reason = reapDecision(entry.session.start_time, results.get(entry.session.pid));
    if (reason !== null) dropped.push({ entry, reason });
    else if (registry.restore(entry)) restored++;
  }
  return { restored, dropped };
}

export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const reaperIntervalMs = options.reaperIntervalMs ?? DEFAULTS.reaperIntervalMs;
  const paths = daemonPaths(options.dir);
  const startedAt = Date.now();
  checkSocketPath(paths.socket);
  ensureDaemonDir(paths.dir);

  const probe = options.probe ?? createProcessProbe();
  const own = (await probe.probe([process.pid])).get(process.pid);
  const lock: HeldLock = await acquireLock(paths.lock, {
    probe,
    owner: {
      pid: process.pid,
      start_time: own?.state === "alive" ? own.startTime : null,
      version: DAEMON_VERSION,
      started_at: startedAt,
    },
  });

  // From here on the lock is ours: release it on any failure before we are up.
  try {
    return await startHoldingLock(options, lock, probe, startedAt, reaperIntervalMs);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startHoldingLock(
  options: DaemonOptions,
  lock: HeldLock,
  probe: ProcessProbe,
  startedAt: number,
  reaperIntervalMs: number,
): Promise<RunningDaemon> {
  const { logger } = options;
  const paths = daemonPaths(options.dir);
  const member = loadMemberKey(paths.memberKey, logger);
  const registry = new SessionRegistry({
    onListenerError: (error) => logger.error("registry listener failed", { error: error as Error }),
  });
  const eventLog = new EventLog();
  const hub = new EventHub(eventLog);
  const journal = new Journal({ prefix: journalPrefixFor(paths.state), logger });
  const store = new StateStore({ path: paths.state, logger, journal, snapshot: () => registry.entries() });
  const presence = new PresenceKeeper({ registry, member, logger });
  let messaging: Messaging | undefined;
  const metrics = new DaemonMetrics({
    sessions: () => registry.size,
    eventStreams: () => hub.size,
    stateWriteFailures: () => store.failures,
    journalWriteFailures: () => journal.failures,
    messagesStored: () => messaging?.store.size ?? 0,
    attestationRenewals: () => presence.renewals,
    remote: () => remoteMeshes.totals(),
  });
  const host = hostname();
  const memberName = userInfo().username;
  const sealing = new SealingKeys();
  // Its meshes' runtime needs messaging, made right after it; it is read when a mesh is bound.
  const self = daemonIdOf(member.key.publicKey);
  const remoteMeshes = new RemoteMeshes({
    logger,
    link: { inboxPrefix: inboxPrefix(self) },
    runtime: () => {
      if (messaging === undefined) throw new Error("messaging is not up yet");
      const m = messaging;
      return {
        self,
        host,
        member,
        registry,
        store: m.store,
        service: m.service,
        persisted: () => m.persisted(),
        sealing,
        onPeer: (change, peer, cause) => {
          hub.publish(eventLog.append(remoteSessionEvent(change, toRemoteSession(peer))));
          if (change === "added") metrics.countRemotePeer("arrived");
          if (change !== "removed") return;
          metrics.countRemotePeer(cause ?? "deleted");
          logger.info("remote session removed", { session_id: peer.session_id, mesh: peer.mesh, cause });
          // Gone from here: messages to its id wait for it (and go out, re-sealed, when it is back).
          m.forget(peer);
        },
        onPresenceRefused: (reason) => metrics.countRemoteRefusal("presence", reason),
        onFrameRefused: (reason) => metrics.countRemoteRefusal("frame", reason),
      };
    },
  });
  messaging = new Messaging({
    remote: remoteMeshes,
    registry,
    member,
    presence,
    host,
    memberName,
    logger,
    log: eventLog,
    hub,
    metrics,
    path: paths.messages,
  });

  messaging.load();
  // Restore before anything can register, so a restored entry never clashes with a new one.
  const loaded = store.load();
  if (loaded.kind !== "missing") {
    const { restored, dropped } = await restoreEntries(loaded.entries, registry, probe);
    for (const { entry, reason } of dropped) {
      hub.publish(eventLog.append(sessionEvent({ type: "session_deregistered", reason, session: entry.session })));
      metrics.countRemoval(reason);
      messaging.forget(entry.session); // gone while the daemon was down: messages to it wait for it
    }
    logger.info("state restored", { restored, dropped: dropped.length });
    // A fresh state file folds in the journal, the dropped sessions, or replaces a corrupt file.
    if (dropped.length > 0 || loaded.replayed.generations > 0 || loaded.kind === "corrupt") store.markDirty();
  }

  // The meshes bound to NATS: served from start-up, after the local state is back.
  const bindings = new MeshBindings({
    path: paths.meshes,
    logger,
    runtime: remoteMeshes,
    check: (binding) => checkServer(binding, { inboxPrefix: inboxPrefix(self) }),
  });
  await bindings.load();

  registry.subscribe((event) => {
    // A new presence is for the mesh code (and later the transports), not for the stream.
    if (!(event.type === "session_updated" && event.reason === "presence"))
      hub.publish(eventLog.append(sessionEvent(event)));
    if (event.type === "session_deregistered") {
      metrics.countRemoval(event.reason);
      // Its streams end with it: a later session under the same id must not find them listening.
      hub.closeToken(event.tokenHash);
    }
    logSessionEvent(logger, event);
    const line = journalLineOf(event);
    if (line !== undefined) store.record(line);
  });
  const maintenanceMs = options.maintenanceIntervalMs ?? DEFAULTS.maintenanceIntervalMs;
  messaging.start(maintenanceMs);
  presence.start(maintenanceMs);

  const reaper = new Reaper(registry, probe, {
    onSweep: (report) => metrics.observeSweep(report.durationMs / 1000),
    onError: (error) => logger.error("reaper sweep failed", { error: error as Error }),
  });

  const server: Server = createHttpServer(
    createRoutes({
      registry,
      probe,
      hub,
      metrics,
      member,
      presence,
      messaging,
      meshes: bindings,
      remote: remoteMeshes,
      startedAt,
      host,
      memberName,
      persisted: () => store.recorded(),
    }),
    {
      onRequest: (route, method, status) => metrics.countRequest(route, method, status),
      onError: (error, route) => logger.error("request failed", { route, error: error as Error }),
    },
  );

  if (await removeStaleSocket(paths.socket)) logger.warn("removed a stale socket file", { path: paths.socket });
  const inode = await listenOnSocket(server, paths.socket);
  chmodSync(paths.socket, 0o600);
  reaper.start(reaperIntervalMs);

  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });
  let stopping: Promise<void> | undefined;
  let exitCode = 0;

  const selfCheck = setInterval(() => void checkSelf(), options.selfCheckIntervalMs ?? DEFAULTS.selfCheckIntervalMs);
  selfCheck.unref();

  /** Does the socket path still reach this daemon? If not, another daemon or a cleanup took it. */
  async function checkSelf(): Promise<void> {
    const state = socketIsOurs(paths.socket, inode);
    if (state !== "ours") {
      logger.error("socket path no longer reaches this daemon; exiting", { path: paths.socket, state });
      void shutdown(`socket ${state}`, 1);
      return;
    }
    try {
      const health = await requestJson<{ pid: number }>(paths.socket, {
        method: "GET",
        path: "/v1/health",
        timeoutMs: 5_000,
      });
      if (health.body.pid !== process.pid) {
        logger.error("another process answers on our socket path; exiting", {
          path: paths.socket,
          pid: health.body.pid,
        });
        void shutdown("socket taken over", 1);
      }
    } catch (error) {
      // A timeout means we are busy, not gone; the inode check above is the proof that matters.
      logger.warn("self-check request failed", { error: error as Error });
    }
  }

  function shutdown(reason: string, code = 0): Promise<void> {
    exitCode = Math.max(exitCode, code);
    stopping ??= (async () => {
      logger.info("daemon stopping", { reason });
      const deadline = options.shutdownDeadlineMs ?? DEFAULTS.shutdownDeadlineMs;
      clearInterval(selfCheck);
      reaper.stop();
      presence.stop();
      server.close();
      hub.closeAll();
      server.closeAllConnections();
      await Promise.race([
        Promise.all([store.flush(), messaging?.flush(), remoteMeshes.close()]),
        new Promise((r) => setTimeout(r, deadline).unref()),
      ]);
      // Writes what the journals have pending at once; tidying their files may not hold up the exit.
      await Promise.race([
        Promise.all([store.stop(), messaging?.stop()]),
        new Promise((r) => setTimeout(r, 200).unref()),
      ]);

      if (socketIsOurs(paths.socket, inode) === "ours") {
        try {
          unlinkSync(paths.socket);
        } catch {
          // already gone
        }
      }
      lock.release();
      logger.info("daemon stopped", { reason, sessions: registry.size });
      resolveStopped(exitCode);
    })();
    return stopping;
  }

  logger.info("daemon ready", {
    version: DAEMON_VERSION,
    socket: paths.socket,
    sessions: registry.size,
    member: member.fingerprint,
    startup_ms: Date.now() - startedAt,
  });
  // Restored sessions get their fresh keys after start-up, a slice at a time.
  presence.mintMissing().then(
    (minted) => minted > 0 && logger.info("presences minted for restored sessions", { sessions: minted }),
    (error: unknown) => logger.error("minting presences for restored sessions failed", { error: error as Error }),
  );

  return {
    socketPath: paths.socket,
    registry,
    shutdown,
    stopped,
  };
}
