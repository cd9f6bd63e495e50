// `claudemesh daemon start|stop|restart|status|logs`.
import { closeSync, openSync, readSync, statSync, watch } from "node:fs";
import {
  DaemonTimeoutError,
  DaemonUnavailableError,
  formatAge,
  type Health,
  readLockOwner,
  type VersionInfo,
} from "@claudemesh/client";
import { createProcessProbe } from "@claudemesh/registry";
import { type CliContext, warn } from "../context.js";
import { DaemonExitedError, fetchHealth, fetchVersion, logTail, startAndWait } from "../daemon-control.js";
import { CliError, EXIT } from "../exit-codes.js";
import { untilInterrupted } from "../interruption.js";
import { LogLineRenderer, renderLogLine } from "../log-format.js";
import { serviceName } from "../service/platform.js";

export const STOP_DEADLINE_MS = 5_000;

export type Probe =
  | { state: "running"; health: Health; version: VersionInfo }
  | { state: "absent" }
  | { state: "busy"; pid?: number };

/** Is a daemon there? Absent only with proof (no socket file, or nobody listening on it). */
export async function probeDaemon(ctx: CliContext): Promise<Probe> {
  try {
    const [health, version] = await Promise.all([fetchHealth(ctx), fetchVersion(ctx)]);
    return { state: "running", health, version };
  } catch (error) {
    if (error instanceof DaemonUnavailableError && error.provesAbsent) return { state: "absent" };
    if (error instanceof DaemonTimeoutError || error instanceof DaemonUnavailableError) {
      const owner = readLockOwner(ctx.paths.lock);
      return owner === undefined ? { state: "busy" } : { state: "busy", pid: owner.pid };
    }
    throw error;
  }
}

export async function startCommand(ctx: CliContext): Promise<number> {
  const found = await probeDaemon(ctx);
  if (found.state === "running") {
    ctx.stdout.write(`daemon already running (pid ${found.health.pid})\n`);
    return EXIT.ok;
  }
  if (found.state === "busy") {
    throw new CliError(
      `a daemon${found.pid ? ` (pid ${found.pid})` : ""} holds ${ctx.paths.socket} but does not answer; ` +
        "not starting another. See `claudemesh daemon status`",
      EXIT.failure,
    );
  }
  let ready: Awaited<ReturnType<typeof startAndWait>>;
  try {
    ready = await startAndWait(ctx);
  } catch (error) {
    if (!(error instanceof DaemonExitedError)) throw error;
    ready = undefined;
  }
  if (ready === undefined) {
    const tail = logTail(ctx)
      .split("\n")
      .map((line) => renderLogLine(line, false))
      .join("\n");
    throw new CliError(`the daemon did not start; log ${ctx.paths.log}:\n${tail}`, EXIT.failure);
  }
  const health = await fetchHealth(ctx);
  ctx.stdout.write(`daemon started (pid ${health.pid})\n`);
  return EXIT.ok;
}

/** Runs the daemon in this process, logging to stderr, until it is stopped (service managers). */
export async function startForeground(ctx: CliContext): Promise<number> {
  const { runDaemon } = await import("@claudemesh/daemon");
  return runDaemon(["--foreground", "--dir", ctx.paths.dir], ctx.env);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `pid` no longer runs the process that started at `startTime`. */
async function waitForExit(pid: number, startTime: string | null, deadlineMs: number): Promise<boolean> {
  const probe = createProcessProbe();
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const result = (await probe.probe([pid])).get(pid);
    if (result?.state === "dead") return true;
    if (result?.state === "alive" && startTime !== null && result.startTime !== null && result.startTime !== startTime)
      return true;
    await sleep(20);
  }
  return false;
}

export async function stopCommand(ctx: CliContext): Promise<number> {
  const found = await probeDaemon(ctx);
  if (found.state === "absent") {
    ctx.stdout.write("daemon not running\n");
    return EXIT.ok;
  }
  // The lock records the daemon's identity, so a recycled pid is never signalled by mistake.
  const owner = readLockOwner(ctx.paths.lock);
  const pid = found.state === "running" ? found.health.pid : found.pid;
  if (pid === undefined || owner === undefined || owner.pid !== pid) {
    throw new CliError(
      `cannot tell which process is the daemon (lock ${ctx.paths.lock}); nothing was stopped`,
      EXIT.failure,
    );
  }
  try {
    process.kill(pid, "SIGTERM");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
  if (!(await waitForExit(pid, owner.start_time, STOP_DEADLINE_MS))) {
    throw new CliError(
      `the daemon (pid ${pid}) did not stop within ${STOP_DEADLINE_MS / 1000} s; it may be frozen. ` +
        `If it is, \`kill -9 ${pid}\` ends it (sessions are kept on disk)`,
      EXIT.failure,
    );
  }
  ctx.stdout.write(`daemon stopped (pid ${pid})\n`);
  return EXIT.ok;
}

export async function restartCommand(ctx: CliContext): Promise<number> {
  await stopCommand(ctx);
  return startCommand(ctx);
}

/** `systemd (claudemesh.service)`, or `nothing (started on demand)`. */
export function describeManager(managedBy: Health["managed_by"]): string {
  if (managedBy === "systemd" || managedBy === "launchd") return `${managedBy} (${serviceName(managedBy)})`;
  return "nothing (started on demand)";
}

export async function statusCommand(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const found = await probeDaemon(ctx);
  const files = { socket: ctx.paths.socket, log: ctx.paths.log };
  if (found.state === "running") {
    const { health, version } = found;
    const status = {
      running: true,
      pid: health.pid,
      version: version.daemon_version,
      uptime_ms: health.uptime_ms,
      sessions: health.sessions,
      managed_by: health.managed_by ?? null,
      member_fingerprint: health.member_fingerprint ?? null,
      ...files,
    };
    if (options.json) ctx.stdout.write(`${JSON.stringify(status)}\n`);
    else {
      ctx.stdout.write(
        [
          `daemon running (pid ${health.pid})`,
          `version:    ${version.daemon_version}`,
          `uptime:     ${formatAge(health.uptime_ms)}`,
          `sessions:   ${health.sessions}`,
          `member:     ${status.member_fingerprint ?? "-"}`,
          `managed by: ${describeManager(status.managed_by)}`,
          `socket:     ${files.socket}`,
          `log:        ${files.log}`,
          "",
        ].join("\n"),
      );
    }
    return EXIT.ok;
  }
  const answering = found.state === "busy" ? `not answering${found.pid ? ` (pid ${found.pid})` : ""}` : "not running";
  if (options.json) {
    ctx.stdout.write(
      // `unresponsive`: a daemon holds the socket but does not answer (busy or stopped).
      `${JSON.stringify({ running: false, unresponsive: found.state === "busy", ...(found.state === "busy" && found.pid !== undefined && { pid: found.pid }), ...files })}\n`,
    );
  } else {
    ctx.stdout.write(`daemon ${answering}\nsocket:     ${files.socket}\nlog:        ${files.log}\n`);
  }
  return EXIT.daemonUnavailable;
}

/** The last `lines` lines of the log; with `follow`, new lines as they come (across rotation). */
export async function logsCommand(
  ctx: CliContext,
  options: { follow?: boolean; lines?: number; json?: boolean; signal?: AbortSignal },
): Promise<number> {
  // A person at a terminal reads lines; a pipe (or --json) gets the JSON records as they are.
  const renderer = options.json || !ctx.stdout.isTTY ? undefined : new LogLineRenderer(ctx.color);
  const out = (text: string) => ctx.stdout.write(renderer === undefined ? text : renderer.feed(text));
  const path = ctx.paths.log;
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    if (!options.follow) throw new CliError(`no daemon log at ${path}`, EXIT.notFound);
    size = 0;
  }
  // `-n 0` prints nothing (like `tail -n 0`): with -f, only what comes next.
  const lines = options.lines ?? 50;
  if (size > 0 && lines > 0) out(`${logTail(ctx, lines)}\n`);
  if (!options.follow) return EXIT.ok;

  const interruption = untilInterrupted(options.signal);
  let offset = size;
  const buffer = Buffer.alloc(64 * 1024);
  const pump = () => {
    let current: number;
    try {
      current = statSync(path).size;
    } catch {
      return;
    }
    if (current < offset) offset = 0; // rotated: the new file starts from its beginning
    if (current === offset) return;
    const fd = openSync(path, "r");
    try {
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, offset);
        if (n === 0) break;
        out(buffer.toString("utf8", 0, n));
        offset += n;
      }
    } finally {
      closeSync(fd);
    }
  };
  const timer = setInterval(pump, 250);
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(ctx.paths.dir, () => pump());
  } catch {
    warn(ctx, "cannot watch the log dir; polling");
  }
  await new Promise<void>((resolve) => interruption.signal.addEventListener("abort", () => resolve(), { once: true }));
  clearInterval(timer);
  watcher?.close();
  interruption.dispose();
  return EXIT.ok;
}
