// How to run this very CLI again from another program (Claude Code starting `claudemesh mcp`,
// its hooks running `claudemesh hook …`): the absolute node binary and the CLI's own script,
// never a PATH lookup, which another shell, a version manager or a stale global install could
// answer differently.
import { realpathSync } from "node:fs";

export interface SelfCommand {
  readonly node: string;
  readonly cli: string;
}

export function selfCommand(argv: readonly string[] = process.argv, execPath: string = process.execPath): SelfCommand {
  const script = argv[1];
  if (script === undefined) throw new Error("cannot tell the path of the claudemesh CLI (no script in argv)");
  let cli = script;
  try {
    // An npm global install runs the CLI through a symlink in its bin dir.
    cli = realpathSync(script);
  } catch {
    // Not there any more (unlikely while it runs): keep what we were started with.
  }
  return { node: execPath, cli };
}

/** The words of a POSIX shell command line, each quoted: what a hook's `command` string holds. */
export function shellCommand(words: readonly string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(" ");
}
