// The daemon suite's binding of @claudemesh/testkit: temp daemon dirs, real daemon processes of
// the built dist/main.js, and raw HTTP over the socket. Every process started here is stopped by
// pid at cleanup; every dir is removed.
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { daemonPaths } from "@claudemesh/client";
import { Children, Daemons, TempDirs } from "@claudemesh/testkit";

export {
  authorized,
  http,
  killAndWait,
  rawExchange,
  register,
  stopDaemon,
  token,
  waitFor,
} from "@claudemesh/testkit";

export const DAEMON_MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

const dirs = new TempDirs("cmd-");
const children = new Children();
const daemons = new Daemons({ program: DAEMON_MAIN, paths: daemonPaths, children });

export const tempDir = (prefix?: string): string => dirs.make(prefix);
/** A long-running process to stand in for a session's program. */
export const spawnSleeper = (seconds?: number): ChildProcess => children.sleeper(seconds);
export const spawnDaemon = (dir: string, args?: string[]) => daemons.spawn(dir, args);
export const startDaemonProcess = (dir: string, args?: string[]) => daemons.start(dir, args);

export async function cleanup(): Promise<void> {
  await children.stopAll();
  dirs.removeAll();
}
