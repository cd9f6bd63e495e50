// Interleaving: every variant runs once per round, in the same order (ours, baseline, ours,
// baseline…), so slow drift of a shared machine (other jobs, thermal, page cache) hits all variants
// alike instead of whichever happened to run during the noisy minute. Ratios, not absolute times,
// are what carries over between machines.

/**
 * Runs `rounds` counted rounds after `warmup` uncounted ones. Each variant is `{ name, run }` where
 * `run(round)` returns one sample (any value). Returns `{ [name]: samples[] }`.
 */
export async function interleave(variants, { rounds, warmup = 1, onRound } = {}) {
  const samples = Object.fromEntries(variants.map((v) => [v.name, []]));
  for (let round = -warmup; round < rounds; round++) {
    for (const variant of variants) {
      const sample = await variant.run(round);
      if (round >= 0) samples[variant.name].push(sample);
    }
    onRound?.(round);
  }
  return samples;
}

/** Picks one numeric field out of a list of sample objects. */
export const field = (samples, name) => samples.map((s) => s[name]);
