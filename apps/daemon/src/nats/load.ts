// The nats client, loaded on first use only: a daemon with no bound mesh never pays for it.
// Bundled (apps/cli's tsup, ESM), the CommonJS package comes back as a namespace whose named
// exports esbuild cannot see (they are re-exported at run time), so they are under `default`.
export type NatsModule = typeof import("@nats-io/transport-node");

export async function loadNats(): Promise<NatsModule> {
  const mod = (await import("@nats-io/transport-node")) as NatsModule & { default?: NatsModule };
  if (typeof mod.connect === "function") return mod;
  if (mod.default !== undefined && typeof mod.default.connect === "function") return mod.default;
  throw new Error("@nats-io/transport-node loaded without connect()");
}
