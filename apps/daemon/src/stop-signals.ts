// Imported first by the daemon program: from the very first line of boot, SIGTERM, SIGINT and
// SIGHUP are ours. A signal that arrives before the daemon is up is kept and acted on as soon
// as it is (no generic handler can exit the process behind the daemon's back).
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

let pending: NodeJS.Signals | undefined;
let handler: ((signal: NodeJS.Signals) => void) | undefined;

function receive(signal: NodeJS.Signals): void {
  if (handler) handler(signal);
  else pending ??= signal;
}

for (const signal of STOP_SIGNALS) process.on(signal, receive);

/** Routes stop signals to `onStop`, including one that arrived earlier. */
export function onStopSignal(onStop: (signal: NodeJS.Signals) => void): void {
  handler = onStop;
  if (pending !== undefined) onStop(pending);
}

export function releaseStopSignals(): void {
  for (const signal of STOP_SIGNALS) process.off(signal, receive);
  handler = undefined;
}
