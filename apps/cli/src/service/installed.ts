// Reading an installed unit or plist back: what it runs and which daemon dir it serves.
import { readFileSync } from "node:fs";
import { resolveDaemonDir } from "@claudemesh/client";
import { parseProgramArguments } from "./launchd-plist.js";
import type { ServiceManager } from "./platform.js";
import { dirArgument } from "./service-spec.js";
import { parseExecStart } from "./systemd-unit.js";

export interface InstalledService {
  readonly manager: ServiceManager;
  readonly file: string;
  /** What the manager runs; undefined when the file cannot be read that way. */
  readonly argv: readonly string[] | undefined;
  /** The daemon dir it serves: its --dir, else the default dir (as the daemon resolves it). */
  readonly dir: string | undefined;
}

/** The service installed at `file`; undefined when there is no such file. */
export function readInstalledService(
  manager: ServiceManager,
  file: string,
  home: string,
): InstalledService | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return { manager, file, argv: undefined, dir: undefined };
  }
  const argv = manager === "systemd" ? parseExecStart(text, home) : parseProgramArguments(text);
  const dir = argv === undefined ? undefined : (dirArgument(argv) ?? resolveDaemonDir({}, home));
  return { manager, file, argv, dir };
}
