// Real processes for tests: every process started here is tracked and killed by pid afterwards.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

const started = new Set<ChildProcess>();

/** A long-running child that does nothing (sleep). */
export function spawnSleeper(seconds = 60): ChildProcess {
  const child = spawn("sleep", [String(seconds)], { stdio: "ignore" });
  started.add(child);
  return child;
}

/**
 * A zombie: `sh` starts `sleep 0.2` in the background then becomes `sleep 60` without ever
 * waiting, so the short sleep exits and stays a zombie. Resolves with the zombie's pid and its parent.
 */
export async function spawnZombie(): Promise<{ zombiePid: number; parent: ChildProcess }> {
  // The child sleeps a moment so that it exits only after sh has become `sleep 60`: a shell may
  // itself reap a background job that ends before its next command, and then no zombie remains.
  const parent = spawn("sh", ["-c", "sleep 0.2 & echo $!; exec sleep 60"], { stdio: ["ignore", "pipe", "ignore"] });
  started.add(parent);
  const [chunk] = (await once(parent.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  return { zombiePid: Number(chunk.toString().trim()), parent };
}

export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}

export async function killAll(): Promise<void> {
  await Promise.all([...started].map((c) => killAndWait(c)));
  started.clear();
}

/** Polls `check` until it returns true, failing after a generous deadline. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000) {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A `sleep` whose parent never waits: `sh` starts `sleep` in the background, then becomes another
 * `sleep`. Killing the background one (the returned `childPid`) leaves a zombie until the parent
 * ends. Resolves with that pid and the parent.
 */
export async function spawnUnwaitedSleeper(seconds = 60): Promise<{ childPid: number; parent: ChildProcess }> {
  const parent = spawn("sh", ["-c", `sleep ${seconds} & echo $!; exec sleep ${seconds}`], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  started.add(parent);
  const [chunk] = (await once(parent.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  return { childPid: Number(chunk.toString().trim()), parent };
}
