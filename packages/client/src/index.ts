// @claudemesh/client: the daemon's wire definitions and the CLI's side of its Unix-socket API.
export * from "./daemon-dir.js";
export * from "./event-stream.js";
export * from "./format.js";
export * from "./http-client.js";
export * from "./lock-file.js";
export * from "./paths.js";
export * from "./socket-probe.js";
export * from "./sse.js";
export * from "./wire.js";
