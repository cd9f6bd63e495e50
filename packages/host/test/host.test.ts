// The host side against a real nats-server it starts itself: operator mode, invites redeemed for
// member credentials scoped to one daemon, expired and revoked invites refused by the server.
import {
  consumerName,
  daemonIdOf,
  fingerprint,
  generateSigningKey,
  inboundFilter,
  inboxPrefix,
  MESSAGE_STREAM,
  PRESENCE_SUBJECTS,
  presenceKey,
} from "@claudemesh/mesh";
import { freePort, TempDirs, waitFor } from "@claudemesh/testkit";
import { connect, credsAuthenticator, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInvite,
  decodeJoinString,
  JoinError,
  pushAccount,
  type RunningHost,
  recordRevoked,
  redeemInvite,
  startHost,
  usersNamedBy,
} from "../src/index.js";

const temp = new TempDirs();
let host: RunningHost;
const hostMember = generateSigningKey();
const logs: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  host = await startHost({
    dir: temp.make("host"),
    mesh: "team",
    listen: `127.0.0.1:${port}`,
    hostMember: fingerprint(hostMember.publicKey),
    log: (l) => logs.push(l),
  });
});

afterAll(async () => {
  await host?.stop();
  temp.removeAll();
});

/** Another member's daemon id, whose things the member under test must not touch. */
const OTHER = "0123456789abcdef";
const credsOf = (text: string) => credsAuthenticator(new TextEncoder().encode(text));

describe("an invite", () => {
  it("is redeemed once for a member credential scoped to the joiner's daemon id", async () => {
    const { joinString } = await createInvite(host.hostDir, host.keys, host.config, {
      expiresMs: 60_000,
      now: Date.now(),
      hostMember: fingerprint(hostMember.publicKey),
    });
    const invite = decodeJoinString(joinString);
    const member = generateSigningKey();
    const { creds, hostMember: told } = await redeemInvite(invite, member);
    expect(told).toBe(fingerprint(hostMember.publicKey));
    const daemon = daemonIdOf(member.publicKey);
    const nc = await connect({ servers: host.url, authenticator: credsOf(creds), inboxPrefix: inboxPrefix(daemon) });
    try {
      const violations: PermissionViolationError[] = [];
      void (async () => {
        for await (const s of nc.status())
          if (s.type === "error" && s.error instanceof PermissionViolationError) violations.push(s.error);
      })();
      // What a daemon needs works: JetStream answers it.
      expect((await nc.request("$JS.API.INFO", "", { timeout: 5_000 })).json()).toHaveProperty("type");
      // Another daemon's presence: refused.
      const theirs = presenceKey("team", OTHER, "web");
      nc.publish(`${PRESENCE_SUBJECTS}.${theirs}`, "forged");
      await waitFor(
        () => violations.some((v) => v.operation === "publish" && v.subject.endsWith(theirs)),
        "the forged presence refused",
      );
      // Another daemon's messages, raw or through its consumer, and its replies: refused.
      for (const subject of [inboundFilter("team", OTHER), "_INBOX.>", `${inboxPrefix(OTHER)}.>`]) {
        const why = await nc.subscribe(subject).closed;
        expect(why, subject).toBeInstanceOf(PermissionViolationError);
      }
      const pull = await nc
        .request(
          `$JS.API.CONSUMER.MSG.NEXT.${MESSAGE_STREAM}.${consumerName("team", OTHER)}`,
          JSON.stringify({ batch: 1 }),
          { timeout: 5_000 },
        )
        .catch((e: unknown) => e);
      expect((pull as Error).cause).toBeInstanceOf(PermissionViolationError);
      expect(nc.isClosed()).toBe(false);
    } finally {
      await nc.close();
    }
    // Used once: the host refuses another member at once, and then revokes the invite's own
    // user, so that the server refuses it too.
    const other = await redeemInvite(invite, generateSigningKey()).catch((e: unknown) => e);
    expect((other as JoinError).message).toMatch(/already used by another member/);
    await waitFor(
      () =>
        redeemInvite(invite, member).then(
          () => false,
          (e: unknown) => /the server refused/.test(String(e)),
        ),
      "the used invite to be refused by the server",
    );
  });

  it("is refused by the server once expired", async () => {
    const { joinString } = await createInvite(host.hostDir, host.keys, host.config, {
      expiresMs: 1_000,
      now: Date.now(),
      hostMember: "SHA256:x",
    });
    await new Promise((r) => setTimeout(r, 2_500));
    const error = await redeemInvite(decodeJoinString(joinString), generateSigningKey()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JoinError);
    expect((error as JoinError).kind).toBe("refused");
  });

  it("is refused by the server once revoked", async () => {
    const { id, joinString } = await createInvite(host.hostDir, host.keys, host.config, {
      expiresMs: 60_000,
      now: Date.now(),
      hostMember: "SHA256:x",
    });
    recordRevoked(host.hostDir, usersNamedBy(host.hostDir, id).users, "test", Math.ceil(Date.now() / 1000));
    await pushAccount(host.hostDir, host.keys, host.config);
    const error = await redeemInvite(decodeJoinString(joinString), generateSigningKey()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JoinError);
    expect((error as JoinError).message).toMatch(/refused/);
  });
});
