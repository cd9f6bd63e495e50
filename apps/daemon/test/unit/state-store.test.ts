import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeState, encodeState, type RegistryEntry } from "@claudemesh/registry";
import { afterEach, describe, expect, it, vi } from "vitest";
import { nodeStateFs, type StateFs, StateStore, type StateStoreOptions } from "../../src/state-store.js";
import { RecordingLogger, TempDirs, waitFor } from "./helpers.js";

const dirs = new TempDirs();
const stores: StateStore[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const store of stores.splice(0)) await store.stop();
  dirs.removeAll();
});

function entry(i: number): RegistryEntry {
  return {
    tokenHash: i.toString(16).padStart(64, "0"),
    session: {
      session_id: `s-${i}`,
      mesh: "default",
      display_name: `session ${i}`,
      pid: 100 + i,
      start_time: `boot:${i}`,
      registered_at: 1_700_000_000_000 + i,
      token_prefix: "0123abcd",
    },
  };
}

/** A StateFs in memory that records every write and can be told to fail. */
class MemoryFs implements StateFs {
  readonly files = new Map<string, string>();
  readonly writes: { path: string; text: string; at: number }[] = [];
  attempts = 0;
  failNext = 0;
  onWrite: (() => void) | undefined;

  readFile(path: string): string {
    const text = this.files.get(path);
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    return text;
  }
  writeFileAtomic(path: string, chunks: readonly string[]): void {
    this.attempts++;
    const hook = this.onWrite;
    this.onWrite = undefined;
    hook?.();
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    }
    const text = chunks.join("");
    this.files.set(path, text);
    this.writes.push({ path, text, at: Date.now() });
  }
  rename(from: string, to: string): void {
    const text = this.readFile(from);
    this.files.delete(from);
    this.files.set(to, text);
  }
}

function makeStore(options: Partial<StateStoreOptions> & { snapshot: () => RegistryEntry[] }) {
  const logger = new RecordingLogger();
  const store = new StateStore({ path: "/state/sessions.jsonl", logger, ...options });
  stores.push(store);
  return { store, logger };
}

function savedEntries(text: string | undefined): RegistryEntry[] {
  const decoded = decodeState(text ?? "");
  if (!decoded.ok) throw decoded.error;
  return decoded.entries;
}

describe("StateStore.load", () => {
  it("reports a missing file as missing, logging nothing", () => {
    const dir = dirs.make();
    const { store, logger } = makeStore({ path: join(dir, "sessions.jsonl"), snapshot: () => [] });
    expect(store.load()).toEqual({ kind: "missing" });
    expect(logger.records).toEqual([]);
  });

  it("returns the entries of a valid file", () => {
    const dir = dirs.make();
    const path = join(dir, "sessions.jsonl");
    const entries = [entry(1), entry(2), entry(3)];
    writeFileSync(path, encodeState(entries, 1), { mode: 0o600 });
    const { store, logger } = makeStore({ path, snapshot: () => [] });
    expect(store.load()).toEqual({ kind: "loaded", entries, replayed: { generations: 0, applied: 0, skipped: 0 } });
    expect(readFileSync(path, "utf8")).toBe(encodeState(entries, 1)); // untouched
    expect(logger.at("error")).toEqual([]);
  });

  it.each([
    ["truncated mid-line", encodeState([entry(1), entry(2)], 1).slice(0, -20)],
    [
      "cut at a line boundary",
      encodeState([entry(1), entry(2)], 1)
        .split("\n")
        .slice(0, 2)
        .join("\n")
        .concat("\n"),
    ],
    ["garbage", "\u0000\u0001 this is not a state file\n"],
    ["empty", ""],
  ])("sets a corrupt file (%s) aside, keeping its content, and logs an error", (_, content) => {
    const dir = dirs.make();
    const path = join(dir, "sessions.jsonl");
    writeFileSync(path, content, { mode: 0o600 });
    const { store, logger } = makeStore({ path, snapshot: () => [], now: () => 1_234_567 });

    const result = store.load();

    const aside = `${path}.corrupt-1234567`;
    expect(result).toMatchObject({ kind: "corrupt", setAsidePath: aside });
    expect(result.kind === "corrupt" && result.reason.length > 0).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(readFileSync(aside, "utf8")).toBe(content);
    const errors = logger.at("error");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(/corrupt/);
    expect(errors[0]?.fields).toMatchObject({ path });
  });

  it("reports a corrupt file it could not move aside, logging why", () => {
    const fs = new MemoryFs();
    fs.files.set("/state/sessions.jsonl", "garbage\n");
    fs.rename = () => {
      throw Object.assign(new Error("EROFS: read-only file system"), { code: "EROFS" });
    };
    const { store, logger } = makeStore({ fs, snapshot: () => [] });
    expect(store.load()).toMatchObject({ kind: "corrupt", setAsidePath: null });
    expect(logger.at("error").map((r) => r.msg)).toHaveLength(2);
    expect(logger.at("error")[1]?.fields?.error).toBeInstanceOf(Error);
  });
});

describe("StateStore writes", () => {
  it("coalesces many changes in one tick into exactly one write of the latest state", async () => {
    const fs = new MemoryFs();
    const state: RegistryEntry[] = [];
    const { store } = makeStore({ fs, snapshot: () => [...state], coalesceMs: 5 });
    for (let i = 0; i < 50; i++) {
      state.push(entry(i));
      store.markDirty();
    }
    await waitFor(() => store.writes === 1, "the first write");
    await store.flush(); // nothing may be pending: flush must not write again
    expect(store.writes).toBe(1);
    expect(fs.attempts).toBe(1);
    expect(savedEntries(fs.files.get("/state/sessions.jsonl"))).toEqual(state);
  });

  it("gives a change made during a write its own later write", async () => {
    const fs = new MemoryFs();
    const state = [entry(1)];
    const { store } = makeStore({ fs, snapshot: () => [...state], coalesceMs: 2 });
    fs.onWrite = () => {
      state.push(entry(2));
      store.markDirty();
    };
    store.markDirty();
    await waitFor(() => store.writes === 2, "a second write");
    expect(savedEntries(fs.writes[0]?.text)).toEqual([entry(1)]);
    expect(savedEntries(fs.writes[1]?.text)).toEqual([entry(1), entry(2)]);
    await store.flush();
    expect(store.writes).toBe(2);
  });

  it("logs a failing write and retries with backoff until it works, saving the latest state", async () => {
    const fs = new MemoryFs();
    fs.failNext = 3;
    const attemptsAt: number[] = [];
    const state = [entry(1)];
    const { store, logger } = makeStore({ fs, snapshot: () => [...state], coalesceMs: 1, retryMs: 20 });
    const write = fs.writeFileAtomic.bind(fs);
    fs.writeFileAtomic = (path, chunks) => {
      attemptsAt.push(Date.now());
      if (attemptsAt.length === 2) state.push(entry(2)); // the state moves on while writes fail
      write(path, chunks);
    };

    store.markDirty();
    await waitFor(() => store.writes === 1, "a write that works", 15_000);

    expect(fs.attempts).toBe(4);
    expect(store.failures).toBe(0);
    const errors = logger.at("error");
    expect(errors.map((r) => r.fields?.attempt)).toEqual([1, 2, 3]);
    for (const r of errors) {
      expect(r.msg).toMatch(/could not write the state file/);
      expect(r.fields?.error).toMatchObject({ code: "ENOSPC" });
    }
    expect(logger.at("info").map((r) => r.msg)).toContain("state file writes work again");
    // The retries came later and later (the exact schedule is checked with fake timers below).
    const gaps = attemptsAt.slice(1).map((t, i) => t - (attemptsAt[i] as number));
    expect((gaps[0] as number) + (gaps[1] as number) + (gaps[2] as number)).toBeGreaterThanOrEqual(100);
    expect(savedEntries(fs.files.get("/state/sessions.jsonl"))).toEqual([entry(1), entry(2)]);
  });

  it("backs off exponentially from retryMs, capped at maxRetryMs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const fs = new MemoryFs();
    fs.failNext = 5;
    const { store } = makeStore({ fs, snapshot: () => [entry(1)], coalesceMs: 3, retryMs: 20, maxRetryMs: 50 });
    store.markDirty();
    const expectAttemptAfter = async (ms: number, attempts: number) => {
      await vi.advanceTimersByTimeAsync(ms - 1);
      expect(fs.attempts).toBe(attempts - 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(fs.attempts).toBe(attempts);
    };
    await expectAttemptAfter(3, 1); // the coalescing delay, then a failure
    await expectAttemptAfter(20, 2);
    await expectAttemptAfter(40, 3);
    await expectAttemptAfter(50, 4); // 80, capped
    await expectAttemptAfter(50, 5);
    await expectAttemptAfter(50, 6); // works
    expect(store.writes).toBe(1);
    expect(store.failures).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fs.attempts).toBe(6); // nothing pending, nothing more
  });

  it("counts consecutive failures while writes fail", async () => {
    const fs = new MemoryFs();
    fs.failNext = 1_000;
    const { store } = makeStore({ fs, snapshot: () => [entry(1)], coalesceMs: 1, retryMs: 1, maxRetryMs: 2 });
    store.markDirty();
    await waitFor(() => store.failures >= 3, "three failed attempts");
    expect(store.writes).toBe(0);
    fs.failNext = 0;
    await waitFor(() => store.writes === 1, "recovery");
    expect(store.failures).toBe(0);
  });

  it("flush() writes pending changes at once, without waiting for the coalescing delay", async () => {
    const fs = new MemoryFs();
    const { store } = makeStore({ fs, snapshot: () => [entry(7)], coalesceMs: 60_000 });
    await store.flush();
    expect(store.writes).toBe(0); // nothing pending, nothing written
    store.markDirty();
    await store.flush();
    expect(store.writes).toBe(1);
    expect(savedEntries(fs.files.get("/state/sessions.jsonl"))).toEqual([entry(7)]);
  });

  it("flush() cuts the coalescing wait short and writes every pending change in one write", async () => {
    const fs = new MemoryFs();
    const state = [entry(1)];
    const { store } = makeStore({ fs, snapshot: () => [...state], coalesceMs: 60_000 });
    store.markDirty();
    state.push(entry(2));
    store.markDirty();
    await store.flush();
    expect(store.writes).toBe(1);
    expect(savedEntries(fs.files.get("/state/sessions.jsonl"))).toEqual([entry(1), entry(2)]);
  });

  it("a change made while flush() is writing still gets written", async () => {
    const fs = new MemoryFs();
    const state = [entry(1)];
    const { store } = makeStore({ fs, snapshot: () => [...state], coalesceMs: 2 });
    fs.onWrite = () => {
      state.push(entry(2));
      store.markDirty();
    };
    store.markDirty();
    await store.flush();
    expect(store.writes).toBe(1);
    await waitFor(() => store.writes === 2, "the write of the change made during flush()");
    expect(savedEntries(fs.files.get("/state/sessions.jsonl"))).toEqual([entry(1), entry(2)]);
  });

  it("a flush() whose write fails keeps retrying afterwards", async () => {
    const fs = new MemoryFs();
    fs.failNext = 1;
    const { store, logger } = makeStore({ fs, snapshot: () => [entry(1)], coalesceMs: 60_000, retryMs: 5 });
    store.markDirty();
    await store.flush();
    expect(store.writes).toBe(0);
    expect(store.failures).toBe(1);
    expect(logger.at("error")).toHaveLength(1);
    await waitFor(() => store.writes === 1, "the retry after a failed flush()");
  });

  it("stop() cancels a scheduled write", async () => {
    const fs = new MemoryFs();
    const { store } = makeStore({ fs, snapshot: () => [entry(1)], coalesceMs: 1 });
    store.markDirty();
    store.stop();
    // A timer set after the store's (1 ms) with a later deadline fires after it would have.
    await new Promise((r) => setTimeout(r, 10));
    expect(fs.attempts).toBe(0);
    await store.flush();
    expect(store.writes).toBe(1);
  });
});

describe("nodeStateFs", () => {
  it("writes the file atomically with mode 0600 and leaves no .tmp behind", async () => {
    const dir = dirs.make();
    const path = join(dir, "sessions.jsonl");
    await nodeStateFs.writeFileAtomic(path, ["first\n", "second\n"]);
    expect(readFileSync(path, "utf8")).toBe("first\nsecond\n");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await nodeStateFs.writeFileAtomic(path, ["replaced\n"]);
    expect(readFileSync(path, "utf8")).toBe("replaced\n");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["sessions.jsonl"]);
  });

  it("leaves no .tmp behind when the rename fails", async () => {
    const dir = dirs.make();
    const target = join(dir, "occupied");
    mkdirSync(target);
    writeFileSync(join(target, "inside"), "x");
    await expect(nodeStateFs.writeFileAtomic(target, ["data"])).rejects.toThrow(); // rename(file, dir) fails
    expect(readdirSync(dir)).toEqual(["occupied"]);
  });

  it("round-trips through a real StateStore", async () => {
    const dir = dirs.make();
    const path = join(dir, "sessions.jsonl");
    const state = [entry(1), entry(2)];
    const { store } = makeStore({ path, snapshot: () => state });
    store.markDirty();
    await store.flush();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["sessions.jsonl"]);
    const { store: reader } = makeStore({ path, snapshot: () => [] });
    expect(reader.load()).toEqual({
      kind: "loaded",
      entries: state,
      replayed: { generations: 0, applied: 0, skipped: 0 },
    });
  });
});
