// The X25519 keys messages to this daemon's sessions are sealed to: one per session, fresh for
// each daemon run (never written down), published in the session's presence. A session that
// went keeps its key a while (bounded): frames sealed to it may still be in flight, and its
// messages then wait for its return. After a daemon restart the keys are new, and senders
// re-seal what they still hold for the new presence (outbox.ts).
import { generateSealingKeyPair, type SealingKeyPair } from "@claudemesh/mesh";

export class SealingKeys {
  readonly #keys = new Map<string, SealingKeyPair[]>();
  readonly #max: number;

  constructor(max = 20_000) {
    this.#max = max;
  }

  /** The session's current key, made on first use. */
  current(sessionId: string): SealingKeyPair {
    const held = this.#keys.get(sessionId);
    if (held !== undefined) return held[0] as SealingKeyPair;
    const made = generateSealingKeyPair();
    this.#keys.set(sessionId, [made]);
    // The oldest sessions' keys go first past the bound (Map order is insertion order).
    while (this.#keys.size > this.#max) this.#keys.delete(this.#keys.keys().next().value as string);
    return made;
  }

  /** Every key a frame to this session may be sealed to, current first. */
  all(sessionId: string): readonly SealingKeyPair[] {
    return this.#keys.get(sessionId) ?? [];
  }
}
