// The journal: every registry change is appended to `sessions.journal.<generation>`, and a
// request that made a change is answered only once its line is written, so a daemon killed
// between two state writes (kill -9, a crash) loses no registration it had acknowledged. The
// first change a request waits for in a turn of the event loop is written at once; the others of
// a busy turn go out together in one write at its end, before any of them is answered (group
// commit: under saturation one write serves many requests). The writes are plain
// writes to the page cache: they survive the process, not a power cut; the state file's
// fsync'd writes, at most a second apart, cover that.
//
// The state file is the checkpoint. Each state write first cuts the journal (later changes go to
// a new generation), records the first generation it does not hold, and once it is safely
// written deletes the generations it holds. At start the daemon replays every generation from
// that one on over the state file (journal-codec.ts). Each generation's file is created ahead of
// its first line, off the event loop (see JournalFs).
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "./logger.js";

/**
 * The file system calls the journal makes, injectable so that faults can be tested.
 *
 * Only appends run on the event loop, each one opening the existing file, writing and closing
 * it: creating and deleting files are metadata changes that can wait behind the state file's
 * fsync for milliseconds, so they happen off the loop; and holding no descriptor between writes
 * leaves the file system free to be remounted (read-only, say) while the daemon runs.
 */
export interface JournalFs {
  /** Creates the file 0600 unless it exists (off the event loop). */
  create(path: string): Promise<void>;
  /** Appends `text`, creating the file 0600 if it must. */
  append(path: string, text: string): void;
  list(dir: string): string[];
  read(path: string): string;
  unlink(path: string): Promise<void>;
}

export const nodeJournalFs: JournalFs = {
  async create(path) {
    await (await open(path, "a", 0o600)).close();
  },
  append(path, text) {
    const fd = openSync(path, "a", 0o600);
    try {
      const bytes = Buffer.from(text, "utf8");
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done);
    } finally {
      closeSync(fd);
    }
  },
  list: (dir) => readdirSync(dir),
  read: (path) => readFileSync(path, "utf8"),
  unlink: (path) => unlink(path),
};

export interface JournalOptions {
  /** Path prefix of the generations: `<prefix>.<n>`. */
  prefix: string;
  logger: Logger;
  fs?: JournalFs;
}

export interface JournalContents {
  /** The texts of the generations read, oldest first. */
  readonly texts: string[];
  readonly generations: number[];
}

export class Journal {
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #fs: JournalFs;
  #generation = 0;
  #linesInGeneration = 0;
  #pending: string[] = [];
  /** The write at the end of this turn, once a change is pending. */
  #endOfTurn: Promise<void> | undefined;
  /** Whether `written()` has written already in this turn (then later callers wait for its end). */
  #wroteThisTurn = false;
  /** The generation whose file is being created ahead of its first line, and that creation. */
  #ahead: { readonly generation: number; readonly created: Promise<void> } | undefined;
  #failures = 0;
  /** After a failed append, lines wait for the next state write (which holds them anyway). */
  #broken = false;

  constructor(options: JournalOptions) {
    this.#prefix = options.prefix;
    this.#logger = options.logger;
    this.#fs = options.fs ?? nodeJournalFs;
  }

  /** Consecutive failed appends (0 once one works again). */
  get failures(): number {
    return this.#failures;
  }

  #pathOf(generation: number): string {
    return `${this.#prefix}.${generation}`;
  }

  /** The generations on disk, oldest first. */
  #generationsOnDisk(): number[] {
    const name = basename(this.#prefix);
    const found: number[] = [];
    let files: string[];
    try {
      files = this.#fs.list(dirname(this.#prefix));
    } catch {
      return found;
    }
    for (const file of files) {
      if (!file.startsWith(`${name}.`)) continue;
      const suffix = file.slice(name.length + 1);
      if (/^\d{1,15}$/.test(suffix)) found.push(Number(suffix));
    }
    return found.sort((a, b) => a - b);
  }

  /**
   * Reads every generation from `from` on (all of them when `from` is undefined: the state file
   * that would say where to start is lost), and makes later appends go to a generation after
   * them. A generation that cannot be read is reported and left in place.
   */
  readFrom(from: number | undefined): JournalContents {
    const texts: string[] = [];
    const generations: number[] = [];
    const onDisk = this.#generationsOnDisk();
    for (const generation of onDisk) {
      if (from !== undefined && generation < from) continue;
      try {
        texts.push(this.#fs.read(this.#pathOf(generation)));
        generations.push(generation);
      } catch (error) {
        this.#logger.error("could not read a journal file; its changes are not restored", {
          path: this.#pathOf(generation),
          error: error as Error,
        });
      }
    }
    this.#generation = Math.max(from ?? 0, (onDisk.at(-1) ?? -1) + 1);
    this.#linesInGeneration = 0;
    this.#prepare(this.#generation);
    return { texts, generations };
  }

  /** Queues a change; it is written by `written()`, or at the end of this turn of the event loop. */
  append(line: string): void {
    this.#pending.push(line);
    this.#endOfTurn ??= new Promise((resolve) => {
      setImmediate(() => {
        this.#endOfTurn = undefined;
        this.#wroteThisTurn = false;
        this.#flush();
        resolve();
      });
    });
  }

  /**
   * Resolves once every change appended so far is written (or its write failed: a failure is
   * logged and the state write keeps the change; it never fails the request that made it).
   *
   * Adaptive group commit: the first caller of a turn of the event loop writes at once, so that
   * at ordinary rates nobody waits for the turn to end (where a slice of a state write may be
   * queued first); later callers of a busy turn share one write at its end.
   */
  written(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    if (!this.#wroteThisTurn) {
      this.#wroteThisTurn = true;
      this.#flush();
      return Promise.resolve();
    }
    return this.#endOfTurn ?? Promise.resolve();
  }

  /**
   * Writes what is pending. A failure (full disk, read-only dir) is logged and counted, never
   * thrown: those changes still reach the next state write, the journal only shortens the window.
   * After a failure the journal rests until that state write (one attempt per write, not one
   * per request on a full disk).
   */
  #flush(): void {
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    this.#pending = [];
    if (this.#broken) return;
    try {
      this.#fs.append(this.#pathOf(this.#generation), `${lines.join("\n")}\n`);
      this.#linesInGeneration += lines.length;
      this.#prepare(this.#generation + 1); // ready by the next cut, at least 25 ms away
      if (this.#failures > 0) this.#logger.info("journal writes work again", { prefix: this.#prefix });
      this.#failures = 0;
    } catch (error) {
      if (this.#failures === 0) {
        this.#logger.error("could not append to the journal; changes wait for the next state write", {
          path: this.#pathOf(this.#generation),
          error: error as Error,
        });
      }
      this.#failures++;
      this.#broken = true;
    }
  }

  /**
   * Starts a new generation for the changes after this point and returns the first generation a
   * state taken now does not hold. Called just before the registry is snapshotted for a state write.
   */
  cut(): number {
    this.#flush();
    // After a failed append the file may end in a cut line: later lines go to a fresh one.
    if (this.#linesInGeneration > 0 || this.#broken) {
      this.#generation++;
      this.#linesInGeneration = 0;
    }
    this.#broken = false;
    return this.#generation;
  }

  /** Deletes the generations below `from`, which a state file now on disk holds (off the loop). */
  async dropBelow(from: number): Promise<void> {
    for (const generation of this.#generationsOnDisk()) {
      if (generation >= from) break;
      try {
        await this.#fs.unlink(this.#pathOf(generation));
      } catch (error) {
        // Harmless: replaying a generation the state file holds changes nothing; the next state
        // write tries again.
        this.#logger.warn("could not delete an old journal file", {
          path: this.#pathOf(generation),
          error: error as Error,
        });
      }
    }
  }

  /**
   * Writes what is pending (shutdown); resolves once no file creation is in flight. With
   * `discard`, when a state file on disk holds every change, deletes every generation, so that a
   * clean stop leaves no journal file behind.
   */
  async close(discard = false): Promise<void> {
    this.#flush();
    await this.#ahead?.created;
    if (discard) await this.dropBelow(Number.POSITIVE_INFINITY);
  }

  /** Starts creating the file of `generation` off the event loop, unless that is under way. */
  #prepare(generation: number): void {
    if (this.#ahead?.generation === generation) return;
    // A failure is of no consequence: the first append creates the file itself, or reports it.
    this.#ahead = { generation, created: this.#fs.create(this.#pathOf(generation)).catch(() => {}) };
  }
}

/** The journal prefix beside a state file: `<dir>/sessions.journal` for `<dir>/sessions.jsonl`. */
export function journalPrefixFor(statePath: string): string {
  return join(dirname(statePath), `${basename(statePath).replace(/\.jsonl$/, "")}.journal`);
}
