// The meshes bound to NATS servers, as `claudemesh mesh add|list|status|remove` change and show
// them: the bindings of meshes.json, and the runtime (RemoteMeshes) serving each one. An add is
// checked (parsed, not bound yet, one connection to its servers) before it is written, and
// written before it is served; a remove is written before the mesh stops being served. Changes
// run one at a time, so two adds of one name cannot both win. The file, the check and the
// clock are injected.
import type { MeshStatusView, MeshView } from "@claudemesh/client";
import {
  EMPTY_MESH_CONFIG,
  type MeshAddInput,
  type MeshBinding,
  type MeshConfig,
  parseMeshBinding,
  withBinding,
  withoutBinding,
} from "@claudemesh/mesh";
import type { Logger } from "../logger.js";
import { BindingsFile, type BindingsFs } from "./bindings-file.js";
import { type CheckFailure, type CheckResult, checkServer } from "./check.js";
import type { RemoteMeshes } from "./remote-meshes.js";

export type MeshRuntime = Pick<RemoteMeshes, "bind" | "unbind" | "status">;

export interface MeshBindingsOptions {
  /** meshes.json */
  readonly path: string;
  readonly logger: Pick<Logger, "info" | "warn" | "error">;
  readonly runtime: MeshRuntime;
  /** The one-shot check an add runs before anything is written. */
  readonly check?: (binding: MeshBinding) => Promise<CheckResult>;
  readonly now?: () => number;
  readonly fs?: BindingsFs;
}

/** Why an add was refused: the input, a name already bound, or the check's reason. */
export type AddRefusal = "invalid" | "already_bound" | CheckFailure;

export type AddResult =
  | { readonly ok: true; readonly binding: MeshBinding }
  | { readonly ok: false; readonly reason: AddRefusal; readonly message: string };

export type RemoveResult =
  | { readonly ok: true; readonly binding: MeshBinding }
  | { readonly ok: false; readonly reason: "not_bound"; readonly message: string };

/** A binding and its runtime's status as the API shows them. Pure. */
export function meshView(binding: MeshBinding, status: MeshStatusView | null | undefined): MeshView {
  return {
    name: binding.name,
    servers: binding.servers,
    credentials: binding.credentials === undefined ? null : { ...binding.credentials },
    tls_ca: binding.tlsCa ?? null,
    trust_members: binding.trustMembers,
    added_at: binding.addedAt,
    status: status ?? null,
  };
}

export const notBoundMessage = (name: string) =>
  `mesh ${name} is not bound to a NATS server (see claudemesh mesh list)`;

export class MeshBindings {
  readonly #runtime: MeshRuntime;
  readonly #logger: MeshBindingsOptions["logger"];
  readonly #check: (binding: MeshBinding) => Promise<CheckResult>;
  readonly #now: () => number;
  readonly #file: BindingsFile;
  #config: MeshConfig = EMPTY_MESH_CONFIG;
  /** The change running now; the next one starts after it. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: MeshBindingsOptions) {
    this.#runtime = options.runtime;
    this.#logger = options.logger;
    this.#check = options.check ?? ((binding) => checkServer(binding));
    this.#now = options.now ?? Date.now;
    this.#file = new BindingsFile({
      path: options.path,
      logger: options.logger,
      now: this.#now,
      ...(options.fs && { fs: options.fs }),
    });
  }

  /** Reads meshes.json and starts serving every binding in it; one that fails to start is logged and skipped. */
  load(): Promise<number> {
    return this.#serialized(async () => {
      const loaded = this.#file.read();
      this.#config = loaded.config;
      let bound = 0;
      for (const binding of loaded.config.meshes) {
        try {
          await this.#runtime.bind(binding);
          bound++;
        } catch (error) {
          this.#logger.error("could not start serving a bound mesh", { mesh: binding.name, error: error as Error });
        }
      }
      if (loaded.config.meshes.length > 0) {
        this.#logger.info("bound meshes loaded", { meshes: loaded.config.meshes.length, serving: bound });
      }
      return bound;
    });
  }

  /** Every binding, in the order they were added. */
  list(): MeshView[] {
    return this.#config.meshes.map((b) => meshView(b, this.#runtime.status(b.name)));
  }

  get(name: string): MeshView | undefined {
    const binding = this.#config.meshes.find((b) => b.name === name);
    return binding === undefined ? undefined : meshView(binding, this.#runtime.status(name));
  }

  /** Parses, refuses a bound name, checks the servers, then records the binding and starts serving it. */
  add(input: MeshAddInput): Promise<AddResult> {
    return this.#serialized(async (): Promise<AddResult> => {
      const parsed = parseMeshBinding(input, this.#now());
      if (!parsed.ok) return { ok: false, reason: "invalid", message: parsed.error };
      const binding = parsed.value;
      const next = withBinding(this.#config, binding);
      if (!next.ok) return { ok: false, reason: "already_bound", message: next.error };
      const checked = await this.#check(binding);
      if (!checked.ok) {
        this.#logger.warn("mesh add refused: the server check failed", {
          mesh: binding.name,
          servers: binding.servers,
          reason: checked.reason,
        });
        return { ok: false, reason: checked.reason, message: checked.message };
      }
      await this.#file.write(next.value);
      this.#config = next.value;
      this.#logger.info("mesh bound", {
        mesh: binding.name,
        servers: binding.servers,
        server: checked.server,
        rtt_ms: checked.rttMs,
      });
      try {
        await this.#runtime.bind(binding);
      } catch (error) {
        // Recorded but not served: the next daemon start tries again; `mesh list` shows no status.
        this.#logger.error("could not start serving a bound mesh", { mesh: binding.name, error: error as Error });
      }
      return { ok: true, binding };
    });
  }

  /** Forgets a binding and stops serving it. */
  remove(name: string): Promise<RemoveResult> {
    return this.#serialized(async (): Promise<RemoveResult> => {
      const binding = this.#config.meshes.find((b) => b.name === name);
      const next = withoutBinding(this.#config, name);
      if (binding === undefined || !next.ok) return { ok: false, reason: "not_bound", message: notBoundMessage(name) };
      await this.#file.write(next.value);
      this.#config = next.value;
      try {
        await this.#runtime.unbind(name);
      } catch (error) {
        this.#logger.error("could not stop serving a mesh", { mesh: name, error: error as Error });
      }
      this.#logger.info("mesh unbound", { mesh: name });
      return { ok: true, binding };
    });
  }

  /** Runs `fn` once every change queued before it has finished (the queue itself never rejects). */
  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
