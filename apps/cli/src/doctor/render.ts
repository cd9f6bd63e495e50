// How doctor's findings are printed: aligned with marks on a terminal, one tab-separated line per
// check in a pipe (`status check finding fix`), or JSON. Pure.
import type { Check, Status } from "./checks.js";

const MARK: Readonly<Record<Status, string>> = { ok: "✓", warn: "!", fail: "✗" };
const COLOR: Readonly<Record<Status, number>> = { ok: 32, warn: 33, fail: 31 };

/** Tabs and newlines inside a value would split a piped line. */
const cell = (text: string) => text.replace(/[\t\n\r]+/g, " ");

export function renderTsv(checks: readonly Check[]): string {
  return checks.map((c) => `${[c.status, c.name, c.finding, c.fix ?? "-"].map(cell).join("\t")}\n`).join("");
}

export function renderJson(checks: readonly Check[]): string {
  return `${JSON.stringify({ checks: checks.map(({ name, status, finding, fix }) => ({ name, status, finding, fix })) })}\n`;
}

export function renderTerminal(checks: readonly Check[], color: boolean): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const paint = (status: Status, text: string) => (color ? `\x1b[${COLOR[status]}m${text}\x1b[39m` : text);
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${paint(c.status, MARK[c.status])} ${c.name.padEnd(width)}  ${cell(c.finding)}`);
    if (c.status !== "ok" && c.fix !== null) lines.push(`  ${" ".repeat(width)}  fix: ${cell(c.fix)}`);
  }
  const failed = checks.filter((c) => c.status === "fail").length;
  const warned = checks.filter((c) => c.status === "warn").length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  lines.push(
    failed + warned === 0
      ? "no problems found"
      : [failed > 0 && plural(failed, "problem"), warned > 0 && plural(warned, "warning")].filter(Boolean).join(", "),
  );
  return `${lines.join("\n")}\n`;
}
