// Sessions and peers: registration (with its presence), the list, a session's own view of
// itself, and who else is in its mesh. Every session in a response goes through toSession's
// explicit field list, so no route can leak a token, a token hash or a secret key.
import { randomUUID } from "node:crypto";
import { type RemotePeer, toRemoteSession } from "@claudemesh/mesh";
import {
  type ProcessProbe,
  parseRegistration,
  parseSessionPatch,
  type RegistrationDefaults,
  type SessionRegistry,
  toSession,
} from "@claudemesh/registry";
import type { PresenceKeeper } from "../mesh/presence-keeper.js";
import type { DaemonMetrics } from "../metrics.js";
import { optionalSessionOf, sessionOf, tokenOf } from "./auth.js";
import { parseJsonBody, readBody } from "./body.js";
import { HttpError } from "./http-error.js";
import { asHttp } from "./mesh-errors.js";
import type { RequestContext, Routes } from "./server.js";

export interface SessionRouteDeps {
  registry: SessionRegistry;
  probe: ProcessProbe;
  presence: PresenceKeeper;
  metrics: DaemonMetrics;
  /** Resolves once the registry's changes so far are on disk (the journal); awaited before a change is acknowledged. */
  persisted: () => Promise<void>;
  /** Sessions on other machines, in meshes bound to NATS. */
  remote?: { remotePeers(mesh: string): readonly RemotePeer[]; allRemotePeers(): readonly RemotePeer[] };
}

const REGISTRATION_DEFAULTS: RegistrationDefaults = {
  newSessionId: randomUUID,
  mesh: "default",
  displayName: "session",
};

const MESH = /^[a-z0-9._-]{1,64}$/;

function meshParam(ctx: RequestContext): string | undefined {
  const mesh = ctx.query.get("mesh") ?? undefined;
  if (mesh !== undefined && !MESH.test(mesh)) {
    throw new HttpError("invalid_field", "mesh: may contain only a-z 0-9 . _ - (1–64 characters)");
  }
  return mesh;
}

export function sessionRoutes(deps: SessionRouteDeps): Routes {
  const { registry, probe, presence, metrics } = deps;

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
      const sessions = registry.list(mesh === undefined ? {} : { mesh }).map((s) => toSession(s));
      json = JSON.stringify({ sessions });
      if (listCache.size < 64) listCache.set(key, json); // bounded: mesh filters are caller-chosen
    }
    return json;
  };

  return {
    "/v1/sessions/register": {
      POST: async (ctx) => {
        const raw = parseJsonBody(await readBody(ctx.req), ctx.req.headers["content-type"]);
        const parsed = parseRegistration(raw, REGISTRATION_DEFAULTS);
        if (!parsed.ok) throw new HttpError("invalid_field", parsed.error.message);
        const registration = parsed.value;
        const existing = registry.resolve(registration.token);
        // Verified (or minted) before anything else: a bad presence changes nothing.
        const given = asHttp(() =>
          presence.forRegistration((raw as { presence?: unknown }).presence, registration, existing),
        );
        // Capture the process identity now, so there is no window without the PID-reuse guard.
        const result = (await probe.probe([registration.pid])).get(registration.pid);
        if (result?.state === "dead") {
          throw new HttpError("invalid_field", `pid: no running process has pid ${registration.pid}`);
        }
        const { session, replaced } = registry.register(
          given === undefined ? registration : { ...registration, presence: given },
          result?.state === "alive" ? result.startTime : null,
        );
        metrics.countRegistration(replaced ? "replaced" : existing !== undefined ? "updated" : "new");
        await deps.persisted();
        return { body: { ok: true, registered_at: session.registered_at, replaced } };
      },
    },

    "/v1/sessions": {
      GET: (ctx) => ({ json: listJson(meshParam(ctx)) }),
    },

    "/v1/sessions/me": {
      GET: (ctx) => {
        const self = sessionOf(ctx, registry);
        // A session restored at start gets its fresh key at once when it asks who it is.
        presence.ensure(self);
        return { body: { session: toSession(registry.get(self.session_id) ?? self) } };
      },
      PATCH: async (ctx) => {
        const token = tokenOf(ctx);
        if (registry.resolve(token) === undefined)
          throw new HttpError("unauthorized", "no live session has this token");
        const patch = parseSessionPatch(parseJsonBody(await readBody(ctx.req), ctx.req.headers["content-type"]));
        if (!patch.ok) throw new HttpError("invalid_field", patch.error.message);
        const session = registry.update(token, patch.value);
        if (session === undefined) throw new HttpError("unauthorized", "no live session has this token");
        await deps.persisted();
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

    "/v1/peers": {
      // With a token: the other sessions of its mesh. Without: every session, or one mesh's.
      GET: (ctx) => {
        const self = optionalSessionOf(ctx, registry);
        const mesh = meshParam(ctx);
        if (self !== undefined && mesh !== undefined && mesh !== self.mesh) {
          throw new HttpError("invalid_field", `mesh: a session sees the peers of its own mesh (${self.mesh}) only`);
        }
        const wanted = self?.mesh ?? mesh;
        const local = registry
          .list(wanted === undefined ? {} : { mesh: wanted })
          .filter((s) => s.session_id !== self?.session_id)
          .map((s) => toSession(s));
        // Remote sessions after the local ones (`origin: remote`, `host`); a local id shadows a remote one.
        const far = wanted === undefined ? deps.remote?.allRemotePeers() : deps.remote?.remotePeers(wanted);
        if (far === undefined || far.length === 0) return { body: { peers: local } };
        const here = new Set(local.map((s) => s.session_id));
        if (self !== undefined) here.add(self.session_id);
        const remote = far.filter((p) => !here.has(p.peer.session_id)).map((p) => toRemoteSession(p.presence));
        return { body: { peers: [...local, ...remote] } };
      },
    },
  };
}
