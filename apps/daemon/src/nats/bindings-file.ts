// meshes.json in the daemon dir: which meshes are bound to NATS servers, read and written with
// the pure codec of @claudemesh/mesh. A write is atomic (temp file, fsync, rename, 0600), so a
// crash leaves the old file or the new one. A file that does not decode is never served and never
// lost: it is copied to `meshes.json.damaged-<ms>` as soon as it is read, and nothing overwrites
// it unless that copy exists.
import { constants, copyFileSync, readFileSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { decodeMeshConfig, EMPTY_MESH_CONFIG, encodeMeshConfig, type MeshConfig } from "@claudemesh/mesh";
import { fsyncDir } from "../fsync-dir.js";
import type { Logger } from "../logger.js";

export type LoadedBindings =
  | { readonly kind: "missing"; readonly config: MeshConfig }
  | { readonly kind: "ok"; readonly config: MeshConfig }
  /** Served as no bindings; `keptAt` is the copy of the damaged file (null when it could not be made). */
  | { readonly kind: "damaged"; readonly reason: string; readonly keptAt: string | null; readonly config: MeshConfig };

/** The file system calls, injectable so that faults can be tested. */
export interface BindingsFs {
  /** The file's text; throws (ENOENT when there is none). */
  readFile(path: string): string;
  /** Copies `from` to `to`, failing if `to` exists. */
  copyFile(from: string, to: string): void;
  /** Writes a temp file (0600), syncs it, renames it over `path`, syncs the dir. */
  writeFileAtomic(path: string, text: string): Promise<void>;
}

export const nodeBindingsFs: BindingsFs = {
  readFile: (path) => readFileSync(path, "utf8"),
  copyFile: (from, to) => copyFileSync(from, to, constants.COPYFILE_EXCL),
  async writeFileAtomic(path, text) {
    const temp = `${path}.tmp`;
    try {
      // A temp file left by a crash is replaced, not reused with whatever mode it had.
      await unlink(temp).catch(() => {});
      const file = await open(temp, "wx", 0o600);
      try {
        await file.chmod(0o600); // the umask may have narrowed it, never widened; be exact
        await file.writeFile(text, "utf8");
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => {}); // a half-written temp file must not linger
      throw error;
    }
    await fsyncDir(path);
  },
};

export interface BindingsFileOptions {
  readonly path: string;
  readonly logger: Pick<Logger, "info" | "warn" | "error">;
  readonly now?: () => number;
  readonly fs?: BindingsFs;
}

export class BindingsFile {
  readonly path: string;
  readonly #logger: BindingsFileOptions["logger"];
  readonly #now: () => number;
  readonly #fs: BindingsFs;
  /** Set while the file on disk is a damaged one that has not been copied aside yet. */
  #unkept: string | undefined;

  constructor(options: BindingsFileOptions) {
    this.path = options.path;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#fs = options.fs ?? nodeBindingsFs;
  }

  /** Reads the bindings. Never throws: a missing file is no bindings, a damaged one is kept and served as none. */
  read(): LoadedBindings {
    let text: string;
    try {
      text = this.#fs.readFile(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        this.#unkept = undefined;
        return { kind: "missing", config: EMPTY_MESH_CONFIG };
      }
      return this.#damaged(`cannot be read: ${(error as Error).message}`);
    }
    const decoded = decodeMeshConfig(text);
    if (!decoded.ok) return this.#damaged(decoded.error);
    this.#unkept = undefined;
    return { kind: "ok", config: decoded.value };
  }

  /** Replaces the file with `config`; refuses while a damaged file could not be copied aside. */
  async write(config: MeshConfig): Promise<void> {
    if (this.#unkept !== undefined) this.#keep();
    if (this.#unkept !== undefined) {
      throw new Error(
        `${this.path} is damaged and could not be copied aside; move it away by hand before changing the bound meshes`,
      );
    }
    await this.#fs.writeFileAtomic(this.path, encodeMeshConfig(config));
    this.#unkept = undefined;
  }

  #damaged(reason: string): LoadedBindings {
    this.#unkept = reason;
    const keptAt = this.#keep();
    this.#logger.warn("meshes.json is damaged: no mesh is bound to NATS until it is fixed or replaced", {
      path: this.path,
      reason,
      kept_at: keptAt,
    });
    return { kind: "damaged", reason, keptAt, config: EMPTY_MESH_CONFIG };
  }

  /** Copies the damaged file aside; its path, or null when that failed (logged). */
  #keep(): string | null {
    const aside = `${this.path}.damaged-${this.#now()}`;
    try {
      this.#fs.copyFile(this.path, aside);
      this.#unkept = undefined;
      return aside;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") {
        // Copied within the same millisecond already.
        this.#unkept = undefined;
        return aside;
      }
      if (code === "ENOENT") {
        // Gone meanwhile: nothing is left to lose.
        this.#unkept = undefined;
        return null;
      }
      this.#logger.error("could not keep a copy of the damaged meshes.json", {
        path: this.path,
        error: error as Error,
      });
      return null;
    }
  }
}
