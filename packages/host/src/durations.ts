// `--expires 7d`: a whole number and a unit (s, m, h, d). Pure.
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const MAX_INVITE_MS = 365 * 86_400_000;

/** Milliseconds, or an error message naming what was wrong. */
export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; error: string } {
  const m = /^([1-9][0-9]{0,6})([smhd])$/.exec(text.trim());
  if (m === null) return { ok: false, error: `${JSON.stringify(text)} is not a duration: give e.g. 30m, 12h or 7d` };
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  if (ms > MAX_INVITE_MS) return { ok: false, error: `${text} is longer than a year` };
  return { ok: true, ms };
}
