// A real nats-server for tests: JetStream on, a store dir of the test's own, a free port on
// 127.0.0.1 only, ready once it greets a TCP connection with INFO, stopped by pid. It can be
// stopped, killed, paused and restarted on the same port and store, so that a test can take the
// server away under a client and bring it back with its streams.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, mkdirSync } from "node:fs";
import { connect, createServer } from "node:net";
import { delimiter, join } from "node:path";
import { type Children, killAndWait, pausePid, resumePid, stopChild } from "./processes.js";
import { makeTempDir, removeDir } from "./temp.js";
import { waitFor } from "./wait.js";

export const NATS_SERVER_MISSING = "nats-server not found: apt-get install nats-server; .ci/run installs it";

export interface NatsServerOptions {
  /** The program; "nats-server" from PATH unless told. */
  readonly command?: string;
  /** The server's dir (the JetStream store is `<dir>/js`); a fresh temp dir, owned, unless given. */
  readonly dir?: string;
  /** The client port; a free one unless given. */
  readonly port?: number;
  /** Also serve the HTTP monitoring endpoints (/varz, /jsz...) on a free port. */
  readonly monitor?: boolean;
  /** Passed after ours (e.g. ["-D"] for debug logs). */
  readonly args?: readonly string[];
  /** Where the process is also tracked, so that the suite's `stopAll()` ends one a test left. */
  readonly children?: Children;
  /** How long a start may take before it fails with the server's log. */
  readonly readyMs?: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The monitoring URL (`http://127.0.0.1:<port>`), with `monitor: true`. */
  readonly monitorUrl: string | undefined;
  /** The running process's pid: a new one after each restart. */
  readonly pid: number;
  readonly dir: string;
  /** The JetStream store dir, `<dir>/js`. */
  readonly storeDir: string;
  /** Everything the server logged so far (it logs to stderr), over all its runs. */
  log(): string;
  /** Is the process up (paused counts as up)? */
  running(): boolean;
  /** A clean stop (SIGTERM by default; SIGKILL after a deadline), waited for. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL: a crash, nothing flushed. */
  kill9(): Promise<void>;
  /** SIGSTOP: the port stays open but nothing answers (a hung server, a partition). */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): Promise<void>;
  /** Stops it if running, then starts it again on the same port and store dir, ready. */
  restart(): Promise<void>;
  /** Stops it and removes its dir if this kit made it. */
  dispose(): Promise<void>;
}

/** A port that was free on 127.0.0.1 a moment ago (the kernel's pick, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("freePort: no TCP address");
  return address.port;
}

/** The path of `command` on PATH (or `command` itself when it holds a slash), if executable. */
export function findExecutable(command: string): string | undefined {
  const candidates = command.includes("/")
    ? [command]
    : (process.env["PATH"] ?? "").split(delimiter).map((d) => join(d || ".", command));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** Does a NATS server answer on 127.0.0.1:port? It greets every new connection with `INFO {...}`. */
export function natsGreets(port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let greeting = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
    socket.on("data", (chunk: Buffer) => {
      greeting += chunk.toString("latin1");
      if (greeting.length >= 5) done(greeting.startsWith("INFO "));
    });
  });
}

const running = (child: ChildProcess | undefined): child is ChildProcess =>
  child?.pid !== undefined && child.exitCode === null && child.signalCode === null;

class RealNatsServer implements NatsServer {
  readonly url: string;
  readonly monitorUrl: string | undefined;
  readonly storeDir: string;
  #child: ChildProcess | undefined;
  #log = "";

  constructor(
    private readonly binary: string,
    readonly dir: string,
    private readonly ownsDir: boolean,
    readonly port: number,
    private readonly monitorPort: number | undefined,
    private readonly options: NatsServerOptions,
  ) {
    this.url = `nats://127.0.0.1:${port}`;
    this.monitorUrl = monitorPort === undefined ? undefined : `http://127.0.0.1:${monitorPort}`;
    this.storeDir = join(dir, "js");
  }

  get pid(): number {
    if (this.#child?.pid === undefined) throw new Error("nats-server is not running");
    return this.#child.pid;
  }

  log(): string {
    return this.#log;
  }

  running(): boolean {
    return running(this.#child);
  }

  /** Spawns the server and resolves once it greets a client; fails at once if it exits instead. */
  async start(): Promise<void> {
    if (running(this.#child)) throw new Error(`nats-server already runs as pid ${this.#child.pid}`);
    mkdirSync(this.storeDir, { recursive: true, mode: 0o700 });
    const args = ["-js", "-sd", this.storeDir, "-a", "127.0.0.1", "-p", String(this.port)];
    if (this.monitorPort !== undefined) args.push("-m", String(this.monitorPort));
    args.push(...(this.options.args ?? []));
    const child = spawn(this.binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    this.options.children?.track(child);
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      this.#log += s;
    });
    let failure: string | undefined;
    child.once("error", (error) => {
      failure = error.message;
    });
    child.once("exit", (code, signal) => {
      failure ??= `exited (${signal ?? code})`;
    });
    try {
      await waitFor(
        async () => {
          if (failure !== undefined) return true;
          return natsGreets(this.port);
        },
        `nats-server on ${this.url} to greet a client`,
        this.options.readyMs ?? 20_000,
      );
    } catch (error) {
      await this.kill9();
      throw new Error(`${(error as Error).message}; its log:\n${this.#log}`);
    }
    if (failure !== undefined) {
      throw new Error(`nats-server on ${this.url} did not start: ${failure}; its log:\n${this.#log}`);
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await stopChild(this.#child, signal);
  }

  async kill9(): Promise<void> {
    if (this.#child) await killAndWait(this.#child, "SIGKILL");
  }

  async pause(): Promise<void> {
    await pausePid(this.pid, "nats-server");
  }

  async resume(): Promise<void> {
    await resumePid(this.pid, "nats-server");
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) removeDir(this.dir);
  }
}

/**
 * Starts `nats-server -js -sd <dir>/js -a 127.0.0.1 -p <free port>` and resolves once it answers.
 * Its end is the caller's: `stop()` or `dispose()` in the test's cleanup (or `children.stopAll()`).
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = findExecutable(options.command ?? "nats-server");
  if (binary === undefined) throw new Error(NATS_SERVER_MISSING);
  const dir = options.dir ?? makeTempDir("cmk-nats-");
  const port = options.port ?? (await freePort());
  let monitorPort: number | undefined;
  while (options.monitor && (monitorPort === undefined || monitorPort === port)) monitorPort = await freePort();
  const server = new RealNatsServer(binary, dir, options.dir === undefined, port, monitorPort, options);
  try {
    await server.start();
  } catch (error) {
    if (options.dir === undefined) removeDir(dir);
    throw error;
  }
  return server;
}
