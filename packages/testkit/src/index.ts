// @claudemesh/testkit: the primitives every suite's harness binds to its own package.
export * from "./daemon.js";
export * from "./http.js";
export * from "./nats.js";
export * from "./nats-cluster.js";
export * from "./processes.js";
export * from "./run.js";
export * from "./temp.js";
export * from "./wait.js";
