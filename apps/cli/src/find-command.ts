// PATH lookup, so that `launch` can answer 127 itself before registering anything.
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";

/** A regular file this process may execute. */
export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path the program would run from, as a shell finds it; undefined when not found. */
export function findCommand(command: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (command.includes("/")) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    return isExecutableFile(path) ? path : undefined;
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir === "" ? cwd : dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
