// The v1 routes. Every session in a response goes through toSession's explicit field list,
// so no route can leak a token or a token hash.
import { randomUUID } from "node:crypto";
import { parseAuthorization } from "@claudemesh/client";
import {
  type ProcessProbe,
  parseRegistration,
  type RegistrationDefaults,
  type SessionRegistry,
  toSession,
} from "@claudemesh/registry";
import type { EventHub } from "../events/event-hub.js";
import type { DaemonMetrics } from "../metrics.js";
import { DAEMON_VERSION, IPC_API, IPC_FEATURES, SCHEMA_VERSION } from "../version.js";
import { parseJsonBody, readBody } from "./body.js";
import { HttpError } from "./http-error.js";
import type { Reply, RequestContext, Routes } from "./server.js";

export interface RouteDeps {
  registry: SessionRegistry;
  probe: ProcessProbe;
  hub: EventHub;
  metrics: DaemonMetrics;
  startedAt: number;
  /** Resolves once the registry's changes so far are on disk (the journal); awaited before a change is acknowledged. */
  persisted: () => Promise<void>;
  now?: () => number;
}

const REGISTRATION_DEFAULTS: RegistrationDefaults = {
  newSessionId: randomUUID,
  mesh: "default",
  displayName: "session",
};

/**
 * Who supervises this daemon: the unit or plist written by `claudemesh daemon install` sets
 * CLAUDEMESH_MANAGED_BY; any other value is ignored. (An auto-started daemon never inherits it:
 * the CLI scrubs every CLAUDEMESH_ variable from its environment.)
 */
export function managedBy(env: NodeJS.ProcessEnv): "systemd" | "launchd" | null {
  const value = env.CLAUDEMESH_MANAGED_BY;
  return value === "systemd" || value === "launchd" ? value : null;
}

function tokenOf(ctx: RequestContext): string {
  const header = ctx.req.headers.authorization;
  const token = header === undefined ? undefined : parseAuthorization(header);
  if (token === undefined) {
    throw new HttpError("unauthorized", "missing or malformed Authorization: ClaudeMesh-Session <token> header");
  }
  return token;
}

function parseLastEventId(value: string | string[] | undefined): number | undefined {
  if (typeof value !== "string" || !/^\d{1,16}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

export function createRoutes(deps: RouteDeps): Routes {
  const { registry, probe, hub, metrics } = deps;
  const now = deps.now ?? Date.now;

  // The serialized list, per mesh filter, until the registry changes: lists are read far more
  // often than sessions come and go, and serializing 100 sessions costs more than the request.
  let listCache = new Map<string, string>();
  let listGeneration = -1;
  const listJson = (mesh: string | undefined): string => {
    if (listGeneration !== registry.generation) {
      listCache = new Map();
      listGeneration = registry.generation;
    }
    const key = mesh ?? "";
    let json = listCache.get(key);
    if (json === undefined) {
      json = JSON.stringify({ sessions: registry.list(mesh === undefined ? {} : { mesh }).map(toSession) });
      if (listCache.size < 64) listCache.set(key, json); // bounded: mesh filters are caller-chosen
    }
    return json;
  };
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
        },
      }),
    },

    "/v1/sessions/register": {
      POST: async (ctx) => {
        const raw = parseJsonBody(await readBody(ctx.req), ctx.req.headers["content-type"]);
        const parsed = parseRegistration(raw, REGISTRATION_DEFAULTS);
        if (!parsed.ok) throw new HttpError("invalid_field", parsed.error.message);
        const registration = parsed.value;
        // Capture the process identity now, so there is no window without the PID-reuse guard.
        const result = (await probe.probe([registration.pid])).get(registration.pid);
        if (result?.state === "dead") {
          throw new HttpError("invalid_field", `pid: no running process has pid ${registration.pid}`);
        }
        const existed = registry.resolve(registration.token) !== undefined;
        const { session, replaced } = registry.register(
          registration,
          result?.state === "alive" ? result.startTime : null,
        );
        metrics.countRegistration(replaced ? "replaced" : existed ? "updated" : "new");
        await deps.persisted();
        return { body: { ok: true, registered_at: session.registered_at, replaced } };
      },
    },

    "/v1/sessions": {
      GET: (ctx) => {
        const mesh = ctx.query.get("mesh") ?? undefined;
        if (mesh !== undefined && !/^[a-z0-9._-]{1,64}$/.test(mesh)) {
          throw new HttpError("invalid_field", "mesh: may contain only a-z 0-9 . _ - (1–64 characters)");
        }
        return { json: listJson(mesh) };
      },
    },

    "/v1/sessions/me": {
      GET: (ctx) => {
        const session = registry.resolve(tokenOf(ctx));
        if (session === undefined) throw new HttpError("unauthorized", "no live session has this token");
        return { body: { session: toSession(session) } };
      },
      DELETE: async (ctx) => {
        if (registry.deregister(tokenOf(ctx)) === undefined) {
          throw new HttpError("unauthorized", "no live session has this token");
        }
        await deps.persisted();
        return { body: { ok: true } };
      },
    },

    "/v1/events": {
      GET: (ctx): Reply => {
        if (ctx.req.method === "HEAD") {
          // The headers a stream would start with, and no stream: nothing to keep open.
          ctx.res.writeHead(200, { ...ctx.baseHeaders, "content-type": "text/event-stream; charset=utf-8" });
          ctx.res.end();
          return "streamed";
        }
        hub.open(ctx.res, parseLastEventId(ctx.req.headers["last-event-id"]), ctx.baseHeaders);
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
