// One pending retry at a time: a failure while one is pending joins it. For the publishers of
// frames and receipts, which retry whatever failed in one pass.
export class RetryTimer {
  readonly #run: () => void;
  readonly #ms: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(run: () => void, ms: number) {
    this.#run = run;
    this.#ms = ms;
  }

  schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run();
    }, this.#ms);
    this.#timer.unref();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
