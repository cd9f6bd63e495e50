// What the user asked for, independent of how the command line was parsed. Both parsers (the
// fast path and commander) produce one of these; `dispatch` runs it.
import type { Shell } from "./commands/completion.js";
import type { LaunchOptions } from "./commands/launch.js";

export type Invocation =
  | { readonly name: "version" }
  | { readonly name: "launch"; readonly command: readonly string[]; readonly options: LaunchOptions }
  | { readonly name: "sessions list"; readonly options: { readonly mesh?: string; readonly json?: boolean } }
  | { readonly name: "sessions me"; readonly options: { readonly json?: boolean } }
  | { readonly name: "sessions watch"; readonly options: { readonly json?: boolean } }
  | { readonly name: "daemon start"; readonly options: { readonly foreground?: boolean } }
  | { readonly name: "daemon stop" }
  | { readonly name: "daemon restart" }
  | { readonly name: "daemon status"; readonly options: { readonly json?: boolean } }
  | { readonly name: "daemon logs"; readonly options: { readonly follow?: boolean; readonly lines: number } }
  | { readonly name: "daemon install"; readonly options: { readonly force?: boolean; readonly dryRun?: boolean } }
  | { readonly name: "daemon uninstall" }
  | { readonly name: "doctor"; readonly options: { readonly json?: boolean; readonly fix?: boolean } }
  | { readonly name: "completion"; readonly shell: Shell }
  | { readonly name: "__complete"; readonly kind: "sessions" };
