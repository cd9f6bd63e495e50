// The fish completion script. Pure: the command tree in, the script out.
import { allNodes, type CompletionNode, DYNAMIC_VALUES, nodeId, transitions, valueFlags } from "./spec.js";

/** A single-quoted fish word. */
const quote = (text: string) => `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;

function flagArgs(flags: readonly string[]): string {
  return flags.map((f) => (f.startsWith("--") ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(" ");
}

export function fishScript(tree: CompletionNode): string {
  const values = valueFlags(tree);
  const programs = allNodes(tree).filter((n) => n.runsProgram);
  const lines: string[] = [];
  for (const node of allNodes(tree)) {
    const at = `-n ${quote(`__claudemesh_at ${quote(nodeId(node))}`)}`;
    for (const child of node.children) {
      lines.push(`complete -c claudemesh ${at} -f -a ${quote(child.names[0] as string)} -d ${quote(child.summary)}`);
    }
    if (node.choices.length > 0) lines.push(`complete -c claudemesh ${at} -f -a ${quote(node.choices.join(" "))}`);
    for (const option of node.options) {
      const kind = DYNAMIC_VALUES[option.flags.find((f) => f.startsWith("--")) ?? ""];
      const value =
        kind !== undefined ? ` -x -a ${quote(`(__claudemesh_values ${kind})`)}` : option.takesValue ? " -x" : "";
      lines.push(`complete -c claudemesh ${at} -f ${flagArgs(option.flags)}${value} -d ${quote(option.summary)}`);
    }
    if (node.runsProgram) lines.push(`complete -c claudemesh ${at} -f -a ${quote("(__fish_complete_command)")}`);
  }
  return `# claudemesh completion for fish.
# Load it now:   claudemesh completion fish | source
# Or for good:   claudemesh completion fish > ~/.config/fish/completions/claudemesh.fish

# The (sub)command being completed, from the words before the cursor; 'program' once the words
# are a command line of their own (launch -- claude …), which then completes as such.
function __claudemesh_node
    set -l tokens (commandline -opc)
    set -l node ''
    set -l skip 0
    for i in (seq 2 (count $tokens))
        set -l w $tokens[$i]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case ${values.join(" ")}
                set skip 1
                continue
        end
        switch $node
${programs
  .map(
    (n) => `            case ${quote(nodeId(n))}
                if test "$w" = --
                    set -g __claudemesh_program_at (math $i + 1)
                else if not string match -q -- '-*' $w
                    set -g __claudemesh_program_at $i
                else
                    continue
                end
                echo program
                return`,
  )
  .join("\n")}
        end
        switch "$node|$w"
${transitions(tree)
  .map((t) => `            case ${quote(`${t.from}|${t.word}`)}\n                set node ${quote(t.to)}`)
  .join("\n")}
        end
    end
    echo $node
end

# Completes the program's words as the command line they are.
function __claudemesh_program
    set -l tokens (commandline -opc)
    set -l line (string join ' ' -- (string escape -- $tokens[$__claudemesh_program_at..-1]))
    set -l current (commandline -ct)
    complete -C "$line $current"
end

function __claudemesh_at
    set -l node (__claudemesh_node)
    test "$node" = "$argv[1]"
end

# Live values (session ids), from the same claudemesh; nothing when no daemon runs.
function __claudemesh_values
    set -l cmd (commandline -opc)[1]
    command $cmd __complete $argv[1] 2>/dev/null
end

${lines.join("\n")}
complete -c claudemesh -n '__claudemesh_at program' -f -a '(__claudemesh_program)'
`;
}
