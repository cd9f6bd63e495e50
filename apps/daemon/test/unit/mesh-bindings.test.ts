// MeshBindings with an injected check and runtime: what an add checks and in which order, what
// it writes, what load binds, and that concurrent changes run one at a time.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeMeshConfig, type MeshBinding } from "@claudemesh/mesh";
import { afterEach, describe, expect, it } from "vitest";
import type { CheckResult } from "../../src/nats/check.js";
import { MeshBindings, type MeshRuntime, meshView } from "../../src/nats/mesh-bindings.js";
import type { RemoteMeshStatus } from "../../src/nats/remote-meshes.js";
import { RecordingLogger, TempDirs } from "./helpers.js";

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const FP = `SHA256:${"A".repeat(43)}`;
const OK: CheckResult = { ok: true, server: "127.0.0.1:4222", rttMs: 1, jetstream: true };

/** A runtime that records what it was asked and reports `connected` for what it serves. */
class FakeRuntime implements MeshRuntime {
  readonly calls: string[] = [];
  readonly served = new Map<string, MeshBinding>();
  failBind = new Set<string>();

  async bind(binding: MeshBinding): Promise<void> {
    this.calls.push(`bind ${binding.name}`);
    if (this.failBind.has(binding.name)) throw new Error(`cannot serve ${binding.name}`);
    this.served.set(binding.name, binding);
  }
  async unbind(name: string): Promise<boolean> {
    this.calls.push(`unbind ${name}`);
    return this.served.delete(name);
  }
  status(name: string): RemoteMeshStatus | undefined {
    return this.served.has(name)
      ? { state: "connected", server: "127.0.0.1:4222", rtt_ms: 1, remote_peers: 0, outbox: 0 }
      : undefined;
  }
}

function setup(check: (b: MeshBinding) => Promise<CheckResult> = async () => OK) {
  const path = join(dirs.make(), "meshes.json");
  const logger = new RecordingLogger();
  const runtime = new FakeRuntime();
  const checked: string[] = [];
  const make = () =>
    new MeshBindings({
      path,
      logger,
      runtime,
      now: () => 1_000,
      check: (binding) => {
        checked.push(binding.name);
        runtime.calls.push(`check ${binding.name}`);
        return check(binding);
      },
    });
  return { path, logger, runtime, checked, bindings: make(), make };
}

const stored = (path: string) => {
  const decoded = decodeMeshConfig(readFileSync(path, "utf8"));
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.value.meshes.map((m) => m.name);
};

describe("meshView", () => {
  it("shows a binding in the API's snake_case, with nulls for what is not set", () => {
    const binding: MeshBinding = { name: "a", servers: ["nats://h:1"], trustMembers: [FP], addedAt: 5 };
    expect(meshView(binding, undefined)).toEqual({
      name: "a",
      servers: ["nats://h:1"],
      credentials: null,
      tls_ca: null,
      trust_members: [FP],
      added_at: 5,
      status: null,
    });
    const full = meshView({ ...binding, credentials: { kind: "creds", file: "/c" }, tlsCa: "/ca" }, null);
    expect([full.credentials, full.tls_ca]).toEqual([{ kind: "creds", file: "/c" }, "/ca"]);
  });
});

describe("MeshBindings", () => {
  it("add: parses, checks, writes, then binds; list and get show it with its status", async () => {
    const { path, runtime, bindings } = setup();
    await bindings.load();
    const result = await bindings.add({
      name: "team",
      servers: ["127.0.0.1:4222"],
      tokenFile: "/run/token",
      trustMembers: [FP, FP],
    });
    expect(result).toEqual({
      ok: true,
      binding: {
        name: "team",
        servers: ["nats://127.0.0.1:4222"],
        credentials: { kind: "token", file: "/run/token" },
        trustMembers: [FP],
        addedAt: 1_000,
      },
    });
    expect(runtime.calls).toEqual(["check team", "bind team"]);
    expect(stored(path)).toEqual(["team"]);
    expect(bindings.list().map((m) => [m.name, m.status?.state])).toEqual([["team", "connected"]]);
    expect(bindings.get("team")).toMatchObject({ name: "team", credentials: { kind: "token" }, added_at: 1_000 });
    expect(bindings.get("other")).toBeUndefined();
  });

  it("add: an invalid input is refused before any check, and nothing is written", async () => {
    const { path, runtime, bindings } = setup();
    for (const input of [
      { name: "Bad", servers: ["nats://h:1"] },
      { name: "ok", servers: [] },
      { name: "ok", servers: ["http://h:1"] },
      { name: "ok", servers: ["nats://h:1"], creds: "relative/file" },
      { name: "ok", servers: ["nats://h:1"], creds: "/a", tokenFile: "/b" },
      { name: "ok", servers: ["nats://h:1"], trustMembers: ["nope"] },
    ]) {
      const result = await bindings.add(input);
      expect(result, JSON.stringify(input)).toMatchObject({ ok: false, reason: "invalid" });
    }
    expect(runtime.calls).toEqual([]);
    expect(() => readFileSync(path)).toThrow(/ENOENT/);
  });

  it("add: a failed check is its reason and message, and nothing is written or bound", async () => {
    const { path, runtime, bindings, logger } = setup(async () => ({
      ok: false,
      reason: "auth",
      message: "nats://h:1 refused the credentials in /t",
    }));
    const result = await bindings.add({ name: "team", servers: ["nats://h:1"], tokenFile: "/t" });
    expect(result).toEqual({ ok: false, reason: "auth", message: "nats://h:1 refused the credentials in /t" });
    expect(runtime.calls).toEqual(["check team"]);
    expect(() => readFileSync(path)).toThrow(/ENOENT/);
    expect(bindings.list()).toEqual([]);
    expect(logger.at("warn")[0]?.fields).toMatchObject({ mesh: "team", reason: "auth" });
  });

  it("add: a bound name is refused without a check; remove frees it", async () => {
    const { path, runtime, bindings } = setup();
    expect((await bindings.add({ name: "team", servers: ["nats://h:1"] })).ok).toBe(true);
    const again = await bindings.add({ name: "team", servers: ["nats://other:2"] });
    expect(again).toMatchObject({
      ok: false,
      reason: "already_bound",
      message: expect.stringMatching(/already bound/),
    });
    expect(runtime.calls).toEqual(["check team", "bind team"]);

    expect(await bindings.remove("team")).toMatchObject({ ok: true, binding: { name: "team" } });
    expect(stored(path)).toEqual([]);
    expect(runtime.calls.at(-1)).toBe("unbind team");
    expect(await bindings.remove("team")).toMatchObject({ ok: false, reason: "not_bound" });
    expect((await bindings.add({ name: "team", servers: ["nats://other:2"] })).ok).toBe(true);
  });

  it("runs changes one at a time: of two concurrent adds of one name, exactly one wins", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { path, checked, bindings } = setup(async () => {
      await gate;
      return OK;
    });
    const first = bindings.add({ name: "team", servers: ["nats://a:1"] });
    const second = bindings.add({ name: "team", servers: ["nats://b:1"] });
    await new Promise((r) => setTimeout(r, 20));
    // The second has not even been checked while the first is.
    expect(checked).toEqual(["team"]);
    release();
    const results = await Promise.all([first, second]);
    expect(results.map((r) => (r.ok ? "ok" : r.reason))).toEqual(["ok", "already_bound"]);
    expect(bindings.get("team")?.servers).toEqual(["nats://a:1"]);
    expect(stored(path)).toEqual(["team"]);
  });

  it("a change that throws does not stop the ones queued after it", async () => {
    let calls = 0;
    const { bindings } = setup(async () => {
      calls++;
      if (calls === 1) throw new Error("check blew up");
      return OK;
    });
    const failing = bindings.add({ name: "a", servers: ["nats://h:1"] });
    const next = bindings.add({ name: "b", servers: ["nats://h:1"] });
    await expect(failing).rejects.toThrow("check blew up");
    expect((await next).ok).toBe(true);
  });

  it("load: binds every stored binding, logs and skips one that fails, and a restart sees the same list", async () => {
    const { path, runtime, logger, bindings, make } = setup();
    for (const name of ["a", "b", "c"]) await bindings.add({ name, servers: ["nats://h:1"] });
    runtime.served.clear();
    runtime.calls.length = 0;
    runtime.failBind.add("b");

    const restarted = make();
    expect(await restarted.load()).toBe(2);
    expect(runtime.calls).toEqual(["bind a", "bind b", "bind c"]);
    expect(logger.at("error").map((r) => r.fields?.mesh)).toEqual(["b"]);
    expect(restarted.list().map((m) => [m.name, m.status?.state ?? null])).toEqual([
      ["a", "connected"],
      ["b", null],
      ["c", "connected"],
    ]);
    expect(stored(path)).toEqual(["a", "b", "c"]);
  });

  it("load: a damaged file binds nothing and is kept; the next add replaces it, the copy stays", async () => {
    const { path, runtime, bindings } = setup();
    writeFileSync(path, "{ not json", { mode: 0o600 });
    expect(await bindings.load()).toBe(0);
    expect(bindings.list()).toEqual([]);
    expect(readFileSync(`${path}.damaged-1000`, "utf8")).toBe("{ not json");
    expect((await bindings.add({ name: "team", servers: ["nats://h:1"] })).ok).toBe(true);
    expect(stored(path)).toEqual(["team"]);
    expect(readFileSync(`${path}.damaged-1000`, "utf8")).toBe("{ not json");
    expect(runtime.calls).toEqual(["check team", "bind team"]);
  });
});
