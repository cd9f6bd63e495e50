// The nats client, loaded on first use only: a daemon with no bound mesh never pays for it.
// Bundled (apps/cli's tsup, ESM), the CommonJS packages come back as a namespace whose named
// exports esbuild cannot see (they are re-exported at run time), so they are under `default`.
export type NatsModule = typeof import("@nats-io/transport-node");
export type JetStreamModule = typeof import("@nats-io/jetstream");
export type KvModule = typeof import("@nats-io/kv");

/** The module itself, or its `default` when a bundle wrapped it; checked by one export it must have. */
function unwrap<T extends object>(mod: T & { default?: T }, name: string, probe: keyof T): T {
  if (typeof mod[probe] === "function") return mod;
  if (mod.default !== undefined && typeof mod.default[probe] === "function") return mod.default;
  throw new Error(`${name} loaded without ${String(probe)}()`);
}

export async function loadNats(): Promise<NatsModule> {
  return unwrap(await import("@nats-io/transport-node"), "@nats-io/transport-node", "connect");
}

export async function loadJetStream(): Promise<JetStreamModule> {
  return unwrap(await import("@nats-io/jetstream"), "@nats-io/jetstream", "jetstream");
}

export async function loadKv(): Promise<KvModule> {
  return unwrap(await import("@nats-io/kv"), "@nats-io/kv", "Kvm");
}
