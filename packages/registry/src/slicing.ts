// Cuts long synchronous loops into slices so that no slice holds the event loop for long.
// The clock and the yield are injected so tests can drive them.

export interface SliceOptions {
  /** Longest a slice may run before yielding, in milliseconds. */
  budgetMs?: number;
  now?: () => number;
  yieldToLoop?: () => Promise<void>;
}

export const DEFAULT_SLICE_BUDGET_MS = 2;

/** Yields to the event loop: I/O callbacks and timers that are due run before we go on. */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const monotonicNow = () => performance.now();

/** Calls `work` on every item, yielding to the event loop whenever a slice has used its budget. */
export async function forEachSliced<T>(
  items: readonly T[],
  work: (item: T) => void,
  options: SliceOptions = {},
): Promise<void> {
  const budget = options.budgetMs ?? DEFAULT_SLICE_BUDGET_MS;
  const now = options.now ?? monotonicNow;
  const yieldToLoop = options.yieldToLoop ?? yieldToEventLoop;
  let sliceStart = now();
  for (let i = 0; i < items.length; i++) {
    work(items[i] as T);
    // Reading the clock costs little next to the work, but not nothing: check every 16 items.
    if ((i & 15) === 15 && now() - sliceStart >= budget) {
      await yieldToLoop();
      sliceStart = now();
    }
  }
}

/**
 * `forEachSliced` for an async iterable (a subscription that hands over bursts at once): `work`
 * on each item as it comes, yielding to the event loop whenever a slice has used its budget.
 */
export async function forAwaitSliced<T>(
  items: AsyncIterable<T>,
  work: (item: T) => void,
  options: SliceOptions = {},
): Promise<void> {
  const budget = options.budgetMs ?? DEFAULT_SLICE_BUDGET_MS;
  const now = options.now ?? monotonicNow;
  const yieldToLoop = options.yieldToLoop ?? yieldToEventLoop;
  let sliceStart = now();
  for await (const item of items) {
    work(item);
    if (now() - sliceStart >= budget) {
      await yieldToLoop();
      sliceStart = now();
    }
  }
}
