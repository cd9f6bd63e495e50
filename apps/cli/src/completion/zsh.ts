// The zsh completion script. Pure: the command tree in, the script out.
import { allNodes, type CompletionNode, DYNAMIC_VALUES, nodeId, transitions, valueFlags } from "./spec.js";

/** A single-quoted zsh word. */
const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
/** A `_describe` item: `name:description`, colons in the name escaped. */
const item = (name: string, summary: string) =>
  quote(summary === "" ? name.replaceAll(":", "\\:") : `${name.replaceAll(":", "\\:")}:${summary}`);

function arrays(node: CompletionNode): string {
  const commands = [
    ...node.children.map((c) => item(c.names[0] as string, c.summary)),
    ...node.choices.map((choice) => item(choice, "")),
  ];
  const options = node.options.map((o) => item(o.flags[0] as string, o.summary));
  return `commands=(${commands.join(" ")}); options=(${options.join(" ")})`;
}

export function zshScript(tree: CompletionNode): string {
  const values = valueFlags(tree);
  const programs = allNodes(tree).filter((n) => n.runsProgram);
  return `#compdef claudemesh
# claudemesh completion for zsh.
# Load it now:   source <(claudemesh completion zsh)
# Or for good:   claudemesh completion zsh > "\${fpath[1]}/_claudemesh"
_claudemesh() {
  local node= w i
  local -a commands options values
  # Walk the words before the cursor to find the (sub)command being completed.
  for (( i = 2; i < CURRENT; i++ )); do
    w=\${words[i]}
    case $w in
      (${values.join("|")}) (( i++ )); continue ;;
    esac
    case $node in
${programs
  .map(
    (n) => `      (${quote(nodeId(n))})
        # The program and its arguments: a command line of its own.
        if [[ $w == -- || $w != -* ]]; then
          [[ $w == -- ]] && (( i++ ))
          words=("\${(@)words[i,-1]}")
          (( CURRENT = CURRENT - i + 1 ))
          _normal
          return
        fi
        continue ;;`,
  )
  .join("\n")}
    esac
    case "$node|$w" in
${transitions(tree)
  .map((t) => `      (${quote(`${t.from}|${t.word}`)}) node=${quote(t.to)} ;;`)
  .join("\n")}
    esac
  done
  case \${words[CURRENT-1]} in
${Object.entries(DYNAMIC_VALUES)
  .map(
    ([flag, kind]) =>
      `    (${flag}) values=(\${(f)"$(\${words[1]} __complete ${kind} 2>/dev/null)"}); compadd -a values; return ;;`,
  )
  .join("\n")}
    (${values.join("|")}) return 1 ;;
  esac
  case $node in
${allNodes(tree)
  .map((n) => `    (${quote(nodeId(n))}) ${arrays(n)} ;;`)
  .join("\n")}
  esac
${programs
  .map(
    (n) => `  if [[ $node == ${quote(nodeId(n))} && $PREFIX != -* ]]; then
    words=("\${(@)words[CURRENT,-1]}"); CURRENT=1; _normal; return
  fi`,
  )
  .join("\n")}
  if [[ $PREFIX == -* || \${#commands} -eq 0 ]]; then
    _describe -t options option options
  else
    _describe -t commands command commands
  fi
}
if [[ "\${funcstack[1]}" == _claudemesh ]]; then
  _claudemesh "$@"
else
  compdef _claudemesh claudemesh
fi
`;
}
