// The reliability suite's binding of @claudemesh/testkit: temp daemon dirs, the built CLI and
// the daemon it ships (apps/cli/dist/daemon.js), /proc readings, cleanup by pid, and the figures
// each scenario records for docs/reliability.md. Nothing here is ever killed by name.
import type { ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { type Agent, request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { daemonPaths } from "@claudemesh/client";
import {
  Children,
  Daemons,
  http,
  killLockedDaemon,
  lockPid,
  type Result,
  spawnCaptured,
  TempDirs,
} from "@claudemesh/testkit";

export {
  cmdline,
  http,
  killPid,
  listSessions,
  openFds,
  procState,
  type Result,
  rawExchange,
  register,
  rssKiB,
  token,
  waitFor,
} from "@claudemesh/testkit";

export const CLI = fileURLToPath(new URL("../../apps/cli/dist/cli.js", import.meta.url));
export const DAEMON = fileURLToPath(new URL("../../apps/cli/dist/daemon.js", import.meta.url));
const RESULTS = fileURLToPath(new URL("./.results/figures.jsonl", import.meta.url));

const dirs = new TempDirs("cmr-");
const children = new Children();
const daemons = new Daemons({ program: DAEMON, paths: daemonPaths, children });
/** Dirs whose daemon (started by the CLI, so not a child of ours) is stopped at cleanup. */
const daemonDirs = new Set<string>();

export const tempDir = (prefix?: string): string => dirs.make(prefix);
export const track = <T extends ChildProcess>(child: T): T => children.track(child);
export const spawnSleeper = (seconds?: number): ChildProcess => children.sleeper(seconds);

/** A daemon dir: every daemon started in it is stopped by pid at cleanup. */
export function daemonDir(): string {
  const dir = join(tempDir(), "d");
  daemonDirs.add(dir);
  return dir;
}

export const daemonPid = (dir: string): number | undefined => lockPid(daemonPaths(dir).lock);

const cliEnv = (dir: string, extraEnv: NodeJS.ProcessEnv) => ({
  ...process.env,
  CLAUDEMESH_DAEMON_DIR: dir,
  ...extraEnv,
});

/** Runs the built CLI to completion with the daemon dir in its environment. */
export function cli(
  dir: string,
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
): Promise<Result> {
  return spawnCaptured(process.execPath, [CLI, ...args], {
    env: cliEnv(dir, extraEnv),
    stdin: "ignore",
    timeoutMs,
    children,
  }).closed;
}

/** Starts the built CLI without waiting (a launch that runs a while). */
export function cliSpawn(dir: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawnCaptured(process.execPath, [CLI, ...args], { env: cliEnv(dir, extraEnv), stdin: "ignore", children })
    .child;
}

/** Starts the built daemon in the foreground on `dir`; resolves once it answers. */
export async function startDaemon(dir: string, args: string[] = []) {
  daemonDirs.add(dir);
  return daemons.start(dir, args);
}

/** Appends a scenario's figures for docs/reliability.md (and prints them). */
export function record(scenario: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ scenario, ...figures, at: new Date().toISOString() });
  console.log(`[figures] ${line}`);
  mkdirSync(fileURLToPath(new URL("./.results", import.meta.url)), { recursive: true });
  appendFileSync(RESULTS, `${line}\n`);
}

export async function cleanup(): Promise<void> {
  for (const dir of daemonDirs) await killLockedDaemon(daemonPaths(dir).lock, dir);
  daemonDirs.clear();
  await children.stopAll();
  dirs.removeAll();
}

/** `Authorization` for a session token. */
export const as = (tok: string): Record<string, string> => ({ authorization: `ClaudeMesh-Session ${tok}` });

/** POST /v1/messages as a session (or the member, without a token). */
export function sendMessage(socket: string, tok: string | undefined, body: Record<string, unknown>) {
  return http(socket, "POST", "/v1/messages", {
    headers: { "content-type": "application/json", ...(tok !== undefined && as(tok)) },
    body: JSON.stringify(body),
  });
}

export interface InboxMessage {
  id: string;
  text: string;
  state: string;
  from: { session_id: string | null };
}

/** GET /v1/inbox?state=all of a session, parsed. */
export async function inboxOf(socket: string, tok: string): Promise<InboxMessage[]> {
  const res = await http(socket, "GET", "/v1/inbox?state=all", { headers: as(tok) });
  if (res.status !== 200) throw new Error(`inbox: ${res.status} ${res.text}`);
  return (JSON.parse(res.text) as { messages: InboxMessage[] }).messages;
}

/** A generated request of the hostile-input scenarios. */
export interface RequestSpec {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/**
 * Sends one generated request through a keep-alive agent and reads the whole answer. With
 * `frame`, a body gets its Content-Length (Node's client sends a GET or DELETE body unframed,
 * which no server can read as a body); without, the bytes go as Node sends them.
 */
export function sendSpec(
  agent: Agent,
  socket: string,
  spec: RequestSpec,
  { frame = false } = {},
): Promise<{ status: number; body: string }> {
  const headers =
    frame && spec.body !== undefined ? { ...spec.headers, "content-length": String(spec.body.length) } : spec.headers;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, agent, method: spec.method, path: spec.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("socket hang up (response aborted)")));
    });
    req.on("error", reject);
    req.setTimeout(15_000, () => req.destroy(new Error("request timed out")));
    if (spec.body !== undefined) req.write(spec.body);
    req.end();
  });
}
