// The checks of `claudemesh doctor`. Each looks at one thing and says what it found and how to
// fix it; a few carry a repair that is safe to run unattended (`--fix`). Nothing here starts a
// daemon or creates a file, except those repairs.
import { chmodSync, lstatSync, readdirSync, readFileSync, type Stats, statSync } from "node:fs";
import {
  type DaemonPaths,
  DaemonTimeoutError,
  DaemonUnavailableError,
  type LockOwner,
  maxSocketPathBytes,
  probeSocket,
  requestJson,
  type VersionInfo,
} from "@claudemesh/client";
import type { ProcessProbe } from "@claudemesh/registry";
import { isExecutableFile } from "../find-command.js";
import { inspectLock, type LockState } from "../lock-state.js";
import { readInstalledService } from "../service/installed.js";
import { serviceFilePath, serviceManagerFor, serviceName } from "../service/platform.js";
import { dirArgument } from "../service/service-spec.js";
import { claudeChecks } from "./claude-checks.js";
import { removeStaleLock, removeStaleSocket } from "./stale.js";

export type Status = "ok" | "warn" | "fail";

export interface Check {
  readonly name: string;
  readonly status: Status;
  readonly finding: string;
  /** What to do about it; null when nothing needs doing. */
  readonly fix: string | null;
  /** A repair safe to run unattended; resolves with what it did, or throws NotFixed. */
  readonly repair?: () => Promise<string>;
}

export interface DoctorInput {
  readonly paths: DaemonPaths;
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
  /** Where claude is asked about its MCP servers (project and local scopes depend on it). */
  readonly cwd: string;
  /** The command `claudemesh install` registers with Claude Code (`<node> <cli> mcp`). */
  readonly mcpServer: readonly string[];
  readonly uid: number;
  readonly platform: NodeJS.Platform;
  readonly cliVersion: string;
  /** The Node binary a reinstalled service would pin. */
  readonly execPath: string;
  readonly probe: ProcessProbe;
  /** Who takes the lock while a stale socket is removed (this process). */
  readonly self: () => Promise<LockOwner>;
}

const ok = (name: string, finding: string): Check => ({ name, status: "ok", finding, fix: null });
const DOCTOR_FIX = "claudemesh doctor --fix";

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

type DirFacts = { kind: "missing" } | { kind: "error"; check: Check } | { kind: "dir"; stat: Stats };

function dirFacts(dir: string): DirFacts {
  let stat: Stats;
  try {
    stat = statSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { kind: "missing" };
    const finding =
      code === "ENOTDIR" ? `a parent of ${dir} is not a directory` : `cannot inspect ${dir} (${String(code)})`;
    return {
      kind: "error",
      check: { name: "dir", status: "fail", finding, fix: "set CLAUDEMESH_DAEMON_DIR elsewhere" },
    };
  }
  if (!stat.isDirectory()) {
    return {
      kind: "error",
      check: {
        name: "dir",
        status: "fail",
        finding: `${dir} is not a directory`,
        fix: `remove it, or set CLAUDEMESH_DAEMON_DIR elsewhere`,
      },
    };
  }
  return { kind: "dir", stat };
}

function dirChecks(input: DoctorInput): Check[] {
  const { dir } = input.paths;
  const facts = dirFacts(dir);
  if (facts.kind === "missing") {
    const none = "nothing to check: no daemon dir yet";
    return [
      ok("dir", `${dir} does not exist yet (the daemon creates it, mode 0700, on first start)`),
      ok("dir-owner", none),
      ok("dir-mode", none),
    ];
  }
  if (facts.kind === "error") {
    return [facts.check, ok("dir-owner", "nothing to check: no daemon dir"), ok("dir-mode", "nothing to check")];
  }
  const { stat } = facts;
  const owned = stat.uid === input.uid;
  const owner: Check = owned
    ? ok("dir-owner", `owned by you (uid ${input.uid})`)
    : {
        name: "dir-owner",
        status: "fail",
        finding: `owned by uid ${stat.uid}, not by you (uid ${input.uid}): the daemon refuses to start`,
        fix: `chown ${input.uid} ${dir}, or set CLAUDEMESH_DAEMON_DIR to a directory you own`,
      };
  const mode: Check =
    (stat.mode & 0o077) === 0
      ? ok("dir-mode", `mode ${octal(stat.mode)}`)
      : {
          name: "dir-mode",
          status: "fail",
          finding: `accessible to group or others (mode ${octal(stat.mode)}): the daemon refuses to start`,
          fix: `chmod 700 ${dir} (${DOCTOR_FIX} does it)`,
          // Only a dir of our own: tightening someone else's dir is not ours to do.
          ...(owned && {
            repair: async () => {
              chmodSync(dir, 0o700);
              return `chmod 700 ${dir}`;
            },
          }),
        };
  return [ok("dir", `${dir} is a directory`), owner, mode];
}

function socketPathCheck(input: DoctorInput): Check {
  const { socket } = input.paths;
  const bytes = Buffer.byteLength(socket, "utf8");
  const limit = maxSocketPathBytes(input.platform);
  if (bytes <= limit) return ok("socket-path", `${bytes} bytes, within the limit of ${limit}`);
  return {
    name: "socket-path",
    status: "fail",
    finding: `${socket} is ${bytes} bytes, over the ${limit}-byte limit of this OS: no daemon can listen there`,
    fix: "set CLAUDEMESH_DAEMON_DIR to a shorter directory",
  };
}

function lockCheck(input: DoctorInput, state: LockState): Check {
  const { lock } = input.paths;
  switch (state.kind) {
    case "none":
      return ok("lock", "no lock: no daemon holds the dir");
    case "held":
      return ok("lock", `held by pid ${state.owner.pid}, which still runs`);
    case "unknown":
      return { name: "lock", status: "warn", finding: `cannot judge ${lock}: ${state.why}`, fix: "run doctor again" };
    case "stale":
      return {
        name: "lock",
        status: "warn",
        finding: `stale lock ${lock}: ${state.why} (a starting daemon reclaims it)`,
        fix: `${DOCTOR_FIX} removes it`,
        repair: async () => removeStaleLock(input.paths, input.probe, await input.self()),
      };
  }
}

async function socketCheck(input: DoctorInput, lock: LockState, pathFits: boolean): Promise<Check> {
  const { socket } = input.paths;
  if (!pathFits) return ok("socket", "skipped: the socket path is too long to connect to");
  try {
    if (!lstatSync(socket).isSocket()) {
      return {
        name: "socket",
        status: "fail",
        finding: `${socket} is not a socket: the daemon refuses to start`,
        fix: `remove ${socket} by hand`,
      };
    }
  } catch {
    return ok("socket", "no socket: no daemon listens");
  }
  const state = await probeSocket(socket);
  if (state === "listening") return ok("socket", "a daemon listens");
  if (state === "missing") return ok("socket", "no socket: no daemon listens");
  if (state === "busy") {
    return {
      name: "socket",
      status: "warn",
      finding: "a process holds the socket but does not accept connections (busy or frozen)",
      fix: "claudemesh daemon status",
    };
  }
  if (lock.kind === "held") {
    return {
      name: "socket",
      status: "fail",
      finding: `nothing listens on ${socket}, yet pid ${lock.owner.pid} holds the lock`,
      fix: "claudemesh daemon restart",
    };
  }
  return {
    name: "socket",
    status: "warn",
    finding: `stale socket ${socket}: nothing listens on it (a starting daemon removes it)`,
    fix: `${DOCTOR_FIX} removes it`,
    repair: async () => removeStaleSocket(input.paths, await input.self()),
  };
}

/** Pids whose command line runs daemon.js with `--dir <dir>` (Linux: /proc). */
export function daemonPids(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // gone meanwhile
    }
    if (argv.some((a) => a === "daemon.js" || a.endsWith("/daemon.js")) && dirArgument(argv) === dir) {
      pids.push(Number(name));
    }
  }
  return pids.sort((a, b) => a - b);
}

function duplicatesCheck(input: DoctorInput, lock: LockState): Check {
  if (input.platform !== "linux") return ok("duplicates", "skipped: reading command lines needs /proc (Linux only)");
  const pids = daemonPids(input.paths.dir);
  if (pids.length === 0) return ok("duplicates", "no daemon process for this dir");
  if (pids.length === 1) return ok("duplicates", `one daemon process (pid ${pids[0]})`);
  const keep = lock.kind === "held" && pids.includes(lock.owner.pid) ? lock.owner.pid : undefined;
  const others = pids.filter((p) => p !== keep);
  return {
    name: "duplicates",
    status: "fail",
    finding: `${pids.length} daemon processes serve this dir: pids ${pids.join(", ")}`,
    fix:
      keep === undefined
        ? `end all but one: kill ${others.join(" ")}`
        : `keep pid ${keep} (it holds the lock) and end the others: kill ${others.join(" ")}`,
  };
}

async function versionCheck(input: DoctorInput, pathFits: boolean): Promise<Check> {
  if (!pathFits) return ok("version", "skipped: the socket path is too long to connect to");
  let info: VersionInfo;
  try {
    info = (
      await requestJson<VersionInfo>(input.paths.socket, { method: "GET", path: "/v1/version", timeoutMs: 2_000 })
    ).body;
  } catch (error) {
    if (error instanceof DaemonUnavailableError && error.provesAbsent) {
      return ok("version", `no daemon running; it starts on demand (CLI ${input.cliVersion})`);
    }
    const why = error instanceof DaemonTimeoutError ? "it does not answer within 2 s (busy or frozen)" : String(error);
    return {
      name: "version",
      status: "warn",
      finding: `cannot ask the daemon: ${why}`,
      fix: "claudemesh daemon status",
    };
  }
  if (info.daemon_version === input.cliVersion) {
    return ok("version", `the daemon and this CLI both run ${input.cliVersion}`);
  }
  return {
    name: "version",
    status: "warn",
    finding: `the daemon runs ${info.daemon_version}, this CLI is ${input.cliVersion}`,
    fix: "claudemesh daemon restart (live sessions survive)",
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function serviceCheck(input: DoctorInput): Check {
  const manager = serviceManagerFor(input.platform);
  if (manager === undefined) return ok("service", `skipped: no service manager on ${input.platform}`);
  const file = serviceFilePath(manager, input.env, input.home);
  const installed = readInstalledService(manager, file, input.home);
  if (installed === undefined) return ok("service", "none installed: the daemon starts on demand");
  const name = serviceName(manager);
  const reinstall = `claudemesh daemon install (pins this Node, ${input.execPath})`;
  const [exec, program] = installed.argv ?? [];
  if (exec === undefined) {
    return { name: "service", status: "fail", finding: `cannot read the command ${file} runs`, fix: reinstall };
  }
  if (!isExecutableFile(exec)) {
    return {
      name: "service",
      status: "fail",
      finding: `${name} runs ${exec}, which no longer exists or is not executable: the daemon cannot start at login`,
      fix: reinstall,
    };
  }
  if (program?.endsWith(".js") && !isFile(program)) {
    return {
      name: "service",
      status: "fail",
      finding: `${name} runs ${program}, which no longer exists`,
      fix: "claudemesh daemon install (points it at this installation)",
    };
  }
  if (installed.dir !== input.paths.dir) {
    return {
      name: "service",
      status: "warn",
      finding: `${name} serves ${installed.dir ?? "an unknown dir"}, not ${input.paths.dir}`,
      fix: "claudemesh daemon install (with this dir), or use the dir it serves",
    };
  }
  return ok("service", `${name} runs ${exec} ${program ?? ""}`.trimEnd());
}

/** Every check, in the order repairs must run (the lock before the socket); Claude Code's last. */
export async function runChecks(input: DoctorInput): Promise<Check[]> {
  const lock = await inspectLock(input.paths.lock, input.probe);
  const pathCheck = socketPathCheck(input);
  const pathFits = pathCheck.status === "ok";
  return [
    ...dirChecks(input),
    pathCheck,
    lockCheck(input, lock),
    await socketCheck(input, lock, pathFits),
    duplicatesCheck(input, lock),
    await versionCheck(input, pathFits),
    serviceCheck(input),
    ...(await claudeChecks(input)),
  ];
}
