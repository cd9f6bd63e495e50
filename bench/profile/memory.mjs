// What a session really costs in daemon memory (B5): the daemon runs with --inspect so that this
// script can force a full garbage collection (HeapProfiler.collectGarbage) and read V8's heap.
// Prints RSS and JS heap per session right after the registrations ("settled"), and after the
// forced GC: the difference is garbage the daemon had not collected yet, not sessions.
//   node bench/profile/memory.mjs [--sessions 100000] [--wait-ms 3000]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WebSocket } from "undici";
import { PATHS } from "../lib/daemon.mjs";
import { createPool, newToken, registerMany, registrationBody, waitReady } from "../lib/http.mjs";
import { makeTempDir, removeDir, rssBytes, sleep, spawnSleepers, stopPid, track } from "../lib/proc.mjs";
import { fmtBytes } from "../lib/stats.mjs";

const { values } = parseArgs({
  options: { sessions: { type: "string", default: "100000" }, "wait-ms": { type: "string", default: "3000" } },
});
const sessions = Number(values.sessions);
const waitMs = Number(values["wait-ms"]);

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function inspector(url) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", reject, { once: true });
  });
  let id = 0;
  const pending = new Map();
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      id++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    heapUsed: async () => (await call("Runtime.getHeapUsage")).usedSize,
    collectGarbage: async () => {
      await call("HeapProfiler.collectGarbage");
      await call("HeapProfiler.collectGarbage");
    },
    close: () => ws.close(),
  };
}

const sleepers = await spawnSleepers(4);
const dir = makeTempDir();
let pid;
let devtools;
try {
  const child = spawn(process.execPath, ["--inspect=127.0.0.1:0", PATHS.daemonMain, "--foreground", "--dir", dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  pid = child.pid;
  track(pid);
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const socket = join(dir, "daemon.sock");
  await waitReady(socket);
  devtools = await inspector(/ws:\/\/\S+/.exec(stderr)[0]);
  await sleep(1_000);
  const empty = { rss: rssBytes(pid), heap: await devtools.heapUsed() };
  await devtools.collectGarbage();
  const emptyGc = { rss: rssBytes(pid), heap: await devtools.heapUsed() };

  const pool = createPool(socket, 64);
  await registerMany(pool, sessions, (i) => registrationBody(sleepers.pids[i % 4], newToken(), i), 64);
  await pool.close();
  await sleep(waitMs);
  const settled = { rss: rssBytes(pid), heap: await devtools.heapUsed() };
  await devtools.collectGarbage();
  await sleep(500);
  const gc = { rss: rssBytes(pid), heap: await devtools.heapUsed() };

  const per = (a, b) => fmtBytes((a - b) / sessions);
  const status = readFileSync(`/proc/${pid}/status`, "utf8").match(/^(VmHWM|VmRSS|RssAnon|RssFile):.*$/gm);
  const lines = [
    `${sessions} sessions, ${waitMs} ms after the last registration:`,
    `  settled:       RSS ${fmtBytes(settled.rss)} (${per(settled.rss, empty.rss)} per session), JS heap used ${fmtBytes(settled.heap)} (${per(settled.heap, empty.heap)} per session)`,
    `  after full GC: RSS ${fmtBytes(gc.rss)} (${per(gc.rss, emptyGc.rss)} per session), JS heap used ${fmtBytes(gc.heap)} (${per(gc.heap, emptyGc.heap)} per session)`,
    `  empty daemon:  RSS ${fmtBytes(empty.rss)}, after full GC ${fmtBytes(emptyGc.rss)}`,
    `  ${status.join("; ").replace(/\s+/g, " ")}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
} finally {
  devtools?.close();
  if (pid !== undefined) await stopPid(pid);
  await sleepers.stop();
  removeDir(dir);
}
