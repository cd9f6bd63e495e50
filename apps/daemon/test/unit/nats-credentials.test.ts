// From a mesh binding to nats.js connect options: token, creds and nkey files read and checked
// (errors name the file, never its contents), TLS asked for by a CA or a tls:// server.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MeshBinding } from "@claudemesh/mesh";
import * as nats from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import {
  checkCaFile,
  connectOptionsFor,
  loadConnectOptions,
  parseSecret,
  readSecret,
} from "../../src/nats/credentials.js";
import { TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.removeAll());

const binding = (extra: Partial<MeshBinding> = {}): MeshBinding => ({
  name: "team",
  servers: ["nats://127.0.0.1:4222"],
  trustMembers: [],
  addedAt: 0,
  ...extra,
});

function file(name: string, text: string): string {
  const path = join(temps.make(), name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

const seed = () => new TextDecoder().decode(nats.nkeys.createUser().getSeed());
const credsText = (jwt: string, s: string) =>
  `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
  `************************* IMPORTANT *************************\n\n` +
  `-----BEGIN USER NKEY SEED-----\n${s}\n------END USER NKEY SEED------\n`;

describe("connect options of a binding", () => {
  it("has the servers and no auth or TLS when none is bound", () => {
    expect(loadConnectOptions(binding({ servers: ["nats://a:1", "nats://b:2"] }), nats)).toEqual({
      servers: ["nats://a:1", "nats://b:2"],
    });
  });

  it("takes a token file's trimmed contents", () => {
    const path = file("token", "  s3cret\n");
    const options = loadConnectOptions(binding({ credentials: { kind: "token", file: path } }), nats);
    expect(options.token).toBe("s3cret");
    expect(options.authenticator).toBeUndefined();
  });

  it("signs the server's nonce with an nkey seed", () => {
    const s = seed();
    const path = file("user.nk", `${s}\n`);
    const options = loadConnectOptions(binding({ credentials: { kind: "nkey", file: path } }), nats);
    const auth = (options.authenticator as nats.Authenticator)("nonce") as nats.NKeyAuth;
    expect(auth.nkey).toBe(nats.nkeys.fromSeed(new TextEncoder().encode(s)).getPublicKey());
    expect(typeof auth.sig).toBe("string");
    expect(options.token).toBeUndefined();
  });

  it("presents a creds file's JWT and signs with its seed", () => {
    const s = seed();
    const path = file("user.creds", credsText("eyJhbGciOi.fake.jwt", s));
    const options = loadConnectOptions(binding({ credentials: { kind: "creds", file: path } }), nats);
    const auth = (options.authenticator as nats.Authenticator)("nonce") as nats.JwtAuth;
    expect(auth.jwt).toBe("eyJhbGciOi.fake.jwt");
    expect(typeof auth.sig).toBe("string");
  });

  it("asks for TLS checked against the CA given, or the system's for a tls:// server", () => {
    const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    const named = ["tls://nats.example.com:4222"];
    expect(connectOptionsFor(binding({ servers: named, tlsCa: ca }), undefined, nats).tls).toEqual({ caFile: ca });
    expect(connectOptionsFor(binding({ servers: ["tls://h:4222"] }), undefined, nats).tls).toEqual({});
    expect(connectOptionsFor(binding(), undefined, nats).tls).toBeUndefined();
  });

  it("names the address to check when the one server is reached by IP (nats.js would check localhost)", () => {
    const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    const one = binding({ servers: ["tls://203.0.113.7:4222"], tlsCa: ca });
    expect(connectOptionsFor(one, undefined, nats).tls).toEqual({ caFile: ca, host: "203.0.113.7" });
    const two = binding({ servers: ["tls://203.0.113.7:4222", "tls://203.0.113.8:4222"], tlsCa: ca });
    expect(connectOptionsFor(two, undefined, nats).tls).toEqual({ caFile: ca });
  });
});

describe("credentials files that cannot be used", () => {
  it("names a file it cannot read and why, for each kind", () => {
    for (const [kind, label] of [
      ["token", "token file"],
      ["creds", "creds file"],
      ["nkey", "nkey seed file"],
    ] as const) {
      expect(() => readSecret(binding({ credentials: { kind, file: "/nonexistent/x" } }))).toThrow(
        `cannot read the ${label} /nonexistent/x: ENOENT`,
      );
    }
  });

  it("refuses an empty token file and a creds file with no JWT or seed, without quoting them", () => {
    expect(() => parseSecret("token", "/t", new TextEncoder().encode(" \n"))).toThrow("the token file /t is empty");
    const secretish = "not-a-creds-file-but-secret";
    const error = (() => {
      try {
        parseSecret("creds", "/c", new TextEncoder().encode(secretish));
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/^the creds file \/c holds no JWT\/seed/);
    expect(error?.message).not.toContain(secretish);
    const onlyJwt = "-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n";
    expect(() => parseSecret("creds", "/c", new TextEncoder().encode(onlyJwt))).toThrow("holds no JWT/seed");
  });

  it("refuses an nkey file that holds no user seed", () => {
    expect(() => parseSecret("nkey", "/k", new TextEncoder().encode("UABCDEF"))).toThrow(
      "the nkey seed file /k holds no user seed",
    );
  });

  it("names a TLS CA file it cannot read", () => {
    expect(() => checkCaFile(binding({ tlsCa: "/nonexistent/ca.pem" }))).toThrow(
      "cannot read the TLS CA file /nonexistent/ca.pem: ENOENT",
    );
  });
});
