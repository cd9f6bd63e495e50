// Starting and stopping the real daemon (and the bare baseline server) as child processes, the way
// users run them. Each helper returns the pid so callers stop it by pid in a finally block.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitReady } from "./http.mjs";
import { stopPid, track } from "./proc.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));

export const PATHS = {
  root,
  daemonMain: join(root, "apps/daemon/dist/main.js"),
  cli: join(root, "apps/cli/dist/cli.js"),
  cliDaemon: join(root, "apps/cli/dist/daemon.js"),
  bareServer: join(root, "bench/lib/bare-server.mjs"),
  registry: join(root, "packages/registry/dist/index.js"),
};

/** Keeps the last few KiB of a child's stderr for error messages (and drains the pipe). */
function tail(stream, limit = 4096) {
  let text = "";
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

/**
 * Spawns a server program and waits until GET /v1/health answers 200 on `socket`.
 * Returns `{ pid, socket, readyMs, stderr(), alive(), stop() }`; readyMs is spawn → first 200.
 */
export async function startServer(
  program,
  args,
  socket,
  { env = process.env, timeoutMs = 15_000, nodeArgs = [] } = {},
) {
  const since = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, program, ...args], { stdio: ["ignore", "ignore", "pipe"], env });
  track(child.pid);
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  const stderr = tail(child.stderr);
  const handle = {
    pid: child.pid,
    socket,
    readyMs: Number.NaN,
    stderr,
    alive: () => !exited,
    stop: () => stopPid(child.pid),
  };
  try {
    handle.readyMs = await waitReady(socket, { since, timeoutMs, isAlive: handle.alive });
  } catch (error) {
    await handle.stop();
    throw new Error(`${error.message}; stderr: ${stderr().trim().slice(-600) || "(empty)"}`);
  }
  return handle;
}

/**
 * The real daemon program, in the foreground (logs to its stderr), in `dir`. `nodeArgs` go to
 * node before the program (B5: `--expose-gc --import bench/lib/gc-probe.mjs`), `env` replaces
 * the environment: bench-only instruments, nothing the product itself reads.
 */
export function startDaemon(
  dir,
  { reaperIntervalMs, program = PATHS.daemonMain, extraArgs = [], nodeArgs = [], env = process.env } = {},
) {
  const args = ["--foreground", "--dir", dir, ...extraArgs];
  if (reaperIntervalMs !== undefined) args.push("--reaper-interval-ms", String(reaperIntervalMs));
  return startServer(program, args, join(dir, "daemon.sock"), { nodeArgs, env });
}

/**
 * The baseline for IPC: a bare node:http server on a Unix socket in `dir`, answering a fixed small
 * JSON; or, given `body` (bytes) and `headers`, exactly those for every request. `name` names its
 * socket and files, so several can share a dir.
 */
export function startBareServer(dir, { name = "bare", body, headers } = {}) {
  const socket = join(dir, `${name}.sock`);
  const args = [socket];
  if (body !== undefined) {
    const bodyFile = join(dir, `${name}.body`);
    writeFileSync(bodyFile, body);
    args.push(bodyFile);
    if (headers !== undefined) {
      const headersFile = join(dir, `${name}.headers.json`);
      writeFileSync(headersFile, JSON.stringify(headers));
      args.push(headersFile);
    }
  }
  return startServer(PATHS.bareServer, args, socket);
}
