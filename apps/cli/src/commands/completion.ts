// `claudemesh completion bash|zsh|fish`: prints a completion script, generated from the command
// line's own definition.
import { bashScript } from "../completion/bash.js";
import { fishScript } from "../completion/fish.js";
import { completionTree } from "../completion/spec.js";
import { zshScript } from "../completion/zsh.js";
import type { CliContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { buildProgram } from "../program.js";

export type Shell = "bash" | "zsh" | "fish";

export function completionScript(shell: Shell): string {
  const tree = completionTree(buildProgram(() => {}));
  return shell === "bash" ? bashScript(tree) : shell === "zsh" ? zshScript(tree) : fishScript(tree);
}

export function completionCommand(ctx: CliContext, shell: Shell): number {
  ctx.stdout.write(completionScript(shell));
  return EXIT.ok;
}
