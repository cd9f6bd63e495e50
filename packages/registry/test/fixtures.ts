import type { Registration, RegistrationDefaults } from "../src/model.js";

export const defaults: RegistrationDefaults = {
  newSessionId: () => "generated-id",
  mesh: "default",
  displayName: "fallback",
};

/** A valid 64-hex token derived from a small number, so tests read clearly. */
export function token(n: number): string {
  return n.toString(16).padStart(64, "0");
}

export function registration(n: number, overrides: Partial<Registration> = {}): Registration {
  return {
    token: token(n),
    session_id: `s${n}`,
    mesh: "default",
    display_name: `session ${n}`,
    pid: 1000 + n,
    ...overrides,
  };
}

/** An errno-style error, as node:fs and process.kill throw them. */
export function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

/** A /proc/<pid>/stat line with the given command name, state and start time (field 22). */
export const statLine = (comm: string, state: string, start: string) =>
  `123 (${comm}) ${state} 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 ${start} 999 888\n`;
