// Bench-only preload (B5): lets the benchmark force a full garbage collection inside a running
// process and read its memory afterwards, with no change to the program measured. Loaded as
//   node --expose-gc --import <this file's URL>?out=<file> <program> …
// where the URL's query names the file it writes to (`…/gc-probe.mjs?out=/tmp/x/gc.jsonl`: no
// environment variable, nothing the program could see). On SIGUSR2 it runs two full synchronous
// GCs (`gc()`, 20 ms apart: the second collects what the first's weak callbacks and finalizers
// released), then V8's low-memory collection through an in-process inspector session
// (HeapProfiler.collectGarbage, the same as DevTools' "collect garbage": it also shrinks the heap
// and returns its free pages, which a plain gc() leaves committed), waits 100 ms for V8's
// background unmapper, and appends one JSON line to that file:
//   { "seq": n, "rss", "heapTotal", "heapUsed", "external", "arrayBuffers", "gcMs" }
// (process.memoryUsage(), bytes: the heap figures read right after the GCs, rss after the wait).
// The signal listener keeps nothing alive. The daemon handles SIGTERM, SIGINT and SIGHUP only
// (SIGUSR1 is Node's inspector signal), so SIGUSR2 is free for this.
import { appendFileSync } from "node:fs";
import { Session } from "node:inspector";
import { setTimeout as sleep } from "node:timers/promises";

const file = new URL(import.meta.url).searchParams.get("out");
if (typeof globalThis.gc !== "function") throw new Error("gc-probe.mjs needs node --expose-gc");
if (!file) throw new Error("gc-probe.mjs needs ?out=<file> in its --import URL");
const gc = globalThis.gc;

let seq = 0;
let busy = false;
let session;

function lowMemoryGc() {
  if (session === undefined) {
    session = new Session();
    session.connect();
  }
  return new Promise((resolve, reject) => {
    session.post("HeapProfiler.collectGarbage", (error) => (error ? reject(error) : resolve()));
  });
}

process.on("SIGUSR2", async () => {
  if (busy) return; // one probe at a time; the benchmark waits for each line before the next signal
  busy = true;
  try {
    const t0 = performance.now();
    gc();
    await sleep(20);
    gc();
    await lowMemoryGc();
    const gcMs = performance.now() - t0;
    const { heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
    await sleep(100); // V8's unmapper frees pages on a background thread
    const rss = process.memoryUsage.rss();
    seq++;
    appendFileSync(file, `${JSON.stringify({ seq, rss, heapTotal, heapUsed, external, arrayBuffers, gcMs })}\n`);
  } finally {
    busy = false;
  }
});
