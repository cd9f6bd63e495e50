// Command-line options of the daemon program. Pure: argv, env and home dir are passed in.
import { parseArgs } from "node:util";
import { resolveDaemonDir } from "@claudemesh/client";
import { DEFAULTS } from "./daemon.js";

export interface DaemonArgs {
  dir: string;
  /** Log to stderr (service managers, `daemon start --foreground`) instead of daemon.log. */
  foreground: boolean;
  reaperIntervalMs: number;
  selfCheckIntervalMs: number;
  maintenanceIntervalMs: number;
}

export const DAEMON_USAGE = `usage: claudemesh-daemon [--foreground] [--dir DIR] [--reaper-interval-ms N] [--self-check-interval-ms N] [--maintenance-interval-ms N]

  --foreground              log to stderr instead of DIR/daemon.log
  --dir DIR                 daemon dir (default: $CLAUDEMESH_DAEMON_DIR, else ~/.claudemesh/daemon)
  --reaper-interval-ms N    how often dead sessions are swept (default ${DEFAULTS.reaperIntervalMs})
  --self-check-interval-ms N  how often the daemon checks its socket still reaches it (default ${DEFAULTS.selfCheckIntervalMs})
  --maintenance-interval-ms N  how often messages are expired and compacted and attestations renewed (default ${DEFAULTS.maintenanceIntervalMs})`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 10 || n > 86_400_000) {
    throw new UsageError(
      `--${name} must be a whole number of milliseconds from 10 to 86400000, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function parseDaemonArgs(argv: readonly string[], env: NodeJS.ProcessEnv, home: string): DaemonArgs | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        foreground: { type: "boolean" },
        dir: { type: "string" },
        "reaper-interval-ms": { type: "string" },
        "self-check-interval-ms": { type: "string" },
        "maintenance-interval-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return "help";
  if (values.dir === "") throw new UsageError("--dir must not be empty");
  const dir =
    typeof values.dir === "string"
      ? resolveDaemonDir({ CLAUDEMESH_DAEMON_DIR: values.dir }, home)
      : resolveDaemonDir(env, home);
  return {
    dir,
    foreground: values.foreground === true,
    reaperIntervalMs: positiveInt(
      "reaper-interval-ms",
      values["reaper-interval-ms"] as string | undefined,
      DEFAULTS.reaperIntervalMs,
    ),
    selfCheckIntervalMs: positiveInt(
      "self-check-interval-ms",
      values["self-check-interval-ms"] as string | undefined,
      DEFAULTS.selfCheckIntervalMs,
    ),
    maintenanceIntervalMs: positiveInt(
      "maintenance-interval-ms",
      values["maintenance-interval-ms"] as string | undefined,
      DEFAULTS.maintenanceIntervalMs,
    ),
  };
}
