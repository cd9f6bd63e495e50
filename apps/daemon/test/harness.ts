// Test harness: temp daemon dirs, real daemon processes (the built dist/main.js), and raw HTTP
// over the socket. Every process started here is stopped by pid; every dir is removed.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { daemonPaths } from "@claudemesh/client";

export const DAEMON_MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

const dirs: string[] = [];
const children = new Set<ChildProcess>();

/** A fresh 0700 dir under the system temp dir (short path: socket paths are limited). */
export function tempDir(prefix = "cmd-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o700);
  dirs.push(dir);
  return dir;
}

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export interface SpawnedDaemon {
  child: ChildProcess;
  pid: number;
  dir: string;
  socket: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnDaemon(dir: string, args: string[] = []): SpawnedDaemon {
  const child = track(
    spawn(process.execPath, [DAEMON_MAIN, "--foreground", "--dir", dir, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    }),
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { child, pid: child.pid as number, dir, socket: daemonPaths(dir).socket, stderr: () => stderr, exited };
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startDaemonProcess(dir: string, args: string[] = []): Promise<SpawnedDaemon> {
  const daemon = spawnDaemon(dir, args);
  await waitFor(async () => (await http(daemon.socket, "GET", "/v1/health")).status === 200, "daemon ready");
  return daemon;
}

export async function stopDaemon(daemon: SpawnedDaemon, signal: NodeJS.Signals = "SIGTERM") {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill(signal);
  return daemon.exited;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => unknown;
}

/** One request over the socket with full control of method, headers and body. */
export function http(
  socketPath: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Sends raw bytes and collects whatever the server answers until it closes. */
export function rawExchange(socketPath: string, bytes: string | Buffer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let out = "";
    socket.on("data", (c: Buffer) => {
      out += c.toString("latin1");
    });
    socket.on("end", () => resolve(out));
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(out);
    });
    socket.write(bytes);
  });
}

export async function cleanup(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }),
  );
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A long-running process to stand in for a session's program. */
export function spawnSleeper(seconds = 120): ChildProcess {
  return track(spawn("sleep", [String(seconds)], { stdio: "ignore" }));
}

export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL") {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}

export function token(n: number): string {
  return n.toString(16).padStart(64, "0");
}

export function register(socketPath: string, body: Record<string, unknown>) {
  return http(socketPath, "POST", "/v1/sessions/register", {
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

export function authorized(tok: string): Record<string, string> {
  return { authorization: `ClaudeMesh-Session ${tok}` };
}
