// A newline-delimited JSON-RPC client over a child's stdio, the way an MCP client (Claude Code)
// talks to a stdio server: one request at a time or many, matched by id. The same client talks
// to `claudemesh mcp` and to the echo baseline, so its own cost cancels out of every ratio.
// Times are performance.now() at the arrival of the stdout chunk holding the line, before parsing.
import { spawn } from "node:child_process";
import { stopPid, track, untrack, waitGone } from "./proc.mjs";

/** Keeps the last few KiB of a stream (and drains it). */
function tail(stream, limit = 4096) {
  let text = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

/**
 * Spawns `argv` with piped stdio. `onNotification(message, at)` gets every line that is not a
 * response. Returns `{ pid, request(method, params, timeoutMs) → {message, at, bytes}, notify,
 * stderr(), stop() }`; stop() ends stdin (a stdio server's way to end), then SIGTERM by pid.
 */
export function startStdioRpc(argv, { env = process.env, onNotification } = {}) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], env });
  track(child.pid);
  const stderr = tail(child.stderr);
  const pending = new Map();
  let nextId = 1;
  let buffer = "";
  let exited;
  child.stdin.on("error", () => {}); // EPIPE once the child is gone: the exit handler reports it
  child.once("exit", (code, signal) => {
    untrack(child.pid); // reaped: the pid may go to another process now, never to be killed by us
    exited = `exited (${code ?? signal})`;
    for (const { reject } of pending.values()) reject(new Error(`${argv.slice(1).join(" ")} ${exited}: ${stderr()}`));
    pending.clear();
  });
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    const at = performance.now();
    buffer += chunk;
    let nl = buffer.indexOf("\n");
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf("\n");
      if (line.trim() === "") continue;
      const message = JSON.parse(line);
      if (message.id !== undefined && ("result" in message || "error" in message)) {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        waiter?.resolve({ message, at, bytes: Buffer.byteLength(line) + 1 });
      } else {
        onNotification?.(message, at);
      }
    }
  });
  const write = (message) => child.stdin.write(`${JSON.stringify(message)}\n`);
  return {
    pid: child.pid,
    stderr,
    request(method, params, timeoutMs = 10_000) {
      if (exited) return Promise.reject(new Error(`${argv.slice(1).join(" ")} ${exited}: ${stderr()}`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`no answer to ${method} within ${timeoutMs} ms; stderr: ${stderr().slice(-600)}`));
        }, timeoutMs);
        timer.unref();
        pending.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        write({ jsonrpc: "2.0", id, method, ...(params !== undefined && { params }) });
      });
    },
    notify(method, params) {
      write({ jsonrpc: "2.0", method, ...(params !== undefined && { params }) });
    },
    async stop() {
      child.stdin.end();
      await waitGone(child.pid, 2_000);
      await stopPid(child.pid);
    },
  };
}
