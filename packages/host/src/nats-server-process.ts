// The hosted mesh's nats-server: started from the config `mesh host` wrote, its log in the host
// dir, ready once it greets a TCP connection with INFO, stopped with SIGTERM (then SIGKILL after
// a deadline) and waited for. Its pid is kept in the host dir so a second `mesh host` on the same
// dir refuses to start while it runs.
import { createWriteStream, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";

export class HostServerError extends Error {
  override readonly name = "HostServerError";
}

export interface HostServerOptions {
  readonly command?: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly readyMs?: number;
}

export interface HostServer {
  readonly pid: number;
  stop(): Promise<void>;
  /** Resolves when the process ends, by itself or stopped. */
  readonly ended: Promise<number | undefined>;
}

const pidFile = (dir: string) => join(dir, "nats-server.pid");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of a server this dir started that still runs, if any. */
export function runningServerPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(dir), "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function greets(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: host === "0.0.0.0" ? "127.0.0.1" : host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("data", (chunk) => done(chunk.toString("utf8").startsWith("INFO ")));
    socket.once("error", () => done(false));
    socket.setTimeout(1_000, () => done(false));
  });
}

export async function startHostServer(o: HostServerOptions): Promise<HostServer> {
  const running = runningServerPid(o.dir);
  if (running !== undefined) {
    throw new HostServerError(`a nats-server of this host dir is already running (pid ${running}); stop it first`);
  }
  const log = createWriteStream(o.logPath, { flags: "a", mode: 0o600 });
  let child: ResultPromise;
  try {
    child = execa(o.command ?? "nats-server", ["-c", o.configPath], {
      stdin: "ignore",
      stdout: ["pipe"],
      stderr: ["pipe"],
      reject: false,
      cleanup: true,
    });
  } catch (error) {
    throw new HostServerError(`cannot start nats-server: ${(error as Error).message}`);
  }
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const ended = child.then((r) => {
    log.end();
    rmSync(pidFile(o.dir), { force: true });
    return r.exitCode;
  });
  const pid = child.pid;
  if (pid === undefined) {
    const result = await child;
    throw new HostServerError(
      result.code === "ENOENT"
        ? "nats-server not found on PATH: install it (apt-get install nats-server, brew install nats-server)"
        : `nats-server did not start: ${result.shortMessage}`,
    );
  }
  writeFileSync(pidFile(o.dir), `${pid}\n`, { mode: 0o600 });
  let exited = false;
  void ended.then(() => {
    exited = true;
  });
  const deadline = Date.now() + (o.readyMs ?? 15_000);
  while (!(await greets(o.host, o.port))) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await ended;
      const tail = readFileSync(o.logPath, "utf8").split("\n").slice(-8).join("\n");
      throw new HostServerError(`nats-server did not come up on ${o.host}:${o.port}; its log ends:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid,
    ended,
    async stop() {
      if (exited) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await ended;
      clearTimeout(timer);
    },
  };
}
