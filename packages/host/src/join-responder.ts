// The host's answer to `mesh join`: on `cm.<mesh>.join.<invite id>` (only that invite's user may
// publish there, and only until the invite expires or is revoked: the server sees to that) it
// checks the request, mints the member credential for the requester's daemon id, answers, and
// revokes the invite so that it cannot be used again. The same member asking again on the same
// invite (its answer was lost) gets a credential again; another member is refused.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { HostConfig, HostDir } from "./host-dir.js";
import type { HostKeys } from "./host-keys.js";
import { mintMember, pushAccount, recordRevoked } from "./hosted-mesh.js";
import { checkJoinRequest, type JoinReply, joinSubjects } from "./join-request.js";

export interface JoinResponderOptions {
  readonly hostDir: HostDir;
  readonly keys: HostKeys;
  readonly config: HostConfig;
  /** The host member's fingerprint, told to joiners (for --trust-member). */
  readonly hostMember: string;
  readonly now?: () => number;
  readonly log: (line: string) => void;
}

export class JoinResponder {
  readonly #o: JoinResponderOptions;
  #sub: Subscription | undefined;
  /** Joins answered since start. */
  joined = 0;

  constructor(options: JoinResponderOptions) {
    this.#o = options;
  }

  start(nc: NatsConnection): void {
    this.#sub = nc.subscribe(joinSubjects(this.#o.config.mesh), {
      callback: (error, msg) => {
        if (error !== null) return;
        const inviteId = msg.subject.split(".").at(-1) as string;
        void this.#answer(inviteId, msg.string()).then(
          (reply) => msg.respond(JSON.stringify(reply)),
          (e: unknown) => msg.respond(JSON.stringify({ ok: false, error: `the host failed: ${String(e)}` })),
        );
      },
    });
  }

  async #answer(inviteId: string, body: string): Promise<JoinReply> {
    const { hostDir, keys, config } = this.#o;
    const now = (this.#o.now ?? Date.now)();
    const invite = hostDir.readInvite(inviteId);
    if (invite === undefined) return { ok: false, error: "this invite is unknown to the host" };
    if (now > invite.expiresAt) return { ok: false, error: "this invite has expired" };
    const revoked = hostDir.revoked().find((r) => r.userPublicKey === invite.userPublicKey);
    const checked = checkJoinRequest(body, config.mesh, inviteId);
    if (!checked.ok) return { ok: false, error: checked.error };
    const usedBy = hostDir.members().find((m) => m.invite === inviteId);
    if (usedBy !== undefined && usedBy.fingerprint !== checked.memberFingerprint) {
      return { ok: false, error: "this invite was already used by another member" };
    }
    if (revoked !== undefined && usedBy === undefined) return { ok: false, error: "this invite was revoked" };
    const minted = await mintMember(
      hostDir,
      keys,
      config,
      { publicKey: checked.request.member_pubkey, fingerprint: checked.memberFingerprint },
      checked.request.user_pubkey,
      { create: false, invite: inviteId, now },
    );
    this.joined++;
    this.#o.log(`member ${minted.fingerprint} (daemon ${minted.daemon}) joined with invite ${inviteId}`);
    if (revoked === undefined) {
      // Used once: the invite's own user goes. After the answer is sent, so the joiner gets it.
      setTimeout(() => {
        recordRevoked(hostDir, [invite.userPublicKey], `invite ${inviteId} used`, Math.ceil(Date.now() / 1000));
        pushAccount(hostDir, keys, config).catch((e: unknown) =>
          this.#o.log(`could not push the revocation of used invite ${inviteId}: ${String(e)}`),
        );
      }, 1_000).unref();
    }
    return { ok: true, jwt: minted.jwt, host_member: this.#o.hostMember };
  }

  stop(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }
}
