// Parsing of `ps -o pid=,stat=,lstart=` output. Pure.

export interface PsRow {
  /** ps's STAT column; its first letter is the state (Z for a zombie). */
  readonly stat: string;
  /** lstart with whitespace folded, e.g. "Thu Nov 26 12:01:54 2026". */
  readonly lstart: string;
}

export function parsePsOutput(stdout: string): Map<number, PsRow> {
  const out = new Map<number, PsRow>();
  for (const line of stdout.split("\n")) {
    const match = /^\s*(\d+)\s+(\S+)\s+(\S.*?)\s*$/.exec(line);
    if (!match) continue;
    out.set(Number(match[1]), { stat: match[2] as string, lstart: (match[3] as string).replace(/\s+/g, " ") });
  }
  return out;
}
