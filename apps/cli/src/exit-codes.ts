// Exit codes of the contract.
import { constants } from "node:os";

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  daemonUnavailable: 3,
  notFound: 4,
  /** `send --wait` ran out of time. */
  timedOut: 5,
  commandNotFound: 127,
} as const;

/** A failure the user should read: printed to stderr as `claudemesh: <message>`, then exit. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
  }
}

/** 128 + N for a program killed by signal N (this platform's numbering), as shells report it. */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
