// Runs an invocation. Each command's code is imported only when that command runs.
import { SocketPathTooLongError } from "@claudemesh/client";
import type { CliContext } from "./context.js";
import { CliError, EXIT } from "./exit-codes.js";
import type { Invocation } from "./invocation.js";
import { CLI_VERSION } from "./version.js";

async function execute(ctx: CliContext, inv: Invocation): Promise<number> {
  switch (inv.name) {
    case "version":
      ctx.stdout.write(`claudemesh ${CLI_VERSION}\n`);
      return EXIT.ok;
    case "launch":
      return (await import("./commands/launch.js")).launch(ctx, inv.command, inv.options);
    case "sessions list":
      return (await import("./commands/sessions.js")).listSessions(ctx, inv.options);
    case "sessions me":
      return (await import("./commands/sessions.js")).showMe(ctx, inv.options);
    case "sessions watch":
      return (await import("./commands/watch.js")).watchSessions(ctx, inv.options);
    case "daemon start": {
      const commands = await import("./commands/daemon.js");
      return inv.options.foreground ? commands.startForeground(ctx) : commands.startCommand(ctx);
    }
    case "daemon stop":
      return (await import("./commands/daemon.js")).stopCommand(ctx);
    case "daemon restart":
      return (await import("./commands/daemon.js")).restartCommand(ctx);
    case "daemon status":
      return (await import("./commands/daemon.js")).statusCommand(ctx, inv.options);
    case "daemon logs":
      return (await import("./commands/daemon.js")).logsCommand(ctx, inv.options);
    case "daemon install":
      return (await import("./commands/service.js")).installCommand(ctx, inv.options);
    case "daemon uninstall":
      return (await import("./commands/service.js")).uninstallCommand(ctx);
    case "peers":
      return (await import("./commands/peers.js")).peersCommand(ctx, inv.options);
    case "whoami":
      return (await import("./commands/peers.js")).whoamiCommand(ctx, inv.options);
    case "status":
      return (await import("./commands/peers.js")).statusCommand(ctx, inv.options);
    case "send":
      return (await import("./commands/send.js")).sendCommand(ctx, inv.to, inv.words, inv.options);
    case "inbox":
      return (await import("./commands/inbox.js")).inboxCommand(ctx, inv.options);
    case "message":
      return (await import("./commands/send.js")).messageCommand(ctx, inv.id, inv.options);
    case "mesh add":
      return (await import("./commands/mesh.js")).meshAddCommand(ctx, inv.mesh, inv.options);
    case "mesh list":
      return (await import("./commands/mesh.js")).meshListCommand(ctx, inv.options);
    case "mesh status":
      return (await import("./commands/mesh.js")).meshStatusCommand(ctx, inv.mesh, inv.options);
    case "mesh remove":
      return (await import("./commands/mesh.js")).meshRemoveCommand(ctx, inv.mesh);
    case "mesh host":
      return (await import("./commands/mesh-host.js")).meshHostCommand(ctx, inv.mesh, inv.options);
    case "mesh invite":
      return (await import("./commands/mesh-host.js")).meshInviteCommand(ctx, inv.mesh, inv.options);
    case "mesh join":
      return (await import("./commands/mesh-host.js")).meshJoinCommand(ctx, inv.join, inv.options);
    case "mesh revoke":
      return (await import("./commands/mesh-host.js")).meshRevokeCommand(ctx, inv.mesh, inv.who, inv.options);
    case "doctor":
      return (await import("./commands/doctor.js")).doctorCommand(ctx, inv.options);
    case "completion":
      return (await import("./commands/completion.js")).completionCommand(ctx, inv.shell);
    case "mcp":
      return (await import("./commands/mcp.js")).mcpCommand(ctx);
    case "hook":
      return (await import("./commands/hook.js")).hookCommand(ctx, inv.event);
    case "install":
      return (await import("./commands/install.js")).installCommand(ctx, inv.options);
    case "uninstall":
      return (await import("./commands/install.js")).uninstallCommand(ctx, inv.options);
    case "__complete":
      return (await import("./commands/complete.js")).completeValues(ctx, inv.kind);
  }
}

/** Runs the invocation and returns the exit code; a CliError becomes its message on stderr. */
export async function dispatch(ctx: CliContext, inv: Invocation): Promise<number> {
  try {
    return await execute(ctx, inv);
  } catch (error) {
    if (error instanceof CliError) {
      ctx.stderr.write(`claudemesh: ${error.message}\n`);
      return error.exitCode;
    }
    // A daemon dir whose socket path the OS would truncate: the message names the fix. No daemon
    // can be reached or started there.
    if (error instanceof SocketPathTooLongError) {
      ctx.stderr.write(`claudemesh: ${error.message}\n`);
      return inv.name === "daemon start" || inv.name === "daemon restart" ? EXIT.failure : EXIT.daemonUnavailable;
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    ctx.stderr.write(`claudemesh: unexpected error: ${detail}\n`);
    return EXIT.failure;
  }
}
