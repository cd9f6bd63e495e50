// The systemd user unit `claudemesh daemon install` writes on Linux, and the reading of its
// ExecStart back (auto-start checks which dir a unit serves; doctor checks its Node still exists).
// Pure: values in, text out.
import { checkAbsolute, daemonArgv, type ServiceSpec, ServiceValueError } from "./service-spec.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL = /[\x00-\x1f\x7f]/;
const PLAIN = /^[A-Za-z0-9/_.,:@+=-]+$/;

/** A control character would end the unit's line (or be mangled): refuse it, naming the fix. */
function checkExpressible(spec: ServiceSpec): void {
  checkAbsolute(spec);
  for (const [what, value] of Object.entries(spec)) {
    if (CONTROL.test(value)) {
      throw new ServiceValueError(
        `${what} ${JSON.stringify(value)} contains a control character, which a systemd unit cannot express; ` +
          "use a path without one (e.g. set CLAUDEMESH_DAEMON_DIR)",
      );
    }
  }
}

/**
 * One ExecStart word as systemd reads it back: `%` (specifiers) and `$` (variables) doubled, and
 * double-quoted with `\` and `"` escaped when it holds anything but plain path characters.
 */
export function systemdWord(value: string): string {
  const doubled = value.replace(/[%$]/g, (c) => c + c);
  if (PLAIN.test(value)) return doubled;
  return `"${doubled.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A path after `append:`: the rest of the line, unquoted, with specifiers resolved. */
function systemdPath(value: string): string {
  return value.replaceAll("%", "%%");
}

export function systemdUnit(spec: ServiceSpec): string {
  checkExpressible(spec);
  return [
    "# Written by `claudemesh daemon install`; remove it with `claudemesh daemon uninstall`.",
    "[Unit]",
    "Description=claudemesh daemon (registry of live agent sessions)",
    "",
    "[Service]",
    // exec: `systemctl start` fails when the program cannot run (Node removed), so the CLI can
    // fall back to starting the daemon itself instead of waiting for one that never comes.
    "Type=exec",
    `ExecStart=${daemonArgv(spec).map(systemdWord).join(" ")}`,
    "Environment=CLAUDEMESH_MANAGED_BY=systemd",
    // The log file systemd creates, and every file of the daemon, stay private (0600).
    "UMask=0077",
    "Restart=on-failure",
    "RestartSec=1",
    `StandardOutput=append:${systemdPath(spec.log)}`,
    `StandardError=append:${systemdPath(spec.log)}`,
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

const ESCAPES: Readonly<Record<string, string>> = { n: "\n", t: "\t", r: "\r", s: " ", '"': '"', "'": "'", "\\": "\\" };

/** Splits an ExecStart value into words: quotes and C escapes as systemd reads them. */
function splitWords(value: string): string[] | undefined {
  const words: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === " " || value[i] === "\t") i++;
    if (i >= value.length) break;
    let word = "";
    let quote: string | undefined;
    for (; i < value.length; i++) {
      const c = value[i] as string;
      if (quote === undefined && (c === " " || c === "\t")) break;
      if (c === quote) quote = undefined;
      else if (quote === undefined && (c === '"' || c === "'") && word === "") quote = c;
      else if (c === "\\") {
        const next = value[++i];
        if (next === "x" && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
          word += String.fromCharCode(Number.parseInt(value.slice(i + 1, i + 3), 16));
          i += 2;
        } else if (next !== undefined && ESCAPES[next] !== undefined) word += ESCAPES[next];
        else return undefined;
      } else word += c;
    }
    if (quote !== undefined) return undefined;
    words.push(word);
  }
  return words;
}

/**
 * The command line of a unit's (last) ExecStart, as systemd would run it; undefined when there is
 * none or it cannot be read. `%h` is the home dir; other specifiers are left as written.
 */
export function parseExecStart(unit: string, home: string): string[] | undefined {
  let value: string | undefined;
  for (const line of unit.split("\n")) {
    const m = /^\s*ExecStart\s*=\s*(.*?)\s*$/.exec(line);
    if (m) value = m[1];
  }
  if (value === undefined || value === "") return undefined;
  const resolved = value.replace(/%(.)/g, (all, c: string) => (c === "%" ? "%" : c === "h" ? home : all));
  const words = splitWords(resolved);
  if (words === undefined || words.length === 0) return undefined;
  // Prefixes of the executable (`-`, `@`, `+`, `!`, `:`) change how systemd runs it, not what.
  words[0] = (words[0] as string).replace(/^[-@+!:]+/, "");
  return words.map((w) => w.replaceAll("$$", "$"));
}
