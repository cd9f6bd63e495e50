// `claudemesh launch`: run a program as a session.
//
// The session follows the *program*: it is registered under the program's own pid. To know that
// pid before the program runs, launch starts a tiny `sh` that waits on a pipe (fd 3); launch
// registers the sh's pid, then writes "go" and the sh execs the program in place: same pid, same
// process start time. So the program's first call with its token already resolves, the session
// is listed before the program starts, and if launch itself is SIGKILLed the program keeps
// running and stays registered until it ends (the reaper then removes it). If launch dies before
// "go", the pipe closes and the sh exits without running anything.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { basename } from "node:path";
import { ApiError, DaemonTimeoutError, DaemonUnavailableError, requestJson } from "@claudemesh/client";
import { mintToken, parseRegistration } from "@claudemesh/registry";
import { type CliContext, warn } from "../context.js";
import { ensureDaemon } from "../daemon-control.js";
import { CliError, EXIT, exitCodeForSignal } from "../exit-codes.js";
import { findCommand } from "../find-command.js";
import { type MessageMode, sessionIdFromClaudeArgs, startsClaudeSession, wireClaude } from "../launch-wiring.js";
import { selfCommand } from "../self-command.js";
import { sweepTokenDirs, type TokenFile, writeTokenFile } from "../token-file.js";

export interface LaunchOptions {
  name?: string;
  mesh?: string;
  role?: string;
  group?: string[];
  sessionId?: string;
  summary?: string;
  inbound?: string;
  /** claude only: push (the default), pull or off. */
  messageMode?: MessageMode;
  /** claude only: do not pre-allow the claudemesh tools. */
  askPermission?: boolean;
}

const OPTION_OF_FIELD: Record<string, string> = {
  session_id: "--session-id",
  mesh: "--mesh",
  display_name: "--name",
  role: "--role",
  groups: "--group",
  summary: "--summary",
  inbound: "--inbound",
};

/** Waits on fd 3 for "go", then becomes the program. EOF on fd 3 (launch died) runs nothing. */
const SHIM = 'read -r _ <&3 || exit 125; exec 3<&-; exec "$@"';

const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/** Builds and validates the registration before anything starts; bad options are usage errors. */
function buildRegistration(ctx: CliContext, options: LaunchOptions, token: string, pid: number, ownId?: string) {
  const body = {
    token,
    pid,
    session_id: options.sessionId ?? ownId ?? randomUUID(),
    mesh: options.mesh ?? (ctx.env.CLAUDEMESH_MESH || "default"),
    display_name: options.name ?? (basename(ctx.cwd) || "/"),
    cwd: ctx.cwd,
    ...(options.role !== undefined && { role: options.role }),
    ...(options.group !== undefined && options.group.length > 0 && { groups: options.group }),
    ...(options.summary !== undefined && { summary: options.summary }),
    ...(options.inbound !== undefined && { inbound: options.inbound }),
  };
  const parsed = parseRegistration(body, { newSessionId: randomUUID, mesh: "default", displayName: "session" });
  if (!parsed.ok) {
    const option = OPTION_OF_FIELD[parsed.error.field] ?? parsed.error.field;
    const source = parsed.error.field === "mesh" && options.mesh === undefined ? " (from CLAUDEMESH_MESH)" : "";
    throw new CliError(`invalid ${option}${source}: ${parsed.error.rule}`, EXIT.usage);
  }
  return body;
}

function registrationError(error: unknown): CliError {
  if (error instanceof DaemonTimeoutError || error instanceof DaemonUnavailableError) {
    return new CliError(`could not register the session: ${error.message}`, EXIT.daemonUnavailable);
  }
  if (error instanceof ApiError) return new CliError(`the daemon refused the session: ${error.message}`, EXIT.failure);
  return new CliError(`could not register the session: ${String(error)}`, EXIT.failure);
}

/** Does the daemon still hold a session for this token? Doubt (no answer) counts as yes. */
async function sessionIsLive(socket: string, token: string): Promise<boolean> {
  try {
    await requestJson(socket, { method: "GET", path: "/v1/sessions/me", token, timeoutMs: 2_000 });
    return true;
  } catch (error) {
    return !(error instanceof ApiError && error.status === 401);
  }
}

function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

export async function launch(ctx: CliContext, command: readonly string[], options: LaunchOptions): Promise<number> {
  const argv = command.length > 0 ? command : ["claude"];
  const program = argv[0] as string;
  const claudeSession = startsClaudeSession(argv);
  if (!claudeSession && (options.messageMode !== undefined || options.askPermission)) {
    const flag = options.messageMode !== undefined ? "--message-mode" : "--ask-permission";
    throw new CliError(
      `${flag} applies to claude only (${program} gets the session's environment, and reaches the mesh with the claudemesh command or \`claudemesh mcp\`)`,
      EXIT.usage,
    );
  }
  const token = mintToken();
  // Everything is validated before anything starts: a typo never runs the program.
  const ownId = claudeSession ? sessionIdFromClaudeArgs(argv.slice(1)) : undefined;
  const registration = buildRegistration(ctx, options, token, 1, ownId);
  if (ownId !== undefined && options.sessionId !== undefined && ownId !== options.sessionId.toLowerCase()) {
    warn(
      ctx,
      `warning: claude continues conversation ${ownId} as claudemesh session ${options.sessionId}: the inbox is the session's, not the conversation's`,
    );
  }
  const mode = options.messageMode ?? "push";
  if (findCommand(program, ctx.env, ctx.cwd) === undefined) {
    throw new CliError(`command not found: ${program}`, EXIT.commandNotFound);
  }
  const daemon = await ensureDaemon(ctx);

  let tokenFile: TokenFile | undefined;
  try {
    tokenFile = writeTokenFile(token);
    const sessionEnv = {
      CLAUDEMESH_SESSION_ID: registration.session_id,
      CLAUDEMESH_IPC_TOKEN_FILE: tokenFile.path,
      CLAUDEMESH_MESH: registration.mesh,
      CLAUDEMESH_DISPLAY_NAME: registration.display_name,
      CLAUDEMESH_DAEMON_DIR: ctx.paths.dir,
    };
    let programArgv = argv;
    if (claudeSession) {
      const wiring = wireClaude({
        argv,
        mode,
        askPermission: options.askPermission === true,
        sessionId: registration.session_id,
        ...selfCommand(),
        serverEnv: { ...sessionEnv, CLAUDEMESH_MESSAGE_MODE: mode },
      });
      for (const warning of wiring.warnings) warn(ctx, `warning: ${warning}`);
      programArgv = wiring.argv;
    }
    const child = spawn("/bin/sh", ["-c", SHIM, "claudemesh-launch", ...programArgv], {
      stdio: ["inherit", "inherit", "inherit", "pipe"],
      cwd: ctx.cwd,
      env: { ...ctx.env, ...sessionEnv, ...(claudeSession && { CLAUDEMESH_MESSAGE_MODE: mode }) },
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    const exited = waitForExit(child);
    // From now on a stop signal reaches the sh (before "go") or the program (after).
    const forward = (signal: NodeJS.Signals) => {
      // On a terminal, Ctrl-C and Ctrl-\ reach the whole foreground group: the program already
      // has the signal, and a second copy would read as a double press. Elsewhere, pass it on.
      if ((signal === "SIGINT" || signal === "SIGQUIT") && process.stdin.isTTY) return;
      child.kill(signal);
    };
    for (const signal of FORWARDED) process.on(signal, forward);
    const go = child.stdio[3] as NodeJS.WritableStream;
    go.on("error", () => {}); // the sh may already be gone (signalled before "go")
    try {
      await requestJson(daemon.socket, {
        method: "POST",
        path: "/v1/sessions/register",
        body: { ...registration, pid: child.pid },
        timeoutMs: 5_000,
      });
    } catch (error) {
      // Never silent (field note 11), and the program never starts unregistered.
      child.kill("SIGKILL");
      await exited;
      for (const s of FORWARDED) process.off(s, forward);
      throw registrationError(error);
    }

    go.end("go\n");
    // While the program runs: clear token dirs that SIGKILLed launches left behind.
    const parent = tokenFile.parent;
    const swept = parent
      ? sweepTokenDirs(parent, (t) => sessionIsLive(daemon.socket, t), tokenFile.dir).catch(() => 0)
      : Promise.resolve(0);
    const { code, signal } = await exited;
    await swept;
    for (const s of FORWARDED) process.off(s, forward);

    // A normal end deregisters explicitly; the reaper is only the safety net.
    try {
      await requestJson(daemon.socket, { method: "DELETE", path: "/v1/sessions/me", token, timeoutMs: 2_000 });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        warn(ctx, `warning: could not deregister the session (${(error as Error).message}); the daemon will remove it`);
      }
    }
    return signal !== null ? exitCodeForSignal(signal) : (code ?? EXIT.failure);
  } finally {
    tokenFile?.remove();
  }
}
