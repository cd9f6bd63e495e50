// The joining side of `mesh join`: connect with the invite's credential (the server refuses an
// expired or revoked one at once), ask the host on the invite's subject, and come back with a
// member credential whose seed was made here and never sent.
import type { SigningKey } from "@claudemesh/mesh";
import { credsAuthenticator, connect as natsConnect } from "@nats-io/transport-node";
import { credsText, newUserSeed, publicKeyOf } from "./host-keys.js";
import { joinInboxPrefix, joinSubject, parseJoinReply, signJoinRequest } from "./join-request.js";
import type { JoinInvite } from "./join-string.js";

export class JoinError extends Error {
  override readonly name = "JoinError";
  constructor(
    message: string,
    /** "refused": the server or host said no; "unreachable": nothing answered. */
    readonly kind: "refused" | "unreachable",
  ) {
    super(message);
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The member credential (`.creds` text) for this member key, and the host member's fingerprint. */
export async function redeemInvite(
  invite: JoinInvite,
  member: SigningKey,
  o: { readonly timeoutMs?: number } = {},
): Promise<{ readonly creds: string; readonly hostMember: string }> {
  const timeout = o.timeoutMs ?? 10_000;
  let nc: Awaited<ReturnType<typeof natsConnect>>;
  try {
    nc = await natsConnect({
      servers: [...invite.servers],
      authenticator: credsAuthenticator(new TextEncoder().encode(credsText(invite.jwt, invite.seed))),
      inboxPrefix: joinInboxPrefix(invite.id),
      name: `claudemesh join ${invite.mesh}`,
      timeout,
      reconnect: false,
    });
  } catch (error) {
    const text = messageOf(error);
    if (/authoriz|authentication|expired|revoked/i.test(text)) {
      throw new JoinError(
        `the server refused the invite (${text}): it has expired, was revoked or was already used; ask for a new one`,
        "refused",
      );
    }
    throw new JoinError(`cannot reach ${invite.servers.join(", ")}: ${text}`, "unreachable");
  }
  try {
    const seed = newUserSeed();
    const request = signJoinRequest(member, invite.mesh, invite.id, publicKeyOf(seed));
    let body: string;
    try {
      body = (await nc.request(joinSubject(invite.mesh, invite.id), JSON.stringify(request), { timeout })).string();
    } catch (error) {
      const text = messageOf(error);
      throw new JoinError(
        /no responders/i.test(text)
          ? `the server is up but its host is not answering joins (is \`claudemesh mesh host ${invite.mesh}\` running?)`
          : `the host did not answer: ${text}`,
        "unreachable",
      );
    }
    const reply = parseJoinReply(body);
    if (!reply.ok) throw new JoinError(`the host refused the join: ${reply.error}`, "refused");
    return { creds: credsText(reply.jwt, seed), hostMember: reply.host_member };
  } finally {
    await nc.close().catch(() => undefined);
  }
}
