// Parsing of Linux /proc/<pid>/stat. Pure.

export interface ProcStat {
  /** One-letter state: R, S, D, Z (zombie), X (dead), T, t, I, … */
  readonly state: string;
  /** Start time in clock ticks since boot, as the decimal string the kernel wrote. */
  readonly startTicks: string;
}

/**
 * The command name (field 2) is in parentheses and may itself contain spaces and ')', so
 * everything is parsed after the *last* ')'. After it: state is the first field and starttime
 * the 20th (field 22 of the whole line).
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // Walk the spaces with indexOf rather than split: the probe parses one line per pid per sweep.
  let start = close + 2;
  let end = text.indexOf(" ", start);
  if (end !== start + 1) return undefined;
  const state = text.charAt(start);
  for (let field = 1; field < 20; field++) {
    start = end + 1;
    end = text.indexOf(" ", start);
    if (end < 0) end = text.length;
  }
  const startTicks = text.slice(start, end);
  if (!/^\d+$/.test(startTicks)) return undefined;
  return { state, startTicks };
}

/** A zombie has exited; only its parent has not collected it yet. */
export function isExitedState(state: string): boolean {
  return state === "Z" || state === "X" || state === "x";
}
