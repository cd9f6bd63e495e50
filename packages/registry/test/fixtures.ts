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
