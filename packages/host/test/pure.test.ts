// The pure pieces of hosting: join strings, join requests, durations, listen addresses, the
// server config, and minted JWTs as the server will read them.
import { fingerprint, generateSigningKey } from "@claudemesh/mesh";
import { decode } from "@nats-io/jwt";
import { describe, expect, it } from "vitest";
import {
  advertisedServers,
  checkJoinRequest,
  decodeJoinString,
  encodeJoinString,
  JoinStringError,
  meshUserJwt,
  newHostKeys,
  newUserSeed,
  parseDuration,
  parseJoinReply,
  parseListen,
  publicKeyOf,
  serverConfigText,
  signJoinRequest,
} from "../src/index.js";

const invite = {
  mesh: "team",
  servers: ["nats://box:4222"],
  id: "0123456789abcdef",
  jwt: "eyJ.jwt.x",
  seed: "SUAAAA",
  expiresAt: 1_700_000_000_000,
  hostMember: "SHA256:abc",
};

describe("join strings", () => {
  it("round-trip and refuse what is not one, damaged or incomplete, without echoing it", () => {
    const text = encodeJoinString(invite);
    expect(text.startsWith("claudemesh-join:1:")).toBe(true);
    expect(decodeJoinString(` ${text}\n`)).toEqual(invite);
    expect(() => decodeJoinString("hello")).toThrow(/not a join string/);
    expect(() => decodeJoinString(`${text.slice(0, 40)}`)).toThrow(JoinStringError);
    const without = (field: string) => {
      const body = { v: 1, ...invite, expires_at: invite.expiresAt, host_member: invite.hostMember } as Record<
        string,
        unknown
      >;
      delete body[field];
      return `claudemesh-join:1:${Buffer.from(JSON.stringify(body)).toString("base64url")}`;
    };
    expect(() => decodeJoinString(without("servers"))).toThrow(/no server/);
    expect(() => decodeJoinString(without("seed"))).toThrow(/no invite credential/);
    expect(() => decodeJoinString(without("mesh"))).toThrow(/no valid mesh/);
    try {
      decodeJoinString(without("id"));
    } catch (error) {
      expect(String(error)).not.toContain(invite.jwt);
    }
  });
});

describe("join requests", () => {
  const member = generateSigningKey();
  const user = publicKeyOf(newUserSeed());

  it("are accepted when signed by the member key for this invite and user key", () => {
    const body = JSON.stringify(signJoinRequest(member, "team", invite.id, user));
    expect(checkJoinRequest(body, "team", invite.id)).toMatchObject({
      ok: true,
      memberFingerprint: fingerprint(member.publicKey),
    });
  });

  it("are refused for another invite, mesh or user key, or malformed", () => {
    const signed = signJoinRequest(member, "team", invite.id, user);
    expect(checkJoinRequest(JSON.stringify(signed), "team", "fedcba9876543210")).toMatchObject({ ok: false });
    expect(checkJoinRequest(JSON.stringify(signed), "other", invite.id)).toMatchObject({ ok: false });
    const swapped = { ...signed, user_pubkey: publicKeyOf(newUserSeed()) };
    expect(checkJoinRequest(JSON.stringify(swapped), "team", invite.id)).toMatchObject({
      ok: false,
      error: /signature/,
    });
    expect(checkJoinRequest("{", "team", invite.id)).toEqual({ ok: false, error: "the request is not JSON" });
    expect(checkJoinRequest(JSON.stringify({ ...signed, user_pubkey: "SU123" }), "team", invite.id)).toMatchObject({
      ok: false,
    });
  });

  it("replies are read back, and a refusal keeps its reason", () => {
    expect(parseJoinReply(JSON.stringify({ ok: true, jwt: "j", host_member: "SHA256:x" }))).toEqual({
      ok: true,
      jwt: "j",
      host_member: "SHA256:x",
    });
    expect(parseJoinReply(JSON.stringify({ ok: false, error: "this invite has expired" }))).toEqual({
      ok: false,
      error: "this invite has expired",
    });
    expect(parseJoinReply("nope")).toMatchObject({ ok: false });
  });
});

describe("durations and addresses", () => {
  it("reads 30m, 12h, 7d and refuses the rest", () => {
    expect(parseDuration("30m")).toEqual({ ok: true, ms: 1_800_000 });
    expect(parseDuration("7d")).toEqual({ ok: true, ms: 604_800_000 });
    for (const bad of ["", "7", "0d", "1.5h", "2w", "400d"]) expect(parseDuration(bad).ok, bad).toBe(false);
  });

  it("reads HOST:PORT and advertises this machine's name when listening everywhere", () => {
    expect(parseListen("127.0.0.1:4222")).toEqual({ host: "127.0.0.1", port: 4222 });
    expect(parseListen("[::1]:4333")).toEqual({ host: "::1", port: 4333 });
    for (const bad of ["4222", "host:", "host:99999", "a b:1"]) expect(() => parseListen(bad), bad).toThrow(/--listen/);
    expect(advertisedServers("0.0.0.0", 4222, "box")).toEqual(["nats://box:4222"]);
    expect(advertisedServers("10.0.0.5", 4222, "box")).toEqual(["nats://10.0.0.5:4222"]);
  });
});

describe("credentials and config", () => {
  it("signs a member's allowlist into a user JWT of the mesh account, by its signing key", async () => {
    const keys = newHostKeys();
    const user = publicKeyOf(newUserSeed());
    const jwt = await meshUserJwt(keys, {
      name: "m",
      userPublicKey: user,
      publish: ["a.>"],
      subscribe: ["b"],
      respond: true,
      expiresAt: 2_000_000_000,
    });
    const claims = decode<Record<string, unknown>>(jwt);
    expect(claims.sub).toBe(user);
    expect(claims.iss).toBe(publicKeyOf(keys.meshSigner));
    expect(claims.exp).toBe(2_000_000_000);
    expect(claims.nats).toMatchObject({
      pub: { allow: ["a.>"] },
      sub: { allow: ["b"] },
      resp: { max: 1 },
      issuer_account: publicKeyOf(keys.meshAccount),
    });
  });

  it("writes an operator-mode config with every account preloaded", () => {
    const text = serverConfigText({
      serverName: "s",
      host: "0.0.0.0",
      port: 4222,
      storeDir: "/js",
      resolverDir: "/jwt",
      operatorJwt: "OJWT",
      systemAccount: "ASYS",
      accounts: { ASYS: "J1", AMESH: "J2" },
      leafListen: "0.0.0.0:7422",
    });
    expect(text).toContain('operator: "OJWT"');
    expect(text).toContain('system_account: "ASYS"');
    expect(text).toMatch(/resolver: \{\n {2}type: full/);
    expect(text).toContain('  AMESH: "J2"');
    expect(text).toContain('leafnodes: {\n  listen: "0.0.0.0:7422"');
  });
});
