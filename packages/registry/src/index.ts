export * from "./codec.js";
export * from "./identity/index.js";
export * from "./journal-codec.js";
export * from "./model.js";
export * from "./reaper.js";
export * from "./registry.js";
export * from "./slicing.js";
export * from "./token.js";
