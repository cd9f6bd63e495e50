// Auto-start when a login service is installed: loaded only on that path (a daemon was absent
// and the unit file exists), so ordinary calls never pay for it.
import { mkdirSync } from "node:fs";
import { type CliContext, warn } from "../context.js";
import { readInstalledService } from "./installed.js";
import { runManager } from "./manager.js";
import { type ServiceManager, serviceCommands, serviceName } from "./platform.js";

/**
 * Asks the service manager to start the installed daemon. True when it accepted; false when the
 * unit serves another dir (nothing to do with us) or the manager could not be reached (warned).
 */
export async function startThroughService(ctx: CliContext, manager: ServiceManager, file: string): Promise<boolean> {
  const installed = readInstalledService(manager, file, ctx.home);
  if (installed === undefined || installed.dir !== ctx.paths.dir) return false;
  // The manager appends the daemon's output to daemon.log: its dir must exist (0700) first.
  mkdirSync(ctx.paths.dir, { recursive: true, mode: 0o700 });
  const outcome = await runManager(serviceCommands(manager, file, process.getuid?.() ?? 0).start, ctx.env);
  if (outcome.ok) return true;
  warn(
    ctx,
    `warning: ${serviceName(manager)} is installed but ${manager} could not start it (${outcome.detail}); ` +
      "starting the daemon directly",
  );
  return false;
}
