// @claudemesh/mesh: sessions as peers, with no I/O. Identity (member and session keys,
// attestations), message envelopes and their signatures, addressing, delivery states, the
// message store with its inboxes, rate limits, and the codec that persists them.
export * from "./address.js";
export * from "./delivery.js";
export * from "./envelope.js";
export * from "./keys.js";
export * from "./member-key.js";
export * from "./mesh-config.js";
export * from "./message-codec.js";
export * from "./nats-allowlist.js";
export * from "./nats-layout.js";
export * from "./presence.js";
export * from "./rate-limit.js";
export * from "./remote-directory.js";
export * from "./remote-presence.js";
export * from "./remote-wire.js";
export * from "./seal.js";
export * from "./service.js";
export * from "./store.js";
export * from "./uuid.js";
export * from "./wire.js";
