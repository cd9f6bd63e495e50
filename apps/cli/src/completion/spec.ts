// The command tree that completion scripts are generated from, read off commander's own
// definition so that a new command or option is completed without anyone remembering to.
import type { Command } from "commander";

export interface CompletionOption {
  /** `--mesh`, `-n`, `--lines`… */
  readonly flags: readonly string[];
  readonly takesValue: boolean;
  readonly summary: string;
}

export interface CompletionNode {
  /** Words from the root: [] for claudemesh itself, ["sessions", "list"]… */
  readonly path: readonly string[];
  /** Name first, then aliases. */
  readonly names: readonly string[];
  readonly summary: string;
  readonly options: readonly CompletionOption[];
  readonly children: readonly CompletionNode[];
  /** Allowed values of its argument (`completion bash|zsh|fish`). */
  readonly choices: readonly string[];
  /** Its arguments are a command line of their own (`launch -- claude --continue`). */
  readonly runsProgram: boolean;
}

/** Options whose value the CLI can list: the completion scripts ask `claudemesh __complete <kind>`. */
export const DYNAMIC_VALUES: Readonly<Record<string, string>> = { "--session-id": "sessions" };

export const nodeId = (node: CompletionNode) => node.path.join("/");

function nodeOf(command: Command, path: readonly string[]): CompletionNode {
  const help = command.createHelp();
  const args = command.registeredArguments;
  return {
    path,
    names: [command.name(), ...command.aliases()],
    summary: command.summary() || command.description(),
    options: help.visibleOptions(command).map((option) => ({
      flags: [option.long, option.short].filter((f): f is string => f !== undefined),
      takesValue: option.required || option.optional,
      summary: option.description,
    })),
    // commander's implicit `help` command is left out: `--help` does the same.
    children: help
      .visibleCommands(command)
      .filter((child) => child.name() !== "help")
      .map((child) => nodeOf(child, [...path, child.name()])),
    choices: args[0]?.argChoices ?? [],
    runsProgram: args.some((a) => a.variadic) && args[0]?.argChoices === undefined,
  };
}

export function completionTree(program: Command): CompletionNode {
  return nodeOf(program, []);
}

export function allNodes(node: CompletionNode): CompletionNode[] {
  return [node, ...node.children.flatMap(allNodes)];
}

/** Every option flag that takes a value, anywhere in the tree. */
export function valueFlags(tree: CompletionNode): string[] {
  const flags = new Set<string>();
  for (const node of allNodes(tree)) {
    for (const option of node.options) if (option.takesValue) for (const f of option.flags) flags.add(f);
  }
  return [...flags].sort();
}

/** Every `parent|word → child` step of the tree (aliases included). */
export function transitions(tree: CompletionNode): { from: string; word: string; to: string }[] {
  return allNodes(tree).flatMap((node) =>
    node.children.flatMap((child) => child.names.map((word) => ({ from: nodeId(node), word, to: nodeId(child) }))),
  );
}
