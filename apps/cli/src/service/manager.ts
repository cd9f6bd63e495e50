// Running systemctl / launchctl. Asynchronous and bounded: a hung manager never hangs the CLI.
import { execFile } from "node:child_process";
import { shellLine } from "./platform.js";

export interface ManagerOutcome {
  readonly ok: boolean;
  /** Why it failed, in one line: `systemctl not found`, or the manager's own first line of error. */
  readonly detail: string;
}

export const MANAGER_TIMEOUT_MS = 10_000;

export function runManager(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = MANAGER_TIMEOUT_MS,
): Promise<ManagerOutcome> {
  const [command, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    // stdin closed: a manager must never wait for the user (polkit prompts and the like).
    const child = execFile(command, args, { env, timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) return resolve({ ok: true, detail: "" });
      const code = (error as NodeJS.ErrnoException).code;
      const detail =
        code === "ENOENT"
          ? `${command} not found`
          : error.killed
            ? `${shellLine(argv)}: no answer within ${timeoutMs / 1000} s`
            : `${shellLine(argv)}: ${(stderr || stdout || error.message).trim().split("\n")[0]}`;
      resolve({ ok: false, detail });
    });
    child.stdin?.end();
  });
}

/** Runs each argv in turn, stopping at the first failure. */
export async function runAll(list: readonly (readonly string[])[], env: NodeJS.ProcessEnv): Promise<ManagerOutcome> {
  for (const argv of list) {
    const outcome = await runManager(argv, env);
    if (!outcome.ok) return outcome;
  }
  return { ok: true, detail: "" };
}
