// Which service manager runs the daemon at login on this platform, where its file lives and the
// commands that drive it. Pure: platform, environment and home dir are passed in.
import { isAbsolute, join } from "node:path";

export type ServiceManager = "systemd" | "launchd";

export const SYSTEMD_UNIT = "claudemesh.service";
export const LAUNCHD_LABEL = "dev.claudemesh.daemon";

/** systemd on Linux, launchd on macOS; undefined elsewhere (no login service is offered). */
export function serviceManagerFor(platform: NodeJS.Platform): ServiceManager | undefined {
  if (platform === "linux") return "systemd";
  if (platform === "darwin") return "launchd";
  return undefined;
}

/** The name a user sees: `claudemesh.service` or `dev.claudemesh.daemon`. */
export function serviceName(manager: ServiceManager): string {
  return manager === "systemd" ? SYSTEMD_UNIT : LAUNCHD_LABEL;
}

/**
 * `$XDG_CONFIG_HOME/systemd/user/claudemesh.service` (`~/.config` when unset or relative, as
 * systemd itself reads it) or `~/Library/LaunchAgents/dev.claudemesh.daemon.plist`.
 */
export function serviceFilePath(manager: ServiceManager, env: NodeJS.ProcessEnv, home: string): string {
  if (manager === "launchd") return join(home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
  const xdg = env.XDG_CONFIG_HOME;
  const config = xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, ".config");
  return join(config, "systemd", "user", SYSTEMD_UNIT);
}

/** The unit file for this platform, or undefined where there is no service manager. */
export function serviceFileFor(platform: NodeJS.Platform, env: NodeJS.ProcessEnv, home: string): string | undefined {
  const manager = serviceManagerFor(platform);
  return manager === undefined ? undefined : serviceFilePath(manager, env, home);
}

/** The argv lists that drive the service; also what the user is told to run by hand. */
export interface ServiceCommands {
  /** Before `load` when a file was installed before (launchd refuses to load a label twice); failures do not matter. */
  readonly unloadOld: readonly (readonly string[])[];
  /** Makes the manager read the file; the first to fail shows the manager cannot be reached. */
  readonly load: readonly (readonly string[])[];
  /** Enables start at login and starts the daemon now. */
  readonly enable: readonly (readonly string[])[];
  /** Restarts a daemon the manager already runs, so that a rewritten file applies. */
  readonly restart: readonly (readonly string[])[];
  /** Stops and disables, before the file is removed. */
  readonly unload: readonly (readonly string[])[];
  /** After the file is removed. */
  readonly afterRemove: readonly (readonly string[])[];
  /** Starts the installed daemon now (auto-start). */
  readonly start: readonly string[];
}

/** `name`: the unit or label (the daemon's unless told: `mesh host --install` has one per mesh). */
export function serviceCommands(
  manager: ServiceManager,
  file: string,
  uid: number,
  name: string = serviceName(manager),
): ServiceCommands {
  if (manager === "systemd") {
    const reload = ["systemctl", "--user", "daemon-reload"];
    return {
      unloadOld: [],
      load: [reload],
      enable: [["systemctl", "--user", "enable", "--now", name]],
      restart: [["systemctl", "--user", "restart", name]],
      unload: [["systemctl", "--user", "disable", "--now", name]],
      afterRemove: [reload],
      start: ["systemctl", "--user", "start", name],
    };
  }
  const target = `gui/${uid}/${name}`;
  return {
    unloadOld: [["launchctl", "bootout", target]],
    // RunAtLoad: loading the agent starts the daemon (and at every login from now on).
    load: [["launchctl", "bootstrap", `gui/${uid}`, file]],
    enable: [["launchctl", "kickstart", target]],
    // Reinstalling already reloads the agent (bootout, then bootstrap starts it afresh).
    restart: [],
    unload: [["launchctl", "bootout", target]],
    afterRemove: [],
    start: ["launchctl", "kickstart", target],
  };
}

/** An argv as a line to paste into a shell. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9/_.,:@%+=-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}
