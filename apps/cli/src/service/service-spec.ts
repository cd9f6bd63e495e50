// What a login service runs, shared by the systemd and launchd generators.

export interface ServiceSpec {
  /** The Node binary, absolute: process.execPath, never `env node` (field note 15). */
  readonly execPath: string;
  /** dist/daemon.js, absolute. */
  readonly program: string;
  /** The resolved daemon dir the service serves. */
  readonly dir: string;
  /** The daemon log: a --foreground daemon logs to stderr, which the manager appends here. */
  readonly log: string;
}

/** A value no unit or plist can carry as written; the message names the fix. */
export class ServiceValueError extends Error {
  override readonly name = "ServiceValueError";
}

/** The daemon's command line: the same as an auto-started daemon's, attached (--foreground). */
export function daemonArgv(spec: ServiceSpec): string[] {
  return [spec.execPath, spec.program, "--foreground", "--dir", spec.dir];
}

/** Every path must be absolute: a service manager runs with another cwd. */
export function checkAbsolute(spec: ServiceSpec): void {
  for (const [what, value] of Object.entries(spec)) {
    if (!value.startsWith("/")) throw new ServiceValueError(`${what} ${JSON.stringify(value)} is not an absolute path`);
  }
}

/** The value of `--dir` in a daemon command line, if it has one. */
export function dirArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--dir") return argv[i + 1];
    if (arg.startsWith("--dir=")) return arg.slice("--dir=".length);
  }
  return undefined;
}
