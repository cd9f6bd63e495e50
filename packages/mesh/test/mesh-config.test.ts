import { describe, expect, it } from "vitest";
import {
  decodeMeshConfig,
  EMPTY_MESH_CONFIG,
  encodeMeshConfig,
  parseMeshBinding,
  parseServerUrl,
  withBinding,
  withoutBinding,
} from "../src/mesh-config.js";

const FP = `SHA256:${"A".repeat(43)}`;

function bind(name: string, more: Record<string, unknown> = {}) {
  const parsed = parseMeshBinding({ name, servers: ["nats://127.0.0.1:4222"], ...more }, 1000);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

describe("server addresses", () => {
  it("normalises nats:// and tls:// addresses, with the default port", () => {
    expect(parseServerUrl("nats://127.0.0.1:4333")).toEqual({ ok: true, value: "nats://127.0.0.1:4333" });
    expect(parseServerUrl("hub.example.com")).toEqual({ ok: true, value: "nats://hub.example.com:4222" });
    expect(parseServerUrl("tls://hub.example.com:7422")).toEqual({ ok: true, value: "tls://hub.example.com:7422" });
  });

  it("refuses other schemes, inline credentials, paths and garbage, saying why", () => {
    expect(parseServerUrl("http://x:1")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/unsupported scheme http/),
    });
    expect(parseServerUrl("nats://me:secret@x:1")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/--creds/),
    });
    expect(parseServerUrl("nats://x:1/path")).toMatchObject({ ok: false });
    expect(parseServerUrl("nats://x:99999")).toMatchObject({ ok: false });
    expect(parseServerUrl("::::")).toMatchObject({ ok: false });
  });
});

describe("mesh bindings", () => {
  it("records servers (deduplicated), one credential by path, a CA, trusted members", () => {
    const b = bind("team.a", {
      servers: ["nats://127.0.0.1:4222", "127.0.0.1:4222", "tls://hub:7422"],
      creds: "/home/u/team.creds",
      tlsCa: "/etc/ca.pem",
      trustMembers: [FP, FP],
    });
    expect(b).toEqual({
      name: "team.a",
      servers: ["nats://127.0.0.1:4222", "tls://hub:7422"],
      credentials: { kind: "creds", file: "/home/u/team.creds" },
      tlsCa: "/etc/ca.pem",
      trustMembers: [FP],
      addedAt: 1000,
    });
  });

  it.for([
    [{ name: "Team" }, /mesh name/],
    [{ servers: [] }, /no server/],
    [{ creds: "/a", tokenFile: "/b" }, /one of/],
    [{ tokenFile: "relative/token" }, /absolute/],
    [{ tlsCa: "ca.pem" }, /absolute/],
    [{ trustMembers: ["SHA256:short"] }, /fingerprint/],
  ] as const)("refuses %o", ([input, error]) => {
    const parsed = parseMeshBinding({ name: "m", servers: ["nats://h:1"], ...input }, 0);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.error).toMatch(error);
  });

  it("adding a bound mesh again is refused (nothing is overwritten); removing an unbound one too", () => {
    const one = withBinding(EMPTY_MESH_CONFIG, bind("m"));
    expect(one.ok).toBe(true);
    const config = one.ok ? one.value : EMPTY_MESH_CONFIG;
    expect(withBinding(config, bind("m"))).toMatchObject({ ok: false, error: expect.stringMatching(/already bound/) });
    expect(withoutBinding(config, "m")).toEqual({ ok: true, value: { meshes: [] } });
    expect(withoutBinding(config, "other")).toMatchObject({ ok: false, error: expect.stringMatching(/not bound/) });
  });
});

describe("meshes.json", () => {
  it("round-trips", () => {
    const config = { meshes: [bind("a", { nkeySeedFile: "/k.nk" }), bind("b", { trustMembers: [FP] })] };
    expect(decodeMeshConfig(encodeMeshConfig(config))).toEqual({ ok: true, value: config });
  });

  it("a file it cannot read whole is an error, never an empty config", () => {
    expect(decodeMeshConfig("{")).toMatchObject({ ok: false });
    expect(decodeMeshConfig('{"version":2,"meshes":[]}')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/version 2/),
    });
    expect(decodeMeshConfig('{"version":1,"meshes":[{"name":"m","servers":["ftp://x"]}]}')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^meshes\[0\]: unsupported scheme/),
    });
    const twice = `{"version":1,"meshes":[{"name":"m","servers":["nats://h:1"]},{"name":"m","servers":["nats://h:2"]}]}`;
    expect(decodeMeshConfig(twice)).toMatchObject({ ok: false, error: expect.stringMatching(/twice/) });
    const oddKind =
      '{"version":1,"meshes":[{"name":"m","servers":["nats://h:1"],"credentials":{"kind":"x","file":"/f"}}]}';
    expect(decodeMeshConfig(oddKind)).toMatchObject({ ok: false, error: expect.stringMatching(/credential kind/) });
  });
});
