// Every route of the daemon: the system ones here, sessions and peers in session-routes.ts,
// messages and inboxes in message-routes.ts, meshes bound to NATS in mesh-routes.ts.
import { hostname } from "node:os";
import type { MemberKey } from "@claudemesh/mesh";
import { hashToken, type ProcessProbe, type SessionRegistry } from "@claudemesh/registry";
import type { EventHub } from "../events/event-hub.js";
import type { Messaging } from "../mesh/messaging.js";
import type { PresenceKeeper } from "../mesh/presence-keeper.js";
import type { DaemonMetrics } from "../metrics.js";
import type { MeshBindings } from "../nats/mesh-bindings.js";
import { DAEMON_VERSION, IPC_API, IPC_FEATURES, SCHEMA_VERSION } from "../version.js";
import { optionalSessionOf, tokenOf } from "./auth.js";
import { meshRoutes } from "./mesh-routes.js";
import { messageRoutes } from "./message-routes.js";
import type { Reply, Routes } from "./server.js";
import { type SessionRouteDeps, sessionRoutes } from "./session-routes.js";

export interface RouteDeps {
  registry: SessionRegistry;
  probe: ProcessProbe;
  hub: EventHub;
  metrics: DaemonMetrics;
  member: MemberKey;
  presence: PresenceKeeper;
  messaging: Messaging;
  /** The meshes bound to NATS servers (`claudemesh mesh …`). */
  meshes: MeshBindings;
  /** Their remote sessions, for `peers`. */
  remote?: SessionRouteDeps["remote"];
  startedAt: number;
  /** Resolves once the registry's changes so far are on disk (the journal); awaited before a change is acknowledged. */
  persisted: () => Promise<void>;
  now?: () => number;
  host?: string;
  /** The name a plain shell sends as. */
  memberName?: string;
}

/**
 * Who supervises this daemon: the unit or plist written by `claudemesh daemon install` sets
 * CLAUDEMESH_MANAGED_BY; any other value is ignored. (An auto-started daemon never inherits it:
 * the CLI scrubs every CLAUDEMESH_ variable from its environment.)
 */
export function managedBy(env: NodeJS.ProcessEnv): "systemd" | "launchd" | null {
  const value = env.CLAUDEMESH_MANAGED_BY;
  return value === "systemd" || value === "launchd" ? value : null;
}

function parseLastEventId(value: string | string[] | undefined): number | undefined {
  if (typeof value !== "string" || !/^\d{1,16}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

export function createRoutes(deps: RouteDeps): Routes {
  const { registry, hub, metrics, member } = deps;
  const now = deps.now ?? Date.now;
  const host = deps.host ?? hostname();
  const managed = managedBy(process.env);

  return {
    "/v1/version": {
      GET: () => ({
        body: {
          daemon_version: DAEMON_VERSION,
          ipc_api: IPC_API,
          ipc_features: IPC_FEATURES,
          schema_version: SCHEMA_VERSION,
        },
      }),
    },

    "/v1/health": {
      GET: () => ({
        body: {
          ok: true,
          pid: process.pid,
          uptime_ms: now() - deps.startedAt,
          sessions: registry.size,
          managed_by: managed,
          member_fingerprint: member.fingerprint,
          host,
        },
      }),
    },

    "/v1/member": {
      GET: () => ({ body: { member: { fingerprint: member.fingerprint, host, name: deps.memberName ?? "member" } } }),
    },

    ...sessionRoutes(deps),
    ...messageRoutes(deps),
    ...meshRoutes(deps),

    "/v1/events": {
      GET: (ctx): Reply => {
        // With a token, the stream is that session's: it also gets its messages and their states.
        const self = optionalSessionOf(ctx, registry);
        if (ctx.req.method === "HEAD") {
          // The headers a stream would start with, and no stream: nothing to keep open.
          ctx.res.writeHead(200, { ...ctx.baseHeaders, "content-type": "text/event-stream; charset=utf-8" });
          ctx.res.end();
          return "streamed";
        }
        hub.open(
          ctx.res,
          parseLastEventId(ctx.req.headers["last-event-id"]),
          ctx.baseHeaders,
          self === undefined
            ? { kind: "member" }
            : { kind: "session", sessionId: self.session_id, tokenHash: hashToken(tokenOf(ctx)) },
        );
        return "streamed";
      },
    },

    "/v1/metrics": {
      GET: async (ctx): Promise<Reply> => {
        const { text, contentType } = await metrics.render();
        ctx.res.writeHead(200, {
          ...ctx.baseHeaders,
          "content-type": contentType,
          "content-length": String(Buffer.byteLength(text)),
        });
        ctx.res.end(text);
        return "streamed";
      },
    },
  };
}
