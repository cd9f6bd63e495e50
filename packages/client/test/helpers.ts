// The client suite's helpers: a real node:http server on a socket standing in for the daemon,
// and fixtures. Temp dirs, polling and tokens come from @claudemesh/testkit.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Session } from "@claudemesh/registry";
import { makeTempDir, removeDir } from "@claudemesh/testkit";

export { token, waitFor } from "@claudemesh/testkit";

/** A private temp dir, removed by `cleanup`. */
export function tempDir(): { dir: string; cleanup(): void } {
  const dir = makeTempDir("cmc-");
  return { dir, cleanup: () => removeDir(dir) };
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  readonly server: Server;
  /** Closes the server and destroys open connections (streams included); node unlinks the socket. */
  close(): Promise<void>;
}

/** A real node:http server on a Unix socket, the way the daemon listens. */
export async function listen(socketPath: string, handler: Handler): Promise<TestServer> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  let closed: Promise<void> | undefined;
  return {
    server,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Claudemesh-Version": "9.9.9",
    "Claudemesh-Api": "1",
    ...headers,
  });
  res.end(text);
}

/**
 * Leaves a socket file nobody listens on, the way a SIGKILLed daemon does. (Closing a node server
 * in-process does not: node unlinks its socket on close, and connecting then gives ENOENT.)
 */
export function deadSocket(socketPath: string): void {
  const code = `require("node:net").createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, "SIGKILL"))`;
  const result = spawnSync(process.execPath, ["-e", code], { stdio: "ignore", timeout: 20_000 });
  if (result.signal !== "SIGKILL" || !existsSync(socketPath)) throw new Error("could not leave a dead socket behind");
}

export function session(n: number, overrides: Partial<Session> = {}): Session {
  return {
    session_id: `s${n}`,
    mesh: "default",
    display_name: `session ${n}`,
    pid: 1000 + n,
    start_time: "123",
    registered_at: 1_000 * n,
    token_prefix: "0123abcd",
    ...overrides,
  };
}
