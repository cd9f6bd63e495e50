import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createExclusive, type LockOwner, ownerVerdict, parseLockOwner, readLockOwner } from "../src/lock-file.js";
import { probeSocket } from "../src/socket-probe.js";

const dir = mkdtempSync(join(tmpdir(), "cmc-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const owner: LockOwner = { pid: 42, start_time: "boot:100", version: "1.0.0", started_at: 1 };

describe("lock file", () => {
  it("parses an owner and refuses anything without a positive integer pid", () => {
    expect(parseLockOwner(JSON.stringify(owner))).toEqual(owner);
    for (const text of ["", "null", "{}", '{"pid":0}', '{"pid":1.5}', '{"pid":"42"}', "garbage"]) {
      expect(parseLockOwner(text), text).toBeUndefined();
    }
    expect(readLockOwner(join(dir, "missing"))).toBeUndefined();
  });

  it.each([
    [undefined, "unknown"],
    [{ state: "unknown", reason: "probe failed" }, "unknown"],
    [{ state: "dead" }, "gone"],
    [{ state: "alive", startTime: "boot:100" }, "alive"],
    [{ state: "alive", startTime: null }, "alive"],
    [{ state: "alive", startTime: "boot:999" }, "replaced"],
  ] as const)("judges a probe result %j as %s", (probed, verdict) => {
    expect(ownerVerdict(owner, probed)).toBe(verdict);
  });

  it("never calls an owner without a recorded start time replaced", () => {
    const legacy = { pid: 42, version: "0", started_at: 1 } as unknown as LockOwner;
    expect(ownerVerdict(legacy, { state: "alive", startTime: "boot:999" })).toBe("alive");
  });

  it("creates a file exclusively, complete or not at all, and leaves no temp file", () => {
    const path = join(dir, "daemon.lock");
    expect(createExclusive(path, "first\n")).toBe(true);
    expect(createExclusive(path, "second\n")).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("first\n");
    expect(() => createExclusive(join(dir, "no", "such", "dir"), "x")).toThrow(/ENOENT/);
  });
});

describe("probeSocket", () => {
  it("tells listening, missing and refused apart", async () => {
    const path = join(dir, "s.sock");
    expect(await probeSocket(path)).toBe("missing");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    expect(await probeSocket(path)).toBe("listening");
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const notSocket = join(dir, "plain");
    writeFileSync(notSocket, "");
    expect(await probeSocket(notSocket)).toBe("refused");
  });
});
