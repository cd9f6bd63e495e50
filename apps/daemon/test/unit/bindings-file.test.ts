// meshes.json on disk: atomic 0600 writes, a missing file as no bindings, and a damaged file
// kept (copied aside before anything can overwrite it) and served as no bindings.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeMeshConfig, type MeshBinding } from "@claudemesh/mesh";
import { afterEach, describe, expect, it } from "vitest";
import { BindingsFile, type BindingsFs, nodeBindingsFs } from "../../src/nats/bindings-file.js";
import { RecordingLogger, TempDirs } from "./helpers.js";

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const team: MeshBinding = {
  name: "team",
  servers: ["nats://127.0.0.1:4222"],
  credentials: { kind: "token", file: "/etc/claudemesh/token" },
  trustMembers: [],
  addedAt: 1_700_000_000_000,
};

function setup(fs?: BindingsFs) {
  const dir = dirs.make();
  const path = join(dir, "meshes.json");
  const logger = new RecordingLogger();
  const file = new BindingsFile({ path, logger, now: () => 42, ...(fs && { fs }) });
  return { dir, path, logger, file };
}

describe("BindingsFile", () => {
  it("reads no file as no bindings, and writes nothing for it", () => {
    const { dir, file } = setup();
    expect(file.read()).toEqual({ kind: "missing", config: { meshes: [] } });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("writes atomically with mode 0600 (a stale temp file of another mode is replaced) and reads back what it wrote", async () => {
    const { dir, path, file } = setup();
    writeFileSync(`${path}.tmp`, "half a file", { mode: 0o644 });
    await file.write({ meshes: [team] });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["meshes.json"]);
    expect(readFileSync(path, "utf8")).toBe(encodeMeshConfig({ meshes: [team] }));
    expect(file.read()).toEqual({ kind: "ok", config: { meshes: [team] } });
  });

  it("leaves the old file whole when the write cannot complete", async () => {
    const { path, file } = setup();
    await file.write({ meshes: [team] });
    const before = readFileSync(path, "utf8");
    // Something in the temp file's place that cannot be replaced: the write fails before any rename.
    mkdirSync(`${path}.tmp`);
    writeFileSync(join(`${path}.tmp`, "x"), "");
    await expect(file.write({ meshes: [] })).rejects.toThrow();
    expect(readFileSync(path, "utf8")).toBe(before);
    expect(file.read()).toEqual({ kind: "ok", config: { meshes: [team] } });
  });

  it("writes through a temp file, synced, renamed into place: the real fs leaves no temp behind", async () => {
    const { dir, file } = setup();
    await file.write({ meshes: [team] });
    await file.write({ meshes: [] });
    expect(readdirSync(dir)).toEqual(["meshes.json"]);
    expect(file.read()).toEqual({ kind: "ok", config: { meshes: [] } });
  });

  for (const [what, text] of [
    ["not JSON", "{ half"],
    ["another version", JSON.stringify({ version: 99, meshes: [] })],
    ["a bad binding", JSON.stringify({ version: 1, meshes: [{ name: "Bad Name", servers: ["nats://x:1"] }] })],
  ] as const) {
    it(`keeps a damaged file (${what}) as meshes.json.damaged-<ms>, warns, and serves no bindings`, async () => {
      const { dir, path, logger, file } = setup();
      writeFileSync(path, text, { mode: 0o600 });
      const loaded = file.read();
      expect(loaded).toMatchObject({ kind: "damaged", keptAt: `${path}.damaged-42`, config: { meshes: [] } });
      expect(readFileSync(`${path}.damaged-42`, "utf8")).toBe(text);
      // The original stays where it was until something replaces it.
      expect(readFileSync(path, "utf8")).toBe(text);
      expect(logger.at("warn")).toMatchObject([{ fields: { path, kept_at: `${path}.damaged-42` } }]);

      await file.write({ meshes: [team] });
      expect(file.read()).toMatchObject({ kind: "ok" });
      expect(readdirSync(dir).sort()).toEqual(["meshes.json", "meshes.json.damaged-42"]);
      expect(readFileSync(`${path}.damaged-42`, "utf8")).toBe(text);
    });
  }

  it("refuses to overwrite a damaged file that could not be copied aside, until a copy can be made", async () => {
    let copyWorks = false;
    const { path, logger, file } = setup({
      ...nodeBindingsFs,
      copyFile: (from, to) => {
        if (!copyWorks) throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
        nodeBindingsFs.copyFile(from, to);
      },
    });
    writeFileSync(path, "garbage", { mode: 0o600 });
    expect(file.read()).toMatchObject({ kind: "damaged", keptAt: null });
    expect(logger.at("error")).toHaveLength(1);
    await expect(file.write({ meshes: [team] })).rejects.toThrow(/could not be copied aside/);
    expect(readFileSync(path, "utf8")).toBe("garbage");

    copyWorks = true;
    await file.write({ meshes: [team] });
    expect(readFileSync(`${path}.damaged-42`, "utf8")).toBe("garbage");
    expect(file.read()).toEqual({ kind: "ok", config: { meshes: [team] } });
  });

  it("reads a file it cannot read (a directory in its place) as damaged, never as no bindings", () => {
    const { path, file } = setup();
    mkdirSync(path);
    const loaded = file.read();
    expect(loaded.kind).toBe("damaged");
    expect(existsSync(path)).toBe(true);
  });
});
