// The complete command-line definition (commander): help, examples, usage errors, suggestions
// for mistyped commands. Loaded only when the fast path does not recognise the command line.
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Shell } from "./commands/completion.js";
import type { InboxOptions } from "./commands/inbox.js";
import type { LaunchOptions } from "./commands/launch.js";
import type { MeshAddOptions } from "./commands/mesh.js";
import type { MeshHostOptions, MeshInviteOptions } from "./commands/mesh-host.js";
import type { StatusOptions } from "./commands/peers.js";
import type { SendOptions } from "./commands/send.js";
import { CliError, EXIT } from "./exit-codes.js";
import type { InstallOptions, Invocation } from "./invocation.js";

function example(command: Command, ...lines: string[]): Command {
  return command.addHelpText(
    "after",
    `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`,
  );
}

/** The code of the CommanderError that ends parsing at `--version` (the rest of the line does not matter). */
const VERSION_REQUESTED = "claudemesh.version";

const collect = (value: string, previous: string[]) => [...previous, value];
const count = (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a whole number.");
  return Number(value);
};
const seconds = (value: string) => {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0)
    throw new InvalidArgumentError("expected seconds, more than 0.");
  return Number(value);
};

/** The full command line, with help, examples and suggestions; `invoke` receives the result. */
export function buildProgram(invoke: (inv: Invocation) => void): Command {
  const program = new Command("claudemesh")
    .description("Run many AI coding-agent sessions side by side and keep track of every one of them.")
    // Not commander's .version(), which prints by itself: --version becomes the same invocation
    // as on the fast path, printed by dispatch.
    .option("-V, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .exitOverride();
  program.on("option:version", () => {
    invoke({ name: "version" });
    throw new CommanderError(0, VERSION_REQUESTED, "version requested");
  });

  example(
    program
      .command("launch")
      .summary("run a program as a session (default: claude)")
      .description(
        "Run a program as a claudemesh session: mint its token, make sure the daemon runs, register it, run it.\n" +
          "Everything after `--` goes to the program. For claude (the default) launch also adds the claudemesh MCP " +
          "server, the hooks that surface messages, --session-id (the session's own id) and, with --message-mode push " +
          "(the default), channel wake-ups; the user's own --session-id, --resume, --continue and --mcp-config win.",
      )
      .option("--name <name>", "display name (default: the current directory's name)")
      .option("--mesh <mesh>", "mesh to join (default: $CLAUDEMESH_MESH or default)")
      .option("--role <role>", "role of this session")
      .option("--group <group>", "group to join (repeatable)", collect, [])
      .option("--session-id <id>", "session id (default: a random UUID); an existing one is replaced")
      .option("--summary <text>", "what this session is doing, for its peers (up to 280 characters)")
      .addOption(
        new Option("--inbound <policy>", "messages to this session: accept, hold (pull only) or refuse").choices([
          "accept",
          "hold",
          "refuse",
        ]),
      )
      .addOption(
        new Option(
          "--message-mode <mode>",
          "claude only: how messages reach it: push (channel wake-ups, tools, hooks), pull (tools and hooks) or off",
        ).choices(["push", "pull", "off"]),
      )
      .option("--ask-permission", "claude only: let claude ask before each claudemesh tool call (default: pre-allowed)")
      .argument("[command...]", "the program and its arguments")
      .passThroughOptions()
      .action((command: string[], options: LaunchOptions) => invoke({ name: "launch", command, options })),
    "claudemesh launch",
    "claudemesh launch --name api --mesh backend -- claude --continue",
    "claudemesh launch --role reviewer --message-mode pull",
  );

  const sessions = example(
    program.command("sessions").summary("list and watch sessions").description("List and watch live sessions."),
    "claudemesh sessions list",
    "claudemesh sessions watch",
  );
  example(
    sessions
      .command("list")
      .alias("ls")
      .summary("list every live session")
      .description("List every live session: a table on a terminal, tab-separated lines when piped.")
      .option("--mesh <mesh>", "only sessions of this mesh")
      .option("--json", 'print {"sessions":[…]} as the API returns it')
      .action((options) => invoke({ name: "sessions list", options })),
    "claudemesh sessions list --mesh backend",
  );
  example(
    sessions
      .command("me")
      .summary("show the session this process belongs to")
      .description("Show the session whose token file this process has (exit 4 outside a session).")
      .option("--json", 'print {"session":…}')
      .action((options) => invoke({ name: "sessions me", options })),
    "claudemesh sessions me --json",
  );
  example(
    sessions
      .command("watch")
      .summary("print sessions, then every change as it happens")
      .description("Print the live sessions, then one line per change until interrupted; survives daemon restarts.")
      .option("--json", "print JSON Lines")
      .action((options) => invoke({ name: "sessions watch", options })),
    "claudemesh sessions watch --json | jq .",
  );

  const daemon = example(
    program.command("daemon").summary("manage the background daemon").description("Manage the per-user daemon."),
    "claudemesh daemon status",
    "claudemesh daemon install",
  );
  example(
    daemon
      .command("start")
      .summary("start the daemon")
      .description("Start the daemon in the background (or attached with --foreground, for service managers).")
      .option("--foreground", "run attached, logging to stderr")
      .action((options) => invoke({ name: "daemon start", options })),
    "claudemesh daemon start",
  );
  example(
    daemon
      .command("stop")
      .summary("stop the daemon (sessions are kept)")
      .description("Stop the daemon gracefully; its sessions are saved and restored on the next start.")
      .action(() => invoke({ name: "daemon stop" })),
    "claudemesh daemon stop",
  );
  example(
    daemon
      .command("restart")
      .summary("stop and start the daemon (sessions survive)")
      .description("Stop and start the daemon, e.g. after an upgrade; live sessions survive.")
      .action(() => invoke({ name: "daemon restart" })),
    "claudemesh daemon restart",
  );
  example(
    daemon
      .command("status")
      .summary("is the daemon running? (exit 3 if not)")
      .description("Show whether the daemon runs, its pid, version, uptime, socket, log and session count.")
      .option("--json", "print JSON")
      .action((options) => invoke({ name: "daemon status", options })),
    "claudemesh daemon status --json",
  );
  example(
    daemon
      .command("logs")
      .summary("print the daemon's log")
      .description("Print the end of the daemon's log; -f keeps printing new lines.")
      .option("-f, --follow", "keep printing new lines")
      .addOption(new Option("-n, --lines <n>", "how many lines").argParser(count).default(50))
      .option("--json", "print the log's JSON lines as they are (the default when piped)")
      .action((options) => invoke({ name: "daemon logs", options })),
    "claudemesh daemon logs -f",
  );

  example(
    program
      .command("peers")
      .summary("the other sessions of your mesh, and what they are doing")
      .description(
        "List the peers you can message: inside a session, the other sessions of its mesh; in a plain shell, the " +
          "sessions of --mesh (default $CLAUDEMESH_MESH, else default). A table on a terminal, tab-separated when piped.",
      )
      .option("--mesh <mesh>", "the mesh to list")
      .option("--json", 'print {"peers":[…]} as the API returns it')
      .action((options) => invoke({ name: "peers", options })),
    "claudemesh peers",
    "claudemesh peers --json | jq -r '.peers[].display_name'",
  );
  example(
    program
      .command("send")
      .summary("send a message to a peer")
      .description(
        "Send a message to a session id, a name, @group, role:NAME (exactly one session with that role) or * (every " +
          "other session of the mesh). The text is the remaining words, or stdin when there are none (or -). Prints the " +
          "message id and each recipient's state; --wait waits until every recipient has it surfaced (or acked). " +
          "Exit 4: no such recipient; 2: a name several sessions have (the candidates are listed); 5: --wait timed out.",
      )
      .argument("<to>", "session id, name, @group, role:NAME or *")
      .argument("[text...]", "the message (default: stdin)")
      .addOption(new Option("--priority <priority>", "now, next or low").choices(["now", "next", "low"]))
      .option("--reply-to <id>", "the message this one answers")
      .addOption(new Option("--wait <state>", "wait until surfaced or acked").choices(["surfaced", "acked"]))
      .addOption(new Option("--timeout <seconds>", "how long --wait waits (default 60)").argParser(seconds))
      .option("--mesh <mesh>", "from a plain shell: the mesh to send in (default $CLAUDEMESH_MESH, else default)")
      .option("--json", "print the API's JSON")
      .action((to: string, words: string[], options: SendOptions) => invoke({ name: "send", to, words, options })),
    'claudemesh send api "the schema changed: rebase before you push"',
    "claudemesh send role:reviewer --wait acked --timeout 600 < notes.md",
    "claudemesh send '*' main is broken, do not push",
  );
  example(
    program
      .command("inbox")
      .summary("read this session's messages")
      .description(
        "Print this session's new messages, each framed as a peer message with its sender. Printing marks them " +
          "surfaced (never before the output was written); --ack also acknowledges them. --watch keeps printing new " +
          "ones as they arrive, across daemon restarts. Inside a session only.",
      )
      .option("--all", "every message still kept, not only new ones")
      .option("--watch", "keep printing new messages until interrupted")
      .option("--ack", "acknowledge what is printed")
      .option("--json", 'print {"messages":[…]} (with --watch: one message per line)')
      .action((options: InboxOptions) => invoke({ name: "inbox", options })),
    "claudemesh inbox",
    "claudemesh inbox --watch --ack",
  );
  example(
    program
      .command("status")
      .summary("show or set this session's summary, status and inbound policy")
      .description(
        "Inside a session: show what it says about itself, or set it. --status working|idle|waiting|none; " +
          "--inbound accept (default), hold (kept, never pushed) or refuse (senders see refused).",
      )
      .option("--summary <text>", "what this session is doing (up to 280 characters; empty clears it)")
      .option("--status <status>", "working, idle, waiting, or none")
      .option("--inbound <policy>", "accept, hold or refuse")
      .option("--json", 'print {"session":…}')
      .action((options: StatusOptions) => invoke({ name: "status", options })),
    'claudemesh status --summary "migrating the billing tables" --status working',
  );
  example(
    program
      .command("whoami")
      .summary("who this is: the session (inside one) or the member")
      .description(
        "Inside a session: the session, its key and its member's fingerprint. In a plain shell: the member (this user " +
          "on this machine), by its fingerprint.",
      )
      .option("--json", 'print {"session":…|null,"member":…}')
      .action((options) => invoke({ name: "whoami", options })),
    "claudemesh whoami",
  );
  example(
    program
      .command("message")
      .summary("the delivery states of a message you sent")
      .description(
        "Show, for each recipient of a message you sent, its state: accepted, delivered, surfaced, acked, refused, expired.",
      )
      .argument("<id>", "the message id `send` printed")
      .option("--json", 'print {"message":…}')
      .action((id: string, options) => invoke({ name: "message", id, options })),
    "claudemesh message 0193e2c1-4b5a-7c00-8a3e-1f2b3c4d5e6f",
  );

  const mesh = example(
    program
      .command("mesh")
      .summary("bind meshes to NATS servers, so that they span machines")
      .description(
        "A mesh is local to this machine until it is bound to a NATS server; then the sessions of every daemon " +
          "bound to it are peers, and messages between machines are end-to-end encrypted. Secrets stay in files: " +
          "the daemon records their paths, never their contents.",
      ),
    "claudemesh mesh add team --nats nats://nats.example.com:4222 --creds ~/team.creds",
    "claudemesh mesh status",
  );
  example(
    mesh
      .command("add")
      .summary("bind a mesh to NATS servers (checked before it is recorded)")
      .description(
        "Bind a mesh to one or more NATS servers. The daemon connects once first: the servers must accept the " +
          "credentials and have JetStream, or nothing is recorded (exit 1, with what to fix). Give at most one of " +
          "--creds, --token-file and --nkey-seed-file; relative paths are taken from the current directory. With " +
          "--trust-member, presence and messages of other member keys are ignored.",
      )
      .argument("<name>", "the mesh (1–64 of a-z 0-9 . _ -)")
      .option("--nats <url>", "a server, nats://HOST:PORT or tls://HOST:PORT (repeatable)", collect, [])
      .option("--creds <file>", "a NATS user creds file (as nsc writes it)")
      .option("--token-file <file>", "a file holding the server's token")
      .option("--nkey-seed-file <file>", "a file holding a user nkey seed (SU…)")
      .option("--tls-ca <file>", "the CA that signed the server's certificate")
      .option(
        "--trust-member <fingerprint>",
        "a member key to trust, SHA256:… as whoami shows it (repeatable)",
        collect,
        [],
      )
      .option("--json", "print the bound mesh as the API returns it")
      .action((name: string, options: MeshAddOptions) => invoke({ name: "mesh add", mesh: name, options })),
    "claudemesh mesh add team --nats nats://10.0.0.5:4222 --token-file ~/.config/claudemesh/team.token",
    "claudemesh mesh add team --nats tls://nats.example.com:4222 --creds team.creds --tls-ca ca.pem",
  );
  example(
    mesh
      .command("list")
      .alias("ls")
      .summary("every bound mesh and its link")
      .description(
        "List the meshes bound to NATS servers: MESH, STATE, SERVER, RTT, REMOTE PEERS, OUTBOX (messages to other " +
          "machines not yet stored by the server). A table on a terminal, tab-separated when piped.",
      )
      .option("--json", 'print {"meshes":[…]} as the API returns it')
      .action((options) => invoke({ name: "mesh list", options })),
    "claudemesh mesh list --json",
  );
  example(
    mesh
      .command("status")
      .summary("one bound mesh's link and binding (or every mesh)")
      .description(
        "Show a bound mesh: its link's state, server, round trip, remote peers and outbox, then its servers, " +
          "credentials file, CA and trusted members. Without a name, every bound mesh as `mesh list` shows them. " +
          "Exit 4 when the mesh is not bound.",
      )
      .argument("[name]", "the mesh")
      .option("--json", 'print the mesh (or {"meshes":[…]}) as the API returns it')
      .action((name: string | undefined, options) =>
        invoke({ name: "mesh status", ...(name !== undefined && { mesh: name }), options }),
      ),
    "claudemesh mesh status team",
  );
  example(
    mesh
      .command("remove")
      .summary("unbind a mesh: it is local to this machine again")
      .description("Unbind a mesh from its NATS servers; its remote peers disappear. Exit 4 when it is not bound.")
      .argument("<name>", "the mesh")
      .action((name: string) => invoke({ name: "mesh remove", mesh: name })),
    "claudemesh mesh remove team",
  );
  example(
    mesh
      .command("host")
      .summary("run a NATS server for a mesh, in the foreground, and bind this machine to it")
      .description(
        "Run a nats-server set up for the mesh: JetStream, and NATS's own decentralized auth (an operator, an " +
          "account for the mesh, a signing key) kept in --dir (default ~/.claudemesh/host/NAME, 0700). This " +
          "machine's daemon is bound to it as the first member. Invite others with `mesh invite`. Runs until " +
          "Ctrl-C or SIGTERM; the keys and every member's credential survive restarts. Needs nats-server on PATH.",
      )
      .argument("<name>", "the mesh (1–64 of a-z 0-9 . _ -)")
      .option("--listen <host:port>", "where the server listens (default 0.0.0.0:4222, or the last run's)")
      .option(
        "--advertise <url>",
        "the address members dial, nats://HOST:PORT (repeatable; default from --listen)",
        collect,
        [],
      )
      .option("--dir <dir>", "the host dir (keys, server config, invites, members)")
      .option("--nats-server <path>", "the nats-server program (default: from PATH)")
      .option("--install", "write and start a login service (systemd user unit, launchd agent) that runs this instead")
      .option("--uninstall", "stop and remove that service")
      .option("--dry-run", "with --install: print the service file, change nothing")
      .option("--force", "with --install: install even inside CI")
      .action((name: string, options: MeshHostOptions) => invoke({ name: "mesh host", mesh: name, options })),
    "claudemesh mesh host team",
    "claudemesh mesh host team --listen 0.0.0.0:4222 --advertise nats://build-box.lan:4222",
    "claudemesh mesh host team --install",
  );
  example(
    mesh
      .command("invite")
      .summary("print a join string for one more machine (good once, until it expires)")
      .description(
        "Mint an invite for a mesh this machine hosts and print its join string: a secret, like a password, " +
          "until it is used or expires. `mesh join` on the other machine redeems it for a credential that lets " +
          "that daemon do only what a daemon needs. Exit 4 when this machine hosts no such mesh.",
      )
      .argument("<name>", "the hosted mesh")
      .option("--expires <duration>", "how long it stays good: 30m, 12h, 7d (default 7d)")
      .option("--dir <dir>", "the host dir (default ~/.claudemesh/host/NAME)")
      .option("--json", "print {mesh, id, expires_at, join}")
      .action((name: string, options: MeshInviteOptions) => invoke({ name: "mesh invite", mesh: name, options })),
    "claudemesh mesh invite team --expires 1d",
  );
  example(
    mesh
      .command("join")
      .summary("join a mesh with the string `mesh invite` printed")
      .description(
        "Redeem a join string: ask the mesh's host for a credential of this daemon's own (its seed is made here " +
          "and never sent), keep it in the daemon dir (0600) and bind the mesh. Exit 2 for a damaged string, 1 " +
          "when the server or host refuses it (expired, revoked, used) or cannot be reached.",
      )
      .argument("<join-string>", "what mesh invite printed (claudemesh-join:1:…)")
      .option("--json", "print the bound mesh as the API returns it")
      .action((join: string, options: { json?: boolean }) => invoke({ name: "mesh join", join, options })),
    "claudemesh mesh join claudemesh-join:1:eyJ2Ijox…",
  );
  example(
    mesh
      .command("revoke")
      .summary("take back a member's credential or an unused invite")
      .description(
        "Revoke a member of a mesh this machine hosts (by fingerprint SHA256:… or daemon id) or an invite (by its " +
          "id): the server refuses it from now on and closes its connections. Exit 4 when nothing has that name.",
      )
      .argument("<name>", "the hosted mesh")
      .argument("<who>", "a member fingerprint, a daemon id, or an invite id")
      .option("--dir <dir>", "the host dir (default ~/.claudemesh/host/NAME)")
      .action((name: string, who: string, options: { dir?: string }) =>
        invoke({ name: "mesh revoke", mesh: name, who, options }),
      ),
    "claudemesh mesh revoke team SHA256:3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  );
  example(
    daemon
      .command("install")
      .summary("start the daemon at login (systemd or launchd)")
      .description(
        "Run the daemon as a login service, started at login and restarted when it fails: a systemd user " +
          "unit on Linux (~/.config/systemd/user/claudemesh.service), a launchd agent on macOS " +
          "(~/Library/LaunchAgents/dev.claudemesh.daemon.plist); then enable and start it. When the service " +
          "manager cannot be reached, the file is kept and the commands to run are printed. Refused inside CI " +
          "(CI set) unless --force.",
      )
      .option("--force", "install even inside CI")
      .option("--dry-run", "print the unit (or plist) and write nothing")
      .action((options) => invoke({ name: "daemon install", options })),
    "claudemesh daemon install --dry-run",
    "claudemesh daemon install",
  );
  example(
    daemon
      .command("uninstall")
      .summary("stop and remove the login service")
      .description("Stop and disable the login service and remove its file; the daemon then starts on demand again.")
      .action(() => invoke({ name: "daemon uninstall" })),
    "claudemesh daemon uninstall",
  );

  example(
    program
      .command("doctor")
      .summary("find and explain problems with the daemon's setup")
      .description(
        "Check the daemon dir (owner, mode), the socket path length, stale lock and socket files, duplicate " +
          "daemons, the daemon's version and the login service; say what is wrong and how to fix it. Exit 1 " +
          "when a check fails. --fix repairs only what is safe: the dir's mode, and a lock or socket proven " +
          "stale. Piped: one line per check, status<TAB>check<TAB>finding<TAB>fix.",
      )
      .option("--json", 'print {"checks":[{name,status,finding,fix}…]}')
      .option("--fix", "repair what is safe to repair, then check again")
      .action((options) => invoke({ name: "doctor", options })),
    "claudemesh doctor",
    "claudemesh doctor --fix",
  );

  example(
    program
      .command("completion")
      .summary("print a shell completion script")
      .description("Print the completion script for bash, zsh or fish: commands, options, and live session ids.")
      .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(["bash", "zsh", "fish"]))
      .action((shell: Shell) => invoke({ name: "completion", shell })),
    "source <(claudemesh completion bash)    # in ~/.bashrc (zsh: the same, in ~/.zshrc)",
    "claudemesh completion fish > ~/.config/fish/completions/claudemesh.fish",
  );
  example(
    program
      .command("install")
      .summary("register the claudemesh MCP server with Claude Code")
      .description(
        "Register `claudemesh mcp` with Claude Code (through `claude mcp add`), so that claude started without " +
          "`claudemesh launch` still has the mesh tools (they work inside launched sessions). Idempotent. --print " +
          "shows the command instead of running it.",
      )
      .addOption(
        new Option("--scope <scope>", "user (every project), project (.mcp.json) or local (this project, you)")
          .choices(["user", "project", "local"])
          .default("user"),
      )
      .option("--print", "print the claude command instead of running it")
      .action((options: InstallOptions) => invoke({ name: "install", options })),
    "claudemesh install",
    "claudemesh install --scope project --print",
  );
  example(
    program
      .command("uninstall")
      .summary("remove the claudemesh MCP server from Claude Code")
      .description("Remove what `claudemesh install` registered (through `claude mcp remove`). Idempotent.")
      .addOption(
        new Option("--scope <scope>", "user, project or local").choices(["user", "project", "local"]).default("user"),
      )
      .option("--print", "print the claude command instead of running it")
      .action((options: InstallOptions) => invoke({ name: "uninstall", options })),
    "claudemesh uninstall",
  );
  example(
    program
      .command("mcp")
      .summary("serve the mesh to an agent as an MCP server (stdio)")
      .description(
        "Run the claudemesh MCP server on stdin/stdout: tools mesh_peers, mesh_send, mesh_inbox, mesh_ack, " +
          "mesh_status and mesh_whoami, and Claude Code channel wake-ups for new messages. Started by the agent " +
          "(claude under `claudemesh launch`, or any MCP client configured to run it), not by hand.",
      )
      .action(() => invoke({ name: "mcp" })),
    "claude mcp add --scope user claudemesh -- claudemesh mcp",
  );
  example(
    program
      .command("hook")
      .summary("what Claude Code's hooks run (SessionStart, UserPromptSubmit, PostToolUse, Stop)")
      .description(
        "Read a Claude Code hook's JSON on stdin and answer it: pending messages as additional context " +
          "(SessionStart, UserPromptSubmit, PostToolUse), status working (UserPromptSubmit) or idle (Stop). Outside " +
          "a session, or without a daemon, it prints nothing and exits 0: a hook never breaks the agent.",
      )
      .argument("<event>", "the hook event name")
      .action((event: string) => invoke({ name: "hook", event })),
    'echo \'{"hook_event_name":"UserPromptSubmit","prompt":"hi"}\' | claudemesh hook UserPromptSubmit',
  );
  // What the completion scripts call: fast, silent, and never starts a daemon.
  program
    .command("__complete", { hidden: true })
    .addArgument(new Argument("<kind>").choices(["sessions"]))
    .action((kind: "sessions") => invoke({ name: "__complete", kind }));
  return program;
}

/**
 * Parses argv with commander. Resolves with the invocation, or with an exit code when commander
 * handled the command line itself (help, version, a usage error it already printed).
 */
export function parseWithCommander(argv: readonly string[]): Invocation | number {
  let invocation: Invocation | undefined;
  const program = buildProgram((inv) => {
    invocation = inv;
  });
  try {
    program.parse([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === VERSION_REQUESTED && invocation !== undefined) return invocation;
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`claudemesh: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
  return invocation ?? EXIT.usage;
}
