// `claudemesh daemon install|uninstall`: the daemon as a login service (a systemd user unit on
// Linux, a launchd agent on macOS). Writing the file is the part that must succeed; driving the
// manager is best effort: without one (containers, CI, no user bus) the file stays and the user
// is told what to run, exit 0.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { checkSocketPath, SocketPathTooLongError } from "@claudemesh/client";
import { type CliContext, warn } from "../context.js";
import { daemonProgram, fetchHealth, logTail, waitUntilReady } from "../daemon-control.js";
import { CliError, EXIT } from "../exit-codes.js";
import { readInstalledService } from "../service/installed.js";
import { launchdPlist } from "../service/launchd-plist.js";
import { runAll } from "../service/manager.js";
import {
  type ServiceManager,
  serviceCommands,
  serviceFilePath,
  serviceManagerFor,
  serviceName,
  shellLine,
} from "../service/platform.js";
import { type ServiceSpec, ServiceValueError } from "../service/service-spec.js";
import { systemdUnit } from "../service/systemd-unit.js";
import { probeDaemon, stopCommand } from "./daemon.js";

export interface InstallOptions {
  force?: boolean;
  dryRun?: boolean;
}

/** The value of CI when this runs inside CI (set, and not "false" or "0"); undefined otherwise. */
export function ciValue(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.CI;
  if (value === undefined || value === "" || value === "0" || value.toLowerCase() === "false") return undefined;
  return value;
}

function managerOf(platform: NodeJS.Platform): ServiceManager {
  const manager = serviceManagerFor(platform);
  if (manager === undefined) {
    throw new CliError(`no login service on ${platform}: only Linux (systemd) and macOS (launchd) are supported`);
  }
  return manager;
}

/** The unit or plist text for this platform's manager. */
export function serviceFileText(manager: ServiceManager, spec: ServiceSpec): string {
  try {
    return manager === "systemd" ? systemdUnit(spec) : launchdPlist(spec);
  } catch (error) {
    if (error instanceof ServiceValueError) throw new CliError(`cannot write the ${manager} service: ${error.message}`);
    throw error;
  }
}

export function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o644 });
  renameSync(temp, file);
}

export const byHand = (list: readonly (readonly string[])[]) => list.map((argv) => `  ${shellLine(argv)}`).join("\n");

export async function installCommand(
  ctx: CliContext,
  options: InstallOptions,
  platform: NodeJS.Platform = process.platform,
): Promise<number> {
  const manager = managerOf(platform);
  const file = serviceFilePath(manager, ctx.env, ctx.home);
  const spec: ServiceSpec = {
    execPath: process.execPath,
    program: daemonProgram(),
    dir: ctx.paths.dir,
    log: ctx.paths.log,
  };
  const text = serviceFileText(manager, spec);
  if (options.dryRun) {
    ctx.stdout.write(text);
    return EXIT.ok;
  }
  // A login service started from a CI job would outlive the job on a shared runner.
  const ci = ciValue(ctx.env);
  if (ci !== undefined && !options.force) {
    throw new CliError(
      `refusing to install a login service inside CI (CI=${ci}); pass --force to install it anyway`,
      EXIT.failure,
    );
  }
  if (!existsSync(spec.program)) {
    throw new CliError(`cannot find the daemon program ${spec.program}; reinstall claudemesh`, EXIT.failure);
  }
  try {
    checkSocketPath(ctx.paths.socket);
  } catch (error) {
    if (error instanceof SocketPathTooLongError) throw new CliError(error.message, EXIT.failure);
    throw error;
  }
  const before = await probeDaemon(ctx);
  if (before.state === "busy") {
    throw new CliError(
      `a daemon${before.pid ? ` (pid ${before.pid})` : ""} holds ${ctx.paths.socket} but does not answer; ` +
        "nothing was installed. See `claudemesh daemon status`",
      EXIT.failure,
    );
  }

  const previous = readInstalledService(manager, file, ctx.home);
  mkdirSync(ctx.paths.dir, { recursive: true, mode: 0o700 });
  writeAtomically(file, text);
  ctx.stdout.write(`wrote ${file}\n`);
  if (previous?.dir !== undefined && previous.dir !== ctx.paths.dir) {
    warn(ctx, `note: it replaces the ${serviceName(manager)} that served ${previous.dir}`);
  }

  const commands = serviceCommands(manager, file, process.getuid?.() ?? 0);
  if (previous !== undefined) await runAll(commands.unloadOld, ctx.env);
  const loaded = await runAll(commands.load, ctx.env);
  if (!loaded.ok) {
    warn(
      ctx,
      `warning: could not reach ${manager} (${loaded.detail}); the ${serviceName(manager)} file is installed ` +
        `but not enabled. To start the daemon at login, run:\n${byHand([...commands.load, ...commands.enable])}`,
    );
    return EXIT.ok;
  }
  // A daemon started on demand holds the lock: the managed one could not start beside it.
  // Sessions are saved on stop and restored on start.
  const managedBefore = before.state === "running" && before.health.managed_by === manager;
  if (before.state === "running" && !managedBefore) await stopCommand(ctx);
  const enabled = await runAll(managedBefore ? [...commands.enable, ...commands.restart] : commands.enable, ctx.env);
  if (!enabled.ok) {
    warn(
      ctx,
      `warning: ${manager} did not start ${serviceName(manager)} (${enabled.detail}); the file is installed. ` +
        `Run by hand:\n${byHand(commands.enable)}\n(until then the daemon starts on demand, as before)`,
    );
    return EXIT.ok;
  }
  if ((await waitUntilReady(ctx)) === undefined) {
    throw new CliError(
      `${manager} did not bring the daemon up; log ${ctx.paths.log}:\n${logTail(ctx)
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n")}`,
      EXIT.failure,
    );
  }
  const health = await fetchHealth(ctx);
  if (health.managed_by === manager) {
    ctx.stdout.write(`daemon running under ${manager} (pid ${health.pid}); it starts at login from now on\n`);
  } else {
    warn(
      ctx,
      `warning: the daemon answering (pid ${health.pid}) was not started by ${manager}; ` +
        "`claudemesh daemon restart` hands it over",
    );
  }
  return EXIT.ok;
}

export async function uninstallCommand(ctx: CliContext, platform: NodeJS.Platform = process.platform): Promise<number> {
  const manager = managerOf(platform);
  const file = serviceFilePath(manager, ctx.env, ctx.home);
  if (!existsSync(file)) {
    ctx.stdout.write(`nothing to uninstall: no ${file}\n`);
    return EXIT.ok;
  }
  const commands = serviceCommands(manager, file, process.getuid?.() ?? 0);
  const unloaded = await runAll(commands.unload, ctx.env);
  if (!unloaded.ok) {
    warn(
      ctx,
      `warning: could not stop ${serviceName(manager)} through ${manager} (${unloaded.detail}); ` +
        `if it still runs, run by hand:\n${byHand(commands.unload)}`,
    );
  }
  rmSync(file, { force: true });
  if (unloaded.ok) await runAll(commands.afterRemove, ctx.env);
  ctx.stdout.write(`removed ${file}\n`);
  if (unloaded.ok) ctx.stdout.write(`${manager} no longer runs the daemon; it starts on demand again\n`);
  return EXIT.ok;
}
