// Messages: sending (202 once journaled), a sender's view of its message's states, a session's
// inbox (a long-poll that changes nothing) and marking what was surfaced or acked.
import { isUuid, type Sender, toWireMessage } from "@claudemesh/mesh";
import type { SessionRegistry } from "@claudemesh/registry";
import type { Messaging } from "../mesh/messaging.js";
import { optionalSessionOf, sessionOf } from "./auth.js";
import { parseJsonBody, readBody } from "./body.js";
import { HttpError } from "./http-error.js";
import { asHttp } from "./mesh-errors.js";
import type { Routes } from "./server.js";

export interface MessageRouteDeps {
  registry: SessionRegistry;
  messaging: Messaging;
  now?: () => number;
}

export const INBOX_LIMITS = {
  /** Longest a GET /v1/inbox may wait for a message. */
  maxWaitMs: 30_000,
  /** Most ids one POST /v1/inbox/mark may carry. */
  maxMarkIds: 1_000,
} as const;

function waitParam(value: string | null): number {
  if (value === null) return 0;
  if (!/^\d{1,6}$/.test(value) || Number(value) > INBOX_LIMITS.maxWaitMs) {
    throw new HttpError(
      "invalid_field",
      `wait_ms: must be a whole number of milliseconds from 0 to ${INBOX_LIMITS.maxWaitMs}`,
    );
  }
  return Number(value);
}

function parseMark(raw: unknown): { ids: string[]; state: "surfaced" | "acked" } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new HttpError("invalid_field", "body: must be a JSON object");
  }
  const { ids, state } = raw as Record<string, unknown>;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > INBOX_LIMITS.maxMarkIds) {
    throw new HttpError("invalid_field", `ids: must be an array of 1–${INBOX_LIMITS.maxMarkIds} message ids`);
  }
  if (!ids.every(isUuid))
    throw new HttpError("invalid_field", "ids: every item must be a message id (a lowercase UUID)");
  if (state !== "surfaced" && state !== "acked")
    throw new HttpError("invalid_field", "state: must be surfaced or acked");
  return { ids: ids as string[], state };
}

export function messageRoutes(deps: MessageRouteDeps): Routes {
  const { registry, messaging } = deps;
  const now = deps.now ?? Date.now;

  return {
    "/v1/messages": {
      POST: async (ctx) => {
        const self = optionalSessionOf(ctx, registry);
        const body = parseJsonBody(await readBody(ctx.req), ctx.req.headers["content-type"]);
        const sender: Sender =
          self !== undefined ? { kind: "session", session: self } : { kind: "member", mesh: "default" };
        const { message } = asHttp(() => messaging.send(sender, body));
        // Journaled before the sender hears of it: kill -9 loses nothing that was answered.
        await messaging.persisted();
        return { status: 202, body: { message } };
      },
    },

    "/v1/messages/:id": {
      GET: (ctx) => {
        const self = optionalSessionOf(ctx, registry);
        const id = ctx.params.id as string;
        if (!isUuid(id)) throw new HttpError("not_found", `no message ${id}: message ids are lowercase UUIDs`);
        return { body: { message: asHttp(() => messaging.service.status(self?.session_id ?? null, id)) } };
      },
    },

    "/v1/inbox": {
      GET: async (ctx) => {
        const self = sessionOf(ctx, registry);
        const which = ctx.query.get("state") ?? "unsurfaced";
        if (which !== "unsurfaced" && which !== "all")
          throw new HttpError("invalid_field", "state: must be unsurfaced or all");
        const waitMs = waitParam(ctx.query.get("wait_ms"));
        if (waitMs > 0 && messaging.store.inbox(self.session_id).length === 0) {
          const gone = new AbortController();
          ctx.res.once("close", () => gone.abort());
          // A long-poll is not an idle client: its socket may stay quiet as long as it waits.
          ctx.res.socket?.setTimeout(waitMs + 10_000);
          await messaging.waitForInbox(self.session_id, waitMs, gone.signal);
        }
        const messages = messaging.store.inbox(self.session_id, which).map(toWireMessage);
        return { body: { messages } };
      },
    },

    "/v1/inbox/mark": {
      POST: async (ctx) => {
        const self = sessionOf(ctx, registry);
        const { ids, state } = parseMark(parseJsonBody(await readBody(ctx.req), ctx.req.headers["content-type"]));
        const updated = messaging.store.mark(self.session_id, ids, state, now());
        await messaging.persisted();
        return { body: { updated } };
      },
    },
  };
}
