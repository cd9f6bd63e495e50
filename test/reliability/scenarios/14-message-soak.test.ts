// 14. Message soak: 10,000 messages between 50 sessions, each recipient reading and acking what
// it gets. The daemon keeps a bounded number of messages (settled ones past the cap go at once,
// text stored once), its files stay small once the journal is folded into the checkpoint, and its
// memory and open files stay flat.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  as,
  cleanup,
  daemonDir,
  http,
  openFds,
  record,
  register,
  rssKiB,
  sendMessage,
  spawnSleeper,
  startDaemon,
  token,
  waitFor,
} from "../harness.js";

afterAll(cleanup);

const MESSAGES = Number(process.env.CLAUDEMESH_MESSAGE_SOAK ?? 10_000);
const SESSIONS = 50;
/** The store's cap on settled messages (packages/mesh STORE_LIMITS.maxSettled). */
const MAX_SETTLED = 5_000;

function dirBytes(dir: string): { total: number; files: Record<string, number> } {
  const files: Record<string, number> = {};
  let total = 0;
  for (const name of readdirSync(dir)) {
    if (name.endsWith(".sock") || name.startsWith("s.")) continue;
    const size = statSync(join(dir, name)).size;
    files[name] = size;
    total += size;
  }
  return { total, files };
}

const heapUsedMiB = async (socket: string) =>
  Math.round(
    Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec((await http(socket, "GET", "/v1/metrics")).text)?.[1]) /
      1024 /
      1024,
  );

const stored = async (socket: string) =>
  Number(/^claudemesh_messages_stored (\d+)$/m.exec((await http(socket, "GET", "/v1/metrics")).text)?.[1]);

it("keeps memory, files and the message store bounded over 10,000 messages", async () => {
  const dir = daemonDir();
  const daemon = await startDaemon(dir, ["--maintenance-interval-ms", "1000"]);
  const sleeper = spawnSleeper();
  const tokens = Array.from({ length: SESSIONS }, (_, i) => token(0x50a0 + i));
  for (const [i, t] of tokens.entries()) {
    expect((await register(daemon.socket, { token: t, pid: sleeper.pid, session_id: `s${i}` })).status).toBe(200);
  }
  const rssBefore = rssKiB(daemon.pid);
  const fdsBefore = openFds(daemon.pid);
  const heapBefore = await heapUsedMiB(daemon.socket);
  const started = performance.now();
  let sent = 0;
  let limited = 0;
  let maxStored = 0;
  // Each sender sends to the next session, then that session reads and acks its inbox, so the
  // states go the whole way: delivered, surfaced, acked.
  await Promise.all(
    tokens.map(async (t, i) => {
      const to = `s${(i + 1) % SESSIONS}`;
      const reader = tokens[(i + 1) % SESSIONS] as string;
      while (sent < MESSAGES) {
        const res = await sendMessage(daemon.socket, t, { to, text: `soak ${sent} ${"x".repeat(200)}` });
        if (res.status === 429) {
          limited++;
          await new Promise((r) => setTimeout(r, Number(res.headers["retry-after"] ?? 1) * 100));
          continue;
        }
        expect(res.status).toBe(202);
        sent++;
        if (sent % 500 === 0) maxStored = Math.max(maxStored, await stored(daemon.socket));
        const inbox = await http(daemon.socket, "GET", "/v1/inbox", { headers: as(reader) });
        const ids = (JSON.parse(inbox.text) as { messages: { id: string }[] }).messages.map((m) => m.id);
        if (ids.length > 0) {
          await http(daemon.socket, "POST", "/v1/inbox/mark", {
            headers: { "content-type": "application/json", ...as(reader) },
            body: JSON.stringify({ ids, state: "acked" }),
          });
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  maxStored = Math.max(maxStored, await stored(daemon.socket));
  // Once quiet, the journal is folded into the checkpoint and its old generations deleted.
  await waitFor(() => readdirSync(dir).filter((f) => f.startsWith("messages.journal.")).length <= 2, "journal folded");
  await waitFor(() => dirBytes(dir).files["messages.jsonl"] !== undefined, "a messages checkpoint");
  const files = dirBytes(dir);
  const rssAfter = rssKiB(daemon.pid);
  const fdsAfter = openFds(daemon.pid);
  const heapAfter = await heapUsedMiB(daemon.socket);

  expect(maxStored).toBeLessThanOrEqual(MAX_SETTLED + SESSIONS);
  // 5,000 kept messages of ~250 bytes of text, with their envelope and states: a few MiB at most.
  expect(files.files["messages.jsonl"]).toBeLessThan(8 * 1024 * 1024);
  expect(files.total).toBeLessThan(16 * 1024 * 1024);
  expect(fdsAfter - fdsBefore).toBeLessThanOrEqual(5);
  expect(rssAfter - rssBefore).toBeLessThan(200 * 1024);
  record("message-soak", {
    messages: sent,
    seconds: Math.round(seconds * 10) / 10,
    rate_limited_retries: limited,
    max_messages_stored: maxStored,
    messages_jsonl_kib: Math.round((files.files["messages.jsonl"] ?? 0) / 1024),
    dir_kib: Math.round(files.total / 1024),
    rss_mb_before: Math.round(rssBefore / 102.4) / 10,
    rss_mb_after: Math.round(rssAfter / 102.4) / 10,
    heap_used_mb_before: heapBefore,
    heap_used_mb_after: heapAfter,
    fds_before: fdsBefore,
    fds_after: fdsAfter,
  });
});
