// Finding, starting and stopping the daemon from the CLI.
//
// Rules (field notes 3, 4, 5, 14): ready means a real request answered, never "a socket file
// exists"; only ENOENT/ECONNREFUSED prove nobody listens, a timeout means busy; starting never
// deletes the socket or lock (the daemon reclaims stale ones itself, under its lock, so many
// racing CLIs still end with one daemon; only `doctor --fix` removes them, with the daemon's own
// proofs); racing CLIs spawn one daemon between them (the start claim); an auto-started daemon
// gets process.execPath, a stable cwd, a scrubbed environment and daemon.log for its output.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  DaemonDirError,
  DaemonTimeoutError,
  DaemonUnavailableError,
  ensureDaemonDir,
  type Health,
  requestJson,
  type VersionInfo,
} from "@claudemesh/client";
import { type CliContext, warn } from "./context.js";
import { CliError, EXIT } from "./exit-codes.js";
import { renderLogLine } from "./log-format.js";
import { serviceFilePath, serviceManagerFor } from "./service/platform.js";
import { CLI_VERSION } from "./version.js";

/** How long one request may take before the daemon counts as busy. */
export const REQUEST_TIMEOUT_MS = 3_000;
/** How long an auto-started daemon may take to answer. */
export const START_DEADLINE_MS = 5_000;

export interface DaemonInfo {
  readonly socket: string;
  readonly version: string;
}

let skewWarned = false;

function checkSkew(ctx: CliContext, daemonVersion: string): void {
  if (skewWarned || daemonVersion === CLI_VERSION) return;
  skewWarned = true;
  warn(
    ctx,
    `warning: the daemon runs version ${daemonVersion} but this CLI is ${CLI_VERSION}; ` +
      "run `claudemesh daemon restart` to upgrade it (live sessions survive)",
  );
}

/** Asks the daemon for its version. Throws the client's typed errors. */
export async function fetchVersion(ctx: CliContext, timeoutMs = REQUEST_TIMEOUT_MS): Promise<VersionInfo> {
  const res = await requestJson<VersionInfo>(ctx.paths.socket, { method: "GET", path: "/v1/version", timeoutMs });
  return res.body;
}

export async function fetchHealth(ctx: CliContext, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Health> {
  return (await requestJson<Health>(ctx.paths.socket, { method: "GET", path: "/v1/health", timeoutMs })).body;
}

function busyError(ctx: CliContext): CliError {
  return new CliError(
    `the daemon at ${ctx.paths.socket} is not answering (busy or stopped); nothing was changed. ` +
      "Try again, or see `claudemesh daemon status`",
    EXIT.daemonUnavailable,
  );
}

/** The environment of an auto-started daemon: the user's, less every session variable. */
export function daemonEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("CLAUDEMESH_")) out[key] = value;
  }
  return out;
}

/** The daemon program shipped beside this file (dist/daemon.js). */
export function daemonProgram(): string {
  return fileURLToPath(new URL("./daemon.js", import.meta.url));
}

/**
 * Creates the daemon dir if needed. The daemon would refuse a dir that is not ours or not 0700:
 * say so now, without waiting for it and without writing a log or a claim into such a dir.
 * (The same check the daemon makes.)
 */
function prepareDir(ctx: CliContext): void {
  try {
    ensureDaemonDir(ctx.paths.dir);
  } catch (error) {
    if (error instanceof DaemonDirError) throw new CliError(error.message, EXIT.daemonUnavailable);
    throw error;
  }
}

/** A daemon this CLI spawned: its pid, and whether it has already exited (a start that failed). */
export interface SpawnedDaemon {
  readonly pid: number;
  exited(): boolean;
}

/** Starts a detached daemon writing to daemon.log. The dir must exist. */
export function spawnDaemon(ctx: CliContext, extraArgs: readonly string[] = []): SpawnedDaemon {
  const log = openSync(ctx.paths.log, "a", 0o600);
  try {
    const child = spawn(process.execPath, [daemonProgram(), "--dir", ctx.paths.dir, ...extraArgs], {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: ctx.paths.dir,
      env: daemonEnvironment(ctx.env),
    });
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    child.unref();
    return { pid: child.pid ?? 0, exited: () => exited };
  } finally {
    closeSync(log);
  }
}

/**
 * Starts a daemon for ctx's dir (the caller then waits for readiness).
 *
 * When a login service is installed for this dir, its manager starts the daemon: spawning one
 * beside it would leave two contenders for the lock, and the managed one, losing, would be
 * restarted again and again. When the manager cannot be reached (no user bus in a container,
 * launchctl outside a login session, the unit failing to start), the daemon is spawned directly
 * with a warning: a working CLI matters more than who supervises the daemon, and the lock still
 * guarantees a single daemon. Looking for the unit is one existsSync, and only here: calls that
 * find a daemon running never look.
 */
export async function startDaemon(ctx: CliContext): Promise<SpawnedDaemon | undefined> {
  const manager = serviceManagerFor(process.platform);
  if (manager !== undefined) {
    const file = serviceFilePath(manager, ctx.env, ctx.home);
    if (existsSync(file)) {
      const { startThroughService } = await import("./service/autostart.js");
      if (await startThroughService(ctx, manager, file)) return undefined;
    }
  }
  return spawnDaemon(ctx);
}

/** The last `n` lines of the daemon log, for error messages. */
export function logTail(ctx: CliContext, n = 10): string {
  try {
    const lines = readFileSync(ctx.paths.log, "utf8").trimEnd().split("\n");
    return lines.slice(-n).join("\n");
  } catch {
    return "(no log yet)";
  }
}

/** How long a wait goes on after the daemon this CLI spawned exited: another may be starting. */
const AFTER_EXIT_GRACE_MS = 1_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls /v1/version until it answers or the deadline passes. */
export async function waitUntilReady(
  ctx: CliContext,
  deadlineMs = START_DEADLINE_MS,
): Promise<VersionInfo | undefined> {
  return pollUntilReady(ctx, Date.now() + deadlineMs);
}

/** One look at /v1/version: its answer, "absent" with proof that nobody listens, else "busy". */
async function lookOnce(ctx: CliContext, timeoutMs: number): Promise<VersionInfo | "absent" | "busy"> {
  try {
    return await fetchVersion(ctx, timeoutMs);
  } catch (error) {
    if (error instanceof DaemonUnavailableError) return error.provesAbsent ? "absent" : "busy";
    if (error instanceof DaemonTimeoutError) return "busy";
    throw error;
  }
}

/**
 * Polls until the daemon answers or `end` passes. `onIdle`, when given, runs between polls and
 * may end the wait with its own answer (the start claim taken, a daemon started and ready).
 */
async function pollUntilReady(
  ctx: CliContext,
  end: number,
  onIdle?: () => Promise<VersionInfo | undefined>,
): Promise<VersionInfo | undefined> {
  const start = Date.now();
  while (Date.now() < end) {
    const answer = await lookOnce(ctx, Math.max(100, end - Date.now()));
    if (typeof answer === "object") return answer;
    const done = await onIdle?.();
    if (done !== undefined) return done;
    // A daemon is ready ~80 ms after its spawn: poll every 5 ms (a refused connect costs ~0.2 ms)
    // so that the wait ends when it does, and back off only if start-up drags on.
    await sleep(Date.now() - start < 1_000 ? 5 : 50);
  }
  return undefined;
}

/** How often a CLI waiting on another's start claim checks whether that claim is still good. */
const CLAIM_RETRY_MS = 50;

/**
 * Starts the daemon and waits until it answers, with racing CLIs in mind: only the CLI holding
 * the start claim starts one (after looking once more, since another CLI may have started it
 * between our first look and the claim); the others poll until it answers, and take the claim
 * over if its holder gives up or vanishes. Undefined when nothing answered before the deadline.
 */
export async function startAndWait(ctx: CliContext, deadlineMs = START_DEADLINE_MS): Promise<VersionInfo | undefined> {
  const end = Date.now() + deadlineMs;
  prepareDir(ctx);
  // Loaded only here: a call that finds the daemon running never pays for the claim or the probe.
  const [{ claimStart }, { createProcessProbe }] = await Promise.all([
    import("./start-claim.js"),
    import("@claudemesh/registry"),
  ]);
  const probe = createProcessProbe();
  let started = false;
  let nextClaimAt = 0;
  const claimAndStart = async (): Promise<VersionInfo | undefined> => {
    if (started || Date.now() < nextClaimAt) return undefined;
    nextClaimAt = Date.now() + CLAIM_RETRY_MS;
    const claim = await claimStart(ctx.paths.startClaim, probe);
    if (claim === undefined) return undefined;
    try {
      const answer = await lookOnce(ctx, REQUEST_TIMEOUT_MS);
      if (typeof answer === "object") return answer;
      if (answer === "busy") return undefined; // someone listens: wait for it, never start a second
      started = true;
      const spawned = await startDaemon(ctx);
      // A daemon that exited at once (a damaged member key, a refused dir) will not answer:
      // stop waiting soon after, rather than at the deadline.
      let exitedAt: number | undefined;
      const gaveUp = async (): Promise<undefined> => {
        if (spawned?.exited()) exitedAt ??= Date.now();
        if (exitedAt !== undefined && Date.now() - exitedAt > AFTER_EXIT_GRACE_MS) throw new DaemonExitedError();
        return undefined;
      };
      return await pollUntilReady(ctx, end, gaveUp);
    } finally {
      claim.release();
    }
  };
  return (await claimAndStart()) ?? (started ? undefined : pollUntilReady(ctx, end, claimAndStart));
}

/** The daemon spawned to answer this CLI exited without ever answering. */
export class DaemonExitedError extends Error {
  override readonly name = "DaemonExitedError";
  constructor() {
    super("the daemon exited as it started");
  }
}

function startFailure(ctx: CliContext, what: string): CliError {
  return new CliError(
    `${what}; log ${ctx.paths.log}:\n${logTail(ctx)
      .split("\n")
      .map((l) => `  ${renderLogLine(l, false)}`)
      .join("\n")}`,
    EXIT.daemonUnavailable,
  );
}

/**
 * Makes sure a daemon answers, starting one when none runs (unless CLAUDEMESH_NO_AUTOSTART=1).
 * Throws CliError with exit 3 when it cannot be reached or started.
 */
export async function ensureDaemon(ctx: CliContext): Promise<DaemonInfo> {
  let info: VersionInfo;
  try {
    info = await fetchVersion(ctx);
  } catch (error) {
    if (error instanceof DaemonTimeoutError) throw busyError(ctx);
    if (!(error instanceof DaemonUnavailableError)) throw error;
    if (!error.provesAbsent) {
      throw new CliError(`cannot reach the daemon: ${error.message}`, EXIT.daemonUnavailable);
    }
    if (ctx.env.CLAUDEMESH_NO_AUTOSTART === "1") {
      throw new CliError(
        "the daemon is not running (auto-start is off: CLAUDEMESH_NO_AUTOSTART=1)",
        EXIT.daemonUnavailable,
      );
    }
    let ready: VersionInfo | undefined;
    try {
      ready = await startAndWait(ctx);
    } catch (error) {
      if (error instanceof DaemonExitedError) throw startFailure(ctx, error.message);
      throw error;
    }
    if (ready === undefined)
      throw startFailure(ctx, `the daemon did not become ready within ${START_DEADLINE_MS / 1000} s`);
    info = ready;
  }
  checkSkew(ctx, info.daemon_version);
  return { socket: ctx.paths.socket, version: info.daemon_version };
}

/** Maps the client's errors for a call on a daemon that answered before. */
export function daemonCallError(ctx: CliContext, error: unknown): never {
  if (error instanceof DaemonTimeoutError) throw busyError(ctx);
  if (error instanceof DaemonUnavailableError) {
    throw new CliError(`lost the daemon: ${error.message}`, EXIT.daemonUnavailable);
  }
  throw error;
}
