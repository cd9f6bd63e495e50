// The login service `claudemesh mesh host NAME --install` writes: the same `mesh host` command
// line, attached, run by the user's service manager (a systemd user unit on Linux, a launchd agent
// on macOS) and restarted when it fails. One per hosted mesh, named after it. Pure: values in,
// text out; the manager is driven as `daemon install` drives it.
import { isAbsolute, join } from "node:path";
import { xmlEscape } from "./launchd-plist.js";
import type { ServiceManager } from "./platform.js";
import { ServiceValueError } from "./service-spec.js";
import { systemdWord } from "./systemd-unit.js";

export interface HostServiceSpec {
  readonly execPath: string;
  /** dist/cli.js, absolute. */
  readonly cli: string;
  readonly mesh: string;
  /** The host dir and the daemon dir the service serves: both absolute. */
  readonly hostDir: string;
  readonly daemonDir: string;
  readonly listen?: string;
  readonly advertise: readonly string[];
  /** Where the manager appends the host's output. */
  readonly log: string;
}

export const hostServiceName = (manager: ServiceManager, mesh: string): string =>
  manager === "systemd" ? `claudemesh-host-${mesh}.service` : `dev.claudemesh.host.${mesh}`;

export function hostServicePath(manager: ServiceManager, env: NodeJS.ProcessEnv, home: string, mesh: string): string {
  if (manager === "launchd") return join(home, "Library", "LaunchAgents", `${hostServiceName(manager, mesh)}.plist`);
  const xdg = env.XDG_CONFIG_HOME;
  const config = xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, ".config");
  return join(config, "systemd", "user", hostServiceName(manager, mesh));
}

/** The command line the service runs: `mesh host` with everything this run was given. */
export function hostArgv(spec: HostServiceSpec): string[] {
  for (const [what, value] of [
    ["node", spec.execPath],
    ["cli", spec.cli],
    ["host dir", spec.hostDir],
    ["daemon dir", spec.daemonDir],
    ["log", spec.log],
  ] as const) {
    if (!isAbsolute(value)) throw new ServiceValueError(`${what} ${JSON.stringify(value)} is not an absolute path`);
  }
  return [
    spec.execPath,
    spec.cli,
    "mesh",
    "host",
    spec.mesh,
    "--dir",
    spec.hostDir,
    ...(spec.listen !== undefined ? ["--listen", spec.listen] : []),
    ...spec.advertise.flatMap((url) => ["--advertise", url]),
  ];
}

export function hostSystemdUnit(spec: HostServiceSpec): string {
  const argv = hostArgv(spec);
  const path = (value: string) => value.replaceAll("%", "%%");
  return [
    `# Written by \`claudemesh mesh host ${spec.mesh} --install\`; remove it with \`claudemesh mesh host ${spec.mesh} --uninstall\`.`,
    "[Unit]",
    `Description=claudemesh: the NATS server of mesh ${spec.mesh}`,
    "After=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${argv.map(systemdWord).join(" ")}`,
    `Environment=${systemdWord(`CLAUDEMESH_DAEMON_DIR=${spec.daemonDir}`)}`,
    "UMask=0077",
    "Restart=on-failure",
    "RestartSec=2",
    `StandardOutput=append:${path(spec.log)}`,
    `StandardError=append:${path(spec.log)}`,
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

export function hostLaunchdPlist(spec: HostServiceSpec): string {
  const s = (value: string, indent: string) => `${indent}<string>${xmlEscape(value)}</string>`;
  const k = (name: string, indent: string) => `${indent}<key>${xmlEscape(name)}</key>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `<!-- Written by \`claudemesh mesh host ${xmlEscape(spec.mesh)} --install\`. -->`,
    '<plist version="1.0">',
    "<dict>",
    k("Label", "  "),
    s(hostServiceName("launchd", spec.mesh), "  "),
    k("ProgramArguments", "  "),
    "  <array>",
    ...hostArgv(spec).map((arg) => s(arg, "    ")),
    "  </array>",
    k("EnvironmentVariables", "  "),
    "  <dict>",
    k("CLAUDEMESH_DAEMON_DIR", "    "),
    s(spec.daemonDir, "    "),
    "  </dict>",
    k("WorkingDirectory", "  "),
    s(spec.hostDir, "  "),
    k("RunAtLoad", "  "),
    "  <true/>",
    k("KeepAlive", "  "),
    "  <dict>",
    k("SuccessfulExit", "    "),
    "    <false/>",
    "  </dict>",
    k("Umask", "  "),
    "  <integer>63</integer>",
    k("StandardOutPath", "  "),
    s(spec.log, "  "),
    k("StandardErrorPath", "  "),
    s(spec.log, "  "),
    "</dict>",
    "</plist>",
    "",
  ].join("\n");
}
