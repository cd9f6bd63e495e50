// The bash completion script. Pure: the command tree in, the script out. Plain bash 3.2 (macOS's
// /bin/bash): no mapfile, no associative arrays; bash-completion's helpers only when present.
import { allNodes, type CompletionNode, DYNAMIC_VALUES, nodeId, transitions, valueFlags } from "./spec.js";

const words = (node: CompletionNode) =>
  [
    ...node.children.map((c) => c.names[0] as string),
    ...node.choices,
    ...node.options.map((o) => o.flags[0] as string),
  ].join(" ");

export function bashScript(tree: CompletionNode): string {
  const values = valueFlags(tree);
  const programs = allNodes(tree).filter((n) => n.runsProgram);
  const dynamic = Object.entries(DYNAMIC_VALUES);
  return `# claudemesh completion for bash.
# Load it now:   source <(claudemesh completion bash)
# Or for good:   claudemesh completion bash > ~/.local/share/bash-completion/completions/claudemesh
_claudemesh() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local node= i w
  COMPREPLY=()
  # Walk the words before the cursor to find the (sub)command being completed.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case $w in
      ${values.join(" | ")}) i=$((i + 1)); continue ;;
    esac
    case $node in
${programs
  .map(
    (n) => `      "${nodeId(n)}")
        # The program and its arguments: a command line of its own.
        if [[ $w == -- || $w != -* ]]; then
          [[ $w == -- ]] && i=$((i + 1))
          if ((i == COMP_CWORD)); then
            COMPREPLY=($(compgen -c -- "$cur"))
          elif declare -F _command_offset >/dev/null; then
            _command_offset "$i"
          fi
          return 0
        fi
        continue ;;`,
  )
  .join("\n")}
    esac
    case "$node|$w" in
${transitions(tree)
  .map((t) => `      "${t.from}|${t.word}") node="${t.to}" ;;`)
  .join("\n")}
    esac
  done
  case $prev in
${dynamic
  .map(
    ([flag, kind]) =>
      `    ${flag}) COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" __complete ${kind} 2>/dev/null)" -- "$cur")); return 0 ;;`,
  )
  .join("\n")}
    ${values.join(" | ")}) return 0 ;;
  esac
  local candidates=
  case $node in
${allNodes(tree)
  .map(
    (n) =>
      `    "${nodeId(n)}")${n.runsProgram ? ` [[ $cur == -* ]] || { COMPREPLY=($(compgen -c -- "$cur")); return 0; };` : ""} candidates="${words(n)}" ;;`,
  )
  .join("\n")}
  esac
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o bashdefault -o default -F _claudemesh claudemesh
`;
}
