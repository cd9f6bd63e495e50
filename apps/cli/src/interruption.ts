// Commands that run until interrupted (`sessions watch`, `daemon logs -f`): one AbortSignal that
// fires on SIGINT, SIGTERM or the caller's own signal (tests), and a way to let go of the handlers.

export interface Interruption {
  readonly signal: AbortSignal;
  /** Aborts (ending whatever still listens) and removes the signal handlers. */
  dispose(): void;
}

export function untilInterrupted(outer?: AbortSignal): Interruption {
  const controller = new AbortController();
  outer?.addEventListener("abort", () => controller.abort(), { once: true });
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return {
    signal: controller.signal,
    dispose() {
      controller.abort();
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    },
  };
}
