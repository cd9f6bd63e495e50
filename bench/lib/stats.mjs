// Statistics and number formatting for the benchmark tables. Medians everywhere: this machine is
// shared and noisy, and one stalled repetition must not move the figure we quote.

export function sortedCopy(values) {
  return Float64Array.from(values).sort();
}

/** Percentile p (0–100) by linear interpolation between closest ranks; NaN for no values. */
export function percentile(values, p) {
  const s = values instanceof Float64Array && isSortedAscending(values) ? values : sortedCopy(values);
  if (s.length === 0) return Number.NaN;
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

function isSortedAscending(a) {
  for (let i = 1; i < a.length; i++) if (a[i - 1] > a[i]) return false;
  return true;
}

export const median = (values) => percentile(values, 50);

/** Median, min and max of a list of per-repetition figures. */
export function summarize(values) {
  const s = sortedCopy(values);
  return {
    median: percentile(s, 50),
    min: s.length > 0 ? s[0] : Number.NaN,
    max: s.length > 0 ? s[s.length - 1] : Number.NaN,
    n: s.length,
  };
}

/** Latency figures of one run: count, p50, p99, max (input in milliseconds). */
export function latencySummary(latencies) {
  const s = sortedCopy(latencies);
  return {
    count: s.length,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    max: s.length > 0 ? s[s.length - 1] : Number.NaN,
  };
}

/** A growable array of doubles, so a run of 100k latencies does not allocate 100k boxed numbers. */
export class Samples {
  #buf = new Float64Array(1024);
  #n = 0;
  push(x) {
    if (this.#n === this.#buf.length) {
      const next = new Float64Array(this.#buf.length * 2);
      next.set(this.#buf);
      this.#buf = next;
    }
    this.#buf[this.#n++] = x;
  }
  get length() {
    return this.#n;
  }
  values() {
    return this.#buf.subarray(0, this.#n);
  }
}

export function round(x, digits = 3) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Milliseconds with a precision that suits the magnitude. */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return "—";
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(3)} ms`;
}

export function fmtRange(s, fmt = fmtMs) {
  return `${fmt(s.min)} – ${fmt(s.max)}`;
}

export function fmtRatio(x) {
  if (!Number.isFinite(x)) return "—";
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

export function fmtBytes(bytes) {
  if (!Number.isFinite(bytes)) return "—";
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (abs >= 1024) return `${(bytes / 1024).toFixed(2)} KiB`;
  return `${bytes.toFixed(0)} B`;
}

export function fmtInt(n) {
  if (!Number.isFinite(n)) return "—";
  return Math.round(n).toLocaleString("en-US");
}
