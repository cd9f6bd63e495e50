// Replaced at build time by tsup with the package's version.
declare const __CLI_VERSION__: string;

export const CLI_VERSION: string = typeof __CLI_VERSION__ === "string" ? __CLI_VERSION__ : "0.0.0-dev";
