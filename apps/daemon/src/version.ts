// Replaced at build time by tsup (and by vitest in tests) with the package's version.
declare const __DAEMON_VERSION__: string;

export const DAEMON_VERSION: string = __DAEMON_VERSION__;
export const IPC_API = "v1";
export const SCHEMA_VERSION = 1;
/** What this daemon can do beyond the v1 base, for clients that want to negotiate. */
export const IPC_FEATURES: readonly string[] = [
  "events",
  "events_replay",
  "metrics",
  "sessions_mesh_filter",
  "presence",
  "peers",
  "session_patch",
  "messages",
  "inbox",
  "events_scoped",
];
