// What one daemon may do on a NATS server in one mesh, and nothing more: the per-daemon allowlist
// of docs/teams.md, built from the layout (nats-layout.ts). `mesh host` signs it into each member's
// credential; the permissions test reads the page back and checks it against this. Pure.
import {
  consumerName,
  inboundFilter,
  inboxPrefix,
  MESSAGE_STREAM,
  PRESENCE_BUCKET,
  pingSubject,
  presenceFilter,
  token,
} from "./nats-layout.js";

export const PRESENCE_STREAM = `KV_${PRESENCE_BUCKET}`;
export const PRESENCE_SUBJECTS = `$KV.${PRESENCE_BUCKET}`;

export interface DaemonAllowlist {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/**
 * One daemon's allowlist in one mesh (with `allow_responses` beside it). `create` adds the two
 * lines that let it make the stream and the bucket when they are missing.
 */
export function daemonAllowlist(mesh: string, daemon: string, create: boolean): DaemonAllowlist {
  const m = token(mesh);
  const consumer = consumerName(mesh, daemon);
  return {
    publish: [
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${MESSAGE_STREAM}`,
      `$JS.API.STREAM.INFO.${PRESENCE_STREAM}`,
      ...(create ? [`$JS.API.STREAM.CREATE.${MESSAGE_STREAM}`, `$JS.API.STREAM.CREATE.${PRESENCE_STREAM}`] : []),
      `$JS.API.CONSUMER.CREATE.${MESSAGE_STREAM}.${consumer}.${inboundFilter(mesh, daemon)}`,
      `$JS.API.CONSUMER.INFO.${MESSAGE_STREAM}.${consumer}`,
      `$JS.API.CONSUMER.MSG.NEXT.${MESSAGE_STREAM}.${consumer}`,
      `$JS.ACK.${MESSAGE_STREAM}.${consumer}.>`,
      `$JS.API.CONSUMER.CREATE.${PRESENCE_STREAM}.*.${PRESENCE_SUBJECTS}.${presenceFilter(mesh)}`,
      `$JS.API.CONSUMER.INFO.${PRESENCE_STREAM}.*`,
      `$JS.API.DIRECT.GET.${PRESENCE_STREAM}.${PRESENCE_SUBJECTS}.${presenceFilter(mesh)}`,
      `${PRESENCE_SUBJECTS}.${m}.${daemon}.*`,
      `cm.${m}.to.*.s.*`,
      `cm.${m}.to.*.r`,
      `cm.${m}.ping.*`,
    ],
    subscribe: [`${inboxPrefix(daemon)}.>`, pingSubject(mesh, daemon)],
  };
}
