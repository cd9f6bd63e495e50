// The launchd agent `claudemesh daemon install` writes on macOS, and the reading of its
// ProgramArguments back. Pure, so it is tested on every platform.

import { LAUNCHD_LABEL } from "./platform.js";
import { checkAbsolute, daemonArgv, type ServiceSpec, ServiceValueError } from "./service-spec.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters XML 1.0 cannot carry at all
const NOT_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;

/** Text content or attribute value, escaped; tab, CR and LF as references so they survive exactly. */
export function xmlEscape(value: string): string {
  if (NOT_XML.test(value)) {
    throw new ServiceValueError(
      `${JSON.stringify(value)} contains a character XML cannot carry; use a path without control characters`,
    );
  }
  return value.replace(/[&<>"'\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const string = (value: string, indent: string) => `${indent}<string>${xmlEscape(value)}</string>`;
const key = (name: string, indent: string) => `${indent}<key>${xmlEscape(name)}</key>`;

export function launchdPlist(spec: ServiceSpec): string {
  checkAbsolute(spec);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Written by `claudemesh daemon install`; remove it with `claudemesh daemon uninstall`. -->",
    '<plist version="1.0">',
    "<dict>",
    key("Label", "  "),
    string(LAUNCHD_LABEL, "  "),
    key("ProgramArguments", "  "),
    "  <array>",
    ...daemonArgv(spec).map((arg) => string(arg, "    ")),
    "  </array>",
    key("EnvironmentVariables", "  "),
    "  <dict>",
    key("CLAUDEMESH_MANAGED_BY", "    "),
    string("launchd", "    "),
    "  </dict>",
    key("WorkingDirectory", "  "),
    string(spec.dir, "  "),
    key("RunAtLoad", "  "),
    "  <true/>",
    // Restarted when it fails, not after `claudemesh daemon stop` (a clean exit).
    key("KeepAlive", "  "),
    "  <dict>",
    key("SuccessfulExit", "    "),
    "    <false/>",
    "  </dict>",
    // 077: the log launchd creates, and every file of the daemon, stay private (0600).
    key("Umask", "  "),
    "  <integer>63</integer>",
    key("StandardOutPath", "  "),
    string(spec.log, "  "),
    key("StandardErrorPath", "  "),
    string(spec.log, "  "),
    "</dict>",
    "</plist>",
    "",
  ].join("\n");
}

function xmlUnescape(text: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, ref: string) =>
    ref.startsWith("#x")
      ? String.fromCodePoint(Number.parseInt(ref.slice(2), 16))
      : ref.startsWith("#")
        ? String.fromCodePoint(Number(ref.slice(1)))
        : (named[ref] as string),
  );
}

/** The ProgramArguments of a plist; undefined when it has none. */
export function parseProgramArguments(plist: string): string[] | undefined {
  const array = /<key>\s*ProgramArguments\s*<\/key>\s*<array>([\s\S]*?)<\/array>/.exec(plist)?.[1];
  if (array === undefined) return undefined;
  const args = [...array.matchAll(/<string>([\s\S]*?)<\/string>/g)].map((m) => xmlUnescape(m[1] as string));
  return args.length > 0 ? args : undefined;
}
