// The journal closes the window between two state writes: a change is on disk before its client
// is told (the routes await `recorded()`), a daemon that dies before its next state write gets it
// back at start, and the journal never grows past what the last state write did not hold.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { decodeState, journalLineOf, type RegistryEvent, SessionRegistry } from "@claudemesh/registry";
import { afterEach, describe, expect, it } from "vitest";
import { Journal, type JournalFs, journalPrefixFor, nodeJournalFs } from "../../src/journal.js";
import { StateStore } from "../../src/state-store.js";
import { RecordingLogger, TempDirs, waitFor } from "./helpers.js";

const dirs = new TempDirs();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close(); // no file may still be in creation
  dirs.removeAll();
});

const token = (n: number) => n.toString(16).padStart(64, "0");
const registration = (n: number) => ({
  token: token(n),
  session_id: `s${n}`,
  mesh: "default",
  display_name: `session ${n}`,
  pid: 1000 + n,
});

/** A daemon's persistence in miniature: registry → store (journal + state file) in `dir`. */
function persisted(dir: string, options: { coalesceMs?: number; fs?: JournalFs } = {}) {
  const logger = new RecordingLogger();
  const path = join(dir, "sessions.jsonl");
  const journal = new Journal({ prefix: journalPrefixFor(path), logger, ...(options.fs && { fs: options.fs }) });
  const registry = new SessionRegistry({ now: () => 1_700_000_000_000 });
  const store = new StateStore({
    path,
    logger,
    journal,
    snapshot: () => registry.entries(),
    coalesceMs: options.coalesceMs ?? 60_000, // no state write unless a test flushes
  });
  registry.subscribe((event: RegistryEvent) => {
    const line = journalLineOf(event);
    if (line !== undefined) store.record(line);
  });
  closers.push(() => store.stop());
  return { registry, store, journal, logger, path };
}

/** The files in `dir`, leaving out empty journal generations (created ahead of their first line). */
const files = (dir: string) =>
  readdirSync(dir)
    .filter((name) => !(name.startsWith("sessions.journal.") && statSync(join(dir, name)).size === 0))
    .sort();

describe("journal", () => {
  it("is on disk once recorded() resolves, 0600, and brings every session back after a crash", async () => {
    const dir = dirs.make();
    const before = persisted(dir);
    expect(before.store.load()).toEqual({ kind: "missing" });
    for (let n = 1; n <= 3; n++) before.registry.register(registration(n), `boot:${n}`);
    before.registry.deregister(token(2));
    await before.store.recorded();
    // No state write happened: the journal alone holds the changes, already on disk.
    expect(files(dir)).toEqual(["sessions.journal.0"]);
    expect(statSync(join(dir, "sessions.journal.0")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "sessions.journal.0"), "utf8")).not.toContain(token(1));

    // "kill -9": nothing is flushed or closed; a new daemon loads from the same dir.
    const after = persisted(dir);
    const loaded = after.store.load();
    expect(loaded.kind).toBe("loaded");
    if (loaded.kind !== "loaded") return;
    expect(loaded.entries).toEqual(before.registry.entries());
    expect(loaded.replayed).toEqual({ generations: 1, applied: 4, skipped: 0 });
  });

  it("writes the first awaited change of a turn at once, and the rest of a busy turn together at its end", async () => {
    const dir = dirs.make();
    const writes: string[] = [];
    const fs: JournalFs = {
      ...nodeJournalFs,
      append(path, text) {
        writes.push(text);
        nodeJournalFs.append(path, text);
      },
    };
    const { journal } = persisted(dir, { fs });
    journal.readFrom(0);
    const path = join(dir, "sessions.journal.0");
    await journal.written(); // nothing pending: resolves at once
    journal.append('{"n":1}');
    const first = journal.written();
    expect(writes).toEqual(['{"n":1}\n']); // written before written() returned
    journal.append('{"n":2}');
    journal.append('{"n":3}');
    const rest = journal.written();
    journal.append('{"n":4}');
    expect(writes).toHaveLength(1); // the rest of this turn waits for its end, in one write
    await Promise.all([first, rest]);
    expect(writes).toEqual(['{"n":1}\n', '{"n":2}\n{"n":3}\n{"n":4}\n']);
    // A new turn: its first awaited change is written at once again.
    journal.append('{"n":5}');
    await journal.written();
    expect(writes).toHaveLength(3);
    // Changes nobody awaits (the reaper's removals) are written at the end of their turn.
    journal.append('{"n":6}');
    await waitFor(() => writes.length === 4, "the end-of-turn write");
    expect(readFileSync(path, "utf8").trim().split("\n")).toEqual(
      Array.from({ length: 6 }, (_, i) => `{"n":${i + 1}}`),
    );
  });

  it("a state write cuts the journal and deletes what it holds; later changes start a new generation", async () => {
    const dir = dirs.make();
    const { registry, store, path } = persisted(dir);
    store.load();
    registry.register(registration(1), null);
    registry.register(registration(2), null);
    await store.flush();
    expect(files(dir)).toEqual(["sessions.jsonl"]);
    const saved = decodeState(readFileSync(path, "utf8"));
    expect(saved.ok && saved.journalFrom).toBe(1);
    registry.register(registration(3), null);
    await store.recorded();
    expect(files(dir)).toEqual(["sessions.journal.1", "sessions.jsonl"]);

    const after = persisted(dir);
    const loaded = after.store.load();
    expect(loaded.kind === "loaded" && loaded.entries.map((e) => e.session.session_id)).toEqual(["s1", "s2", "s3"]);
    expect(loaded.kind === "loaded" && loaded.replayed.applied).toBe(1);
  });

  it("keeps every generation while state writes fail, and drops them all after the first that works", async () => {
    const dir = dirs.make();
    const { registry, store, path } = persisted(dir);
    store.load();
    registry.register(registration(1), null);
    mkdirSync(`${path}.tmp`); // the state write's open(temp, "w") now fails with EISDIR
    await store.flush();
    expect(store.failures).toBe(1);
    registry.register(registration(2), null);
    await store.recorded();
    expect(files(dir)).toEqual(["sessions.journal.0", "sessions.journal.1", "sessions.jsonl.tmp"]);
    // A crash now still restores both sessions from the two generations.
    const crashed = persisted(dir).store.load();
    expect(crashed.kind === "loaded" && crashed.entries.length).toBe(2);

    rmSync(`${path}.tmp`, { recursive: true });
    await store.flush();
    expect(store.failures).toBe(0);
    expect(files(dir)).toEqual(["sessions.jsonl"]);
    const saved = decodeState(readFileSync(path, "utf8"));
    expect(saved.ok && saved.entries.length).toBe(2);
  });

  it("gives back what the journal holds when the state file is corrupt", async () => {
    const dir = dirs.make();
    const before = persisted(dir);
    before.store.load();
    before.registry.register(registration(1), null);
    await before.store.recorded();
    writeFileSync(before.path, "garbage\n");
    const loaded = persisted(dir).store.load();
    expect(loaded.kind).toBe("corrupt");
    expect(loaded.kind === "corrupt" && loaded.entries.map((e) => e.session.session_id)).toEqual(["s1"]);
  });

  it("skips a damaged line, logs it, and keeps the changes around it", async () => {
    const dir = dirs.make();
    const before = persisted(dir);
    before.store.load();
    before.registry.register(registration(1), null);
    await before.store.recorded();
    const file = join(dir, "sessions.journal.0");
    writeFileSync(file, `${readFileSync(file, "utf8")}{"op":"put",garbage\n`);
    before.registry.register(registration(2), null);
    await before.store.recorded();
    const after = persisted(dir);
    const loaded = after.store.load();
    expect(loaded.kind === "loaded" && loaded.entries.map((e) => e.session.session_id)).toEqual(["s1", "s2"]);
    expect(loaded.kind === "loaded" && loaded.replayed.skipped).toBe(1);
    expect(after.logger.at("warn")).toMatchObject([{ msg: "skipped a damaged journal line", fields: { line: 2 } }]);
  });

  it("survives a failing disk: logs once, never throws, rests until the next state write", async () => {
    const dir = dirs.make();
    let failing = true;
    let attempts = 0;
    const fs: JournalFs = {
      ...nodeJournalFs,
      append(path, text) {
        attempts++;
        if (failing) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        nodeJournalFs.append(path, text);
      },
    };
    const { registry, store, journal, logger } = persisted(dir, { fs });
    store.load();
    for (let n = 1; n <= 50; n++) {
      registry.register(registration(n), null);
      await store.recorded(); // one write per change, as with requests in separate turns
    }
    expect(registry.size).toBe(50);
    expect(logger.at("error")).toHaveLength(1);
    expect(journal.failures).toBe(1);
    expect(attempts).toBe(1); // one failed attempt, not one per request

    failing = false;
    await store.flush(); // the state write holds all 50 and re-arms the journal
    registry.register(registration(51), null);
    await store.recorded();
    expect(journal.failures).toBe(0);
    expect(logger.at("info").map((r) => r.msg)).toContain("journal writes work again");
    const loaded = persisted(dir).store.load();
    expect(loaded.kind === "loaded" && loaded.entries.length).toBe(51);
  });

  it("creates each generation's file ahead, off the event loop: appends never create one", async () => {
    const dir = dirs.make();
    const created: string[] = [];
    const createdByAppend: string[] = [];
    const fs: JournalFs = {
      ...nodeJournalFs,
      async create(path) {
        await nodeJournalFs.create(path);
        created.push(basename(path));
      },
      append(path, text) {
        if (!existsSync(path)) createdByAppend.push(basename(path));
        nodeJournalFs.append(path, text);
      },
    };
    const { registry, store } = persisted(dir, { fs });
    store.load();
    await waitFor(() => created.includes("sessions.journal.0"), "generation 0 created ahead");
    registry.register(registration(1), null);
    await store.recorded();
    await waitFor(() => created.includes("sessions.journal.1"), "generation 1 created ahead");
    await store.flush(); // cuts: later changes go to generation 1, whose file is ready
    registry.register(registration(2), null);
    await store.recorded();
    expect(createdByAppend).toEqual([]);
    expect(readFileSync(join(dir, "sessions.journal.1"), "utf8")).toContain('"session_id":"s2"');
  });

  it("a stop after a successful state write deletes the journal; a stop with unsaved changes keeps it", async () => {
    const dir = dirs.make();
    const clean = persisted(dir);
    clean.store.load();
    clean.registry.register(registration(1), null);
    await clean.store.flush();
    await clean.store.stop();
    expect(readdirSync(dir)).toEqual(["sessions.jsonl"]);

    const unsaved = persisted(dir);
    unsaved.store.load();
    unsaved.registry.register(registration(2), null);
    await unsaved.store.recorded();
    await unsaved.store.stop(); // no state write since the change: the journal is its only copy
    expect(readFileSync(join(dir, "sessions.journal.1"), "utf8")).toContain('"session_id":"s2"');
    const loaded = persisted(dir).store.load();
    expect(loaded.kind === "loaded" && loaded.entries.map((e) => e.session.session_id)).toEqual(["s1", "s2"]);
  });

  it("ignores files that only look like generations, and appends after the newest one found", async () => {
    const dir = dirs.make();
    for (const name of ["sessions.journal.7", "sessions.journal.x", "sessions.journal.3.tmp", "other.9"]) {
      writeFileSync(join(dir, name), "");
    }
    const { journal } = persisted(dir);
    expect(journal.readFrom(5).generations).toEqual([7]);
    journal.append("{}");
    await journal.written();
    expect(readdirSync(dir)).toContain("sessions.journal.8");
    expect(journalPrefixFor("/d/sessions.jsonl")).toBe("/d/sessions.journal");
  });
});
