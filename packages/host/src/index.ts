// A team's own NATS server for claudemesh (`mesh host|invite|join|revoke`).
export * from "./durations.js";
export * from "./host-dir.js";
export * from "./host-keys.js";
export * from "./host-runtime.js";
export * from "./hosted-mesh.js";
export * from "./join-client.js";
export * from "./join-request.js";
export * from "./join-responder.js";
export * from "./join-string.js";
export * from "./nats-server-process.js";
export * from "./server-config.js";
