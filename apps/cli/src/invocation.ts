// What the user asked for, independent of how the command line was parsed. Both parsers (the
// fast path and commander) produce one of these; `dispatch` runs it.
import type { McpScope } from "./claude-code.js";
import type { Shell } from "./commands/completion.js";
import type { InboxOptions } from "./commands/inbox.js";
import type { LaunchOptions } from "./commands/launch.js";
import type { MeshAddOptions } from "./commands/mesh.js";
import type { MeshHostOptions, MeshInviteOptions } from "./commands/mesh-host.js";
import type { StatusOptions } from "./commands/peers.js";
import type { SendOptions } from "./commands/send.js";

/** `claudemesh install|uninstall`: where Claude Code keeps the server (its `claude mcp add --scope`). */
export interface InstallOptions {
  readonly scope: McpScope;
  /** Show the `claude mcp …` command instead of running it. */
  readonly print?: boolean;
}

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
  | {
      readonly name: "daemon logs";
      readonly options: { readonly follow?: boolean; readonly lines: number; readonly json?: boolean };
    }
  | { readonly name: "peers"; readonly options: { readonly mesh?: string; readonly json?: boolean } }
  | { readonly name: "whoami"; readonly options: { readonly json?: boolean } }
  | { readonly name: "status"; readonly options: StatusOptions }
  | { readonly name: "send"; readonly to: string; readonly words: readonly string[]; readonly options: SendOptions }
  | { readonly name: "inbox"; readonly options: InboxOptions }
  | { readonly name: "message"; readonly id: string; readonly options: { readonly json?: boolean } }
  | { readonly name: "mesh add"; readonly mesh: string; readonly options: MeshAddOptions }
  | { readonly name: "mesh list"; readonly options: { readonly json?: boolean } }
  | { readonly name: "mesh status"; readonly mesh?: string; readonly options: { readonly json?: boolean } }
  | { readonly name: "mesh remove"; readonly mesh: string }
  | { readonly name: "mesh host"; readonly mesh: string; readonly options: MeshHostOptions }
  | { readonly name: "mesh invite"; readonly mesh: string; readonly options: MeshInviteOptions }
  | { readonly name: "mesh join"; readonly join: string; readonly options: { readonly json?: boolean } }
  | {
      readonly name: "mesh revoke";
      readonly mesh: string;
      readonly who: string;
      readonly options: { readonly dir?: string };
    }
  | { readonly name: "daemon install"; readonly options: { readonly force?: boolean; readonly dryRun?: boolean } }
  | { readonly name: "daemon uninstall" }
  | { readonly name: "doctor"; readonly options: { readonly json?: boolean; readonly fix?: boolean } }
  | { readonly name: "completion"; readonly shell: Shell }
  | { readonly name: "__complete"; readonly kind: "sessions" }
  | { readonly name: "mcp" }
  | { readonly name: "hook"; readonly event: string }
  | { readonly name: "install"; readonly options: InstallOptions }
  | { readonly name: "uninstall"; readonly options: InstallOptions };
