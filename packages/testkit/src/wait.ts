// Tests wait for a condition, never for a fixed time: a fast machine moves on at once and a slow
// CI box gets a generous deadline instead of a flaky failure.

/** Poll interval: cheap enough for unit checks, negligible next to a check that spawns a CLI. */
const POLL_MS = 10;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export type Truthy<T> = Exclude<T, false | undefined | null | 0 | "">;

/**
 * Polls `check` until it returns a truthy value, and returns that value. A check that throws
 * counts as "not yet"; once `deadlineMs` has passed the error names `what` and the last error.
 */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, deadlineMs = 20_000): Promise<Truthy<T>> {
  const end = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > end) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${detail}`);
    }
    await sleep(POLL_MS);
  }
}
