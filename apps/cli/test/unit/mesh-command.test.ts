// `claudemesh mesh …` without a daemon: how commander reads the command lines, what `mesh add`
// sends (paths made absolute, files checked, the binding checked as the daemon will), and the
// rows and fields it prints.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MeshView } from "@claudemesh/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { meshAddRequest, meshFields, meshRow } from "../../src/commands/mesh.js";
import { CliError } from "../../src/exit-codes.js";
import { parseWithCommander } from "../../src/program.js";

const FP = `SHA256:${"A".repeat(43)}`;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cmu-mesh-"));
  dirs.push(dir);
  return dir;
}

/** The exit code and message of a CliError thrown by `fn`. */
function refusal(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof CliError) return { code: error.exitCode, message: error.message };
    throw error;
  }
  throw new Error("expected a CliError");
}

describe("commander reads the mesh commands", () => {
  // Commander writes its usage errors; they are not this test's output.
  beforeEach(() => {
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("add with repeated --nats and --trust-member, and every file option", () => {
    expect(
      parseWithCommander([
        "mesh",
        "add",
        "team",
        "--nats",
        "nats://a:4222",
        "--nats=tls://b:4222",
        "--token-file",
        "t",
        "--tls-ca",
        "ca.pem",
        "--trust-member",
        FP,
      ]),
    ).toStrictEqual({
      name: "mesh add",
      mesh: "team",
      options: { nats: ["nats://a:4222", "tls://b:4222"], tokenFile: "t", tlsCa: "ca.pem", trustMember: [FP] },
    });
    expect(parseWithCommander(["mesh", "add", "team", "--creds", "c", "--nkey-seed-file", "s"])).toMatchObject({
      options: { creds: "c", nkeySeedFile: "s", nats: [], trustMember: [] },
    });
  });

  it("list (and ls), status with and without a name, remove", () => {
    expect(parseWithCommander(["mesh", "list", "--json"])).toStrictEqual({
      name: "mesh list",
      options: { json: true },
    });
    expect(parseWithCommander(["mesh", "ls"])).toStrictEqual({ name: "mesh list", options: {} });
    expect(parseWithCommander(["mesh", "status"])).toStrictEqual({ name: "mesh status", options: {} });
    expect(parseWithCommander(["mesh", "status", "team", "--json"])).toStrictEqual({
      name: "mesh status",
      mesh: "team",
      options: { json: true },
    });
    expect(parseWithCommander(["mesh", "remove", "team"])).toStrictEqual({ name: "mesh remove", mesh: "team" });
  });

  it("refuses a missing name, an unknown option and a missing value with exit 2", () => {
    expect(parseWithCommander(["mesh", "add"])).toBe(2);
    expect(parseWithCommander(["mesh", "add", "team", "--user", "x"])).toBe(2);
    expect(parseWithCommander(["mesh", "add", "team", "--nats"])).toBe(2);
    expect(parseWithCommander(["mesh", "remove"])).toBe(2);
    expect(parseWithCommander(["mesh", "bind", "team"])).toBe(2);
  });
});

describe("meshAddRequest", () => {
  it("makes every path absolute from the current directory, checks it can be read, and keeps the rest", () => {
    const cwd = workDir();
    mkdirSync(join(cwd, "secrets"));
    writeFileSync(join(cwd, "secrets", "token"), "t\n");
    writeFileSync(join(cwd, "ca.pem"), "ca");
    expect(
      meshAddRequest(
        "team",
        { nats: ["a:4222"], tokenFile: "secrets/token", tlsCa: join(cwd, "ca.pem"), trustMember: [FP] },
        cwd,
      ),
    ).toEqual({
      name: "team",
      servers: ["a:4222"],
      token_file: join(cwd, "secrets", "token"),
      tls_ca: join(cwd, "ca.pem"),
      trust_members: [FP],
    });
    expect(meshAddRequest("team", { nats: ["nats://a:1"], trustMember: [] }, cwd)).toEqual({
      name: "team",
      servers: ["nats://a:1"],
    });
  });

  it("refuses with exit 2, before any daemon is asked: a file that is missing, a directory, or unreadable", () => {
    const cwd = workDir();
    mkdirSync(join(cwd, "dir"));
    expect(refusal(() => meshAddRequest("team", { nats: ["a:1"], creds: "absent.creds" }, cwd))).toEqual({
      code: 2,
      message: `--creds ${join(cwd, "absent.creds")}: no such file`,
    });
    expect(refusal(() => meshAddRequest("team", { nats: ["a:1"], tlsCa: "dir" }, cwd))).toEqual({
      code: 2,
      message: `--tls-ca ${join(cwd, "dir")}: not a regular file`,
    });
    expect(
      refusal(() => meshAddRequest("team", { nats: ["a:1"], nkeySeedFile: "seed" }, cwd, () => "not readable")),
    ).toMatchObject({ code: 2, message: expect.stringContaining("--nkey-seed-file") });
    expect(refusal(() => meshAddRequest("team", { nats: ["a:1"], tokenFile: "" }, cwd)).code).toBe(2);
  });

  it("refuses with exit 2 what the daemon would: no server, a bad name or address, two credentials, a bad fingerprint", () => {
    const cwd = workDir();
    writeFileSync(join(cwd, "f"), "x");
    const cases: [string, Parameters<typeof meshAddRequest>[1], RegExp][] = [
      ["team", { nats: [] }, /no server: give --nats/],
      ["team", {}, /no server/],
      ["Team", { nats: ["a:1"] }, /invalid mesh name/],
      ["team", { nats: ["http://a:1"] }, /unsupported scheme/],
      ["team", { nats: ["nats://u:p@a:1"] }, /carries credentials/],
      ["team", { nats: ["a:1"], creds: "f", tokenFile: "f" }, /give one of/],
      ["team", { nats: ["a:1"], trustMember: ["SHA256:short"] }, /not a member fingerprint/],
    ];
    for (const [name, options, message] of cases) {
      const got = refusal(() => meshAddRequest(name, options, cwd));
      expect(got.code, JSON.stringify(options)).toBe(2);
      expect(got.message).toMatch(message);
    }
  });
});

describe("mesh rows and fields", () => {
  const status = { state: "connected", server: "a:4222", rtt_ms: 0.4321, remote_peers: 3, outbox: 2 };
  const view: MeshView = {
    name: "team",
    servers: ["nats://a:4222", "nats://b:4222"],
    credentials: { kind: "creds", file: "/home/u/team.creds" },
    tls_ca: null,
    trust_members: [],
    added_at: 1_000,
    status,
  };

  it("a row: MESH STATE SERVER RTT REMOTE PEERS OUTBOX", () => {
    expect(meshRow(view)).toEqual(["team", "connected", "a:4222", "0.4ms", "3", "2"]);
    expect(meshRow({ ...view, status: { ...status, rtt_ms: 42.6 } })[3]).toBe("43ms");
    expect(meshRow({ ...view, status: { ...status, rtt_ms: 0 } })[3]).toBe("0ms");
    expect(meshRow({ ...view, status: { ...status, rtt_ms: 3 } })[3]).toBe("3ms");
    expect(meshRow({ ...view, status: null })).toEqual(["team", "not served", "nats://a:4222", "-", "0", "0"]);
    expect(
      meshRow({ ...view, status: { state: "connecting", server: null, rtt_ms: null, remote_peers: 0, outbox: 0 } }),
    ).toEqual(["team", "connecting", "nats://a:4222", "-", "0", "0"]);
  });

  it("the fields of one mesh", () => {
    expect(Object.fromEntries(meshFields(view, 61_000))).toEqual({
      mesh: "team",
      state: "connected",
      server: "a:4222",
      rtt: "0.4ms",
      "remote peers": "3",
      outbox: "2",
      servers: "nats://a:4222, nats://b:4222",
      credentials: "creds /home/u/team.creds",
      "tls ca": "-",
      "trusted members": "any",
      added: "1m ago",
    });
  });
});
