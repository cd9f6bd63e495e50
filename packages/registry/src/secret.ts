// A secret key as the registry holds it: 32 bytes of seed, in memory only. It prints, logs and
// serialises as "[secret]"; its bytes come out only through reveal(), which the code that signs
// calls. A plain string or Buffer would be one careless JSON.stringify away from a leak.
//
// Why not a node:crypto KeyObject: each one costs ~1.5 KiB (its JS wrapper, a hidden class of its
// own and the native key), which at 100,000 sessions is 150 MB. The mesh package builds KeyObjects
// when it signs, and keeps the most recent ones.
const HIDDEN = "[secret]";

export class SecretKey {
  readonly #seedHex: string;

  constructor(seedHex: string) {
    if (!/^[0-9a-f]{64}$/.test(seedHex))
      throw new TypeError("a secret key is a 32-byte seed as 64 lowercase hex characters");
    this.#seedHex = seedHex;
  }

  /** The seed as hex: for signing, never for output. */
  reveal(): string {
    return this.#seedHex;
  }

  toJSON(): string {
    return HIDDEN;
  }

  toString(): string {
    return HIDDEN;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `SecretKey ${HIDDEN}`;
  }
}
