// UUIDv7 message ids (RFC 9562): 48 bits of Unix milliseconds, then randomness. Ids from one
// generator strictly increase, even within a millisecond or when the clock steps back, so sorting
// ids sorts messages in the order they were accepted. The clock and the randomness are injected.
import { randomBytes } from "node:crypto";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === "string" && value.length === 36 && UUID.test(value);
}

/** The millisecond timestamp of a UUIDv7. */
export function uuidV7Time(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

export interface UuidV7Options {
  now?: () => number;
  random?: (bytes: number) => Buffer;
}

const POOL_BYTES = 4096;

/**
 * Random bytes from a pool refilled 4 KiB at a time: one call into the CSPRNG per ~200 ids
 * instead of two per id (each call costs ~10 µs, more than the bytes).
 */
export function pooledRandom(): (bytes: number) => Buffer {
  let pool = randomBytes(POOL_BYTES);
  let offset = 0;
  return (bytes) => {
    if (offset + bytes > POOL_BYTES) {
      pool = randomBytes(POOL_BYTES);
      offset = 0;
    }
    const out = Buffer.from(pool.subarray(offset, offset + bytes));
    offset += bytes;
    return out;
  };
}

/**
 * A generator of increasing UUIDv7s. Within one millisecond the 12-bit `rand_a` field counts up
 * from a random start; when it runs out, the timestamp moves one millisecond ahead of the clock.
 */
export function uuidV7Generator(options: UuidV7Options = {}): () => string {
  const now = options.now ?? Date.now;
  const random = options.random ?? pooledRandom();
  let lastMs = -1;
  let counter = 0;
  return () => {
    let ms = now();
    if (ms > lastMs) {
      counter = random(2).readUInt16BE(0) & 0x7ff; // room to count up within the millisecond
    } else {
      ms = lastMs;
      counter++;
      if (counter > 0xfff) {
        ms++;
        counter = 0;
      }
    }
    lastMs = ms;
    const bytes = random(16);
    bytes.writeUIntBE(ms, 0, 6);
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
    const hex = bytes.toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}
