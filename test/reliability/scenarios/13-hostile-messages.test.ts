// 13. Hostile message requests: 10,000 generated sends, marks, inbox reads and status lookups with
// bad addresses, sizes, encodings, signatures, foreign tokens and bursts over the rate limit.
// The daemon never crashes, answers only in the contract's error form, and nothing stored before
// changes: the victim's messages keep their states, and no attacker reads or marks them.
import { Agent } from "node:http";
import { ERROR_STATUS } from "@claudemesh/client";
import fc from "fast-check";
import { afterAll, expect, it } from "vitest";
import {
  as,
  cleanup,
  daemonDir,
  http,
  inboxOf,
  type RequestSpec,
  record,
  register,
  rssKiB,
  sendMessage,
  sendSpec,
  spawnSleeper,
  startDaemon,
  token,
} from "../harness.js";

afterAll(cleanup);

type Spec = RequestSpec;

const ATTACKERS = [token(0xa1), token(0xa2), token(0xa3)];
const VICTIM = token(0xb1);
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const hex = (n: number) => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
const uuid = fc.oneof(fc.uuid({ version: 7 }), fc.uuid(), fc.string({ maxLength: 40 }));

const address = fc.oneof(
  fc.constantFrom("victim", "s-victim", "*", "@", "@ops", "role:", "role:reviewer", "attacker-1", "", "x".repeat(129)),
  fc.constantFrom("a\nb", "\u0000", "\ud800", "@\u0007", "role:\t"),
  fc.string({ maxLength: 140 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const text = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom("", "bell\u0007", "cr\r\n", "esc\u001b[2J", "lone\ud800", "x".repeat(16_385), "é".repeat(8_193)),
  fc.constant("y".repeat(16_384)),
  fc.jsonValue({ maxDepth: 2 }),
);
const sendBody = fc.record(
  {
    to: address,
    text,
    priority: fc.oneof(fc.constantFrom("now", "next", "low", "urgent", ""), fc.jsonValue({ maxDepth: 1 })),
    reply_to: fc.oneof(uuid, fc.constant(null)),
    idempotency_key: fc.oneof(fc.string({ maxLength: 140 }), fc.constantFrom("k", "k k", "")),
    mesh: fc.oneof(fc.constantFrom("default", "other", "Bad", ""), fc.string({ maxLength: 70 })),
    id: uuid,
    sent_at: fc.oneof(fc.integer(), fc.constant(Date.now()), fc.string()),
    signature: fc.oneof(hex(128), hex(127), fc.string({ maxLength: 130 })),
  },
  { requiredKeys: [] },
);
const markBody = fc.record(
  {
    ids: fc.oneof(
      fc.array(uuid, { maxLength: 5 }),
      fc.array(fc.uuid(), { minLength: 1001, maxLength: 1001 }),
      fc.jsonValue(),
    ),
    state: fc.oneof(fc.constantFrom("surfaced", "acked", "delivered", "refused"), fc.jsonValue()),
  },
  { requiredKeys: [] },
);

// Well formed in every other way, so that only the signature can fail: forged or tampered.
const forged = fc.record({
  to: fc.constantFrom("victim", "s-victim", "*", "friend"),
  text: fc.string({ minLength: 1, maxLength: 100 }).map((t) => t.replace(/[\p{Cc}\p{Cs}]/gu, "") || "x"),
  id: fc.uuid({ version: 7 }),
  sent_at: fc.constant(Date.now()),
  signature: hex(128),
});

// Good messages, as fast as the storm goes: the rate limit has to hold them back.
const flood = fc.record({ to: fc.constantFrom("friend", "*", "@ops", "role:reviewer"), text: fc.constant("flood") });

const body: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { weight: 4, arbitrary: sendBody.map(json) },
  { weight: 2, arbitrary: forged.map(json) },
  { weight: 4, arbitrary: flood.map(json) },
  { weight: 2, arbitrary: markBody.map(json) },
  { weight: 1, arbitrary: sendBody.map((b) => json(b).subarray(0, 20)) }, // cut JSON
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) }, // bad UTF-8
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(70 * 1024, 0x61)) }, // over 64 KiB
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const authorization = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ATTACKERS).map((t) => `ClaudeMesh-Session ${t}`) },
  { weight: 1, arbitrary: fc.constant(`ClaudeMesh-Session ${token(0xdead)}`) }, // no such session
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")) },
);
const headers = fc.record(
  {
    "content-type": fc.constantFrom("application/json", "application/json", "application/json", "text/plain"),
    authorization,
  },
  { requiredKeys: ["content-type"] },
);

const path = fc.oneof(
  { weight: 6, arbitrary: fc.constant("/v1/messages") },
  { weight: 2, arbitrary: fc.constant("/v1/inbox/mark") },
  {
    weight: 2,
    arbitrary: fc.oneof(
      uuid.map((id) => `/v1/messages/${encodeURIComponent(id)}`),
      fc.constantFrom(
        "/v1/inbox",
        "/v1/inbox?state=all",
        "/v1/inbox?state=read",
        "/v1/inbox?wait_ms=99999",
        "/v1/inbox?wait_ms=-5",
        "/v1/inbox?wait_ms=1",
        "/v1/peers?mesh=%00",
        "/v1/messages/",
        "/v1/messages/%ff",
        "/v1/messages/a/b",
      ),
    ),
  },
);

// Mostly the method the path takes, so that bodies reach the checks behind the method's.
const spec: fc.Arbitrary<Spec> = fc
  .record({
    path,
    headers,
    body,
    wrongMethod: fc.oneof(
      { weight: 7, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("GET", "PATCH", "DELETE", "PUT") },
    ),
  })
  .map(({ path: p, headers: h, body: b, wrongMethod }) => ({
    method: wrongMethod ?? (p === "/v1/messages" || p === "/v1/inbox/mark" ? "POST" : "GET"),
    path: p,
    headers: h,
    body: b,
  }));

it("answers 10,000 hostile message requests with contract errors only and alters nothing stored", async () => {
  const dir = daemonDir();
  const daemon = await startDaemon(dir);
  const sleeper = spawnSleeper();
  const sessions = [
    ...ATTACKERS.map((t, i) => ({ token: t, session_id: `s-attacker-${i + 1}`, display_name: `attacker-${i + 1}` })),
    { token: VICTIM, session_id: "s-victim", display_name: "victim", role: "reviewer", groups: ["ops"] },
    { token: token(0xc1), session_id: "s-friend", display_name: "friend" },
  ];
  for (const s of sessions) expect((await register(daemon.socket, { ...s, pid: sleeper.pid })).status).toBe(200);
  // What is stored before the storm: ten messages to the victim, in three states.
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await sendMessage(daemon.socket, token(0xc1), { to: "s-victim", text: `real ${i}` });
    ids.push((JSON.parse(res.text) as { message: { id: string } }).message.id);
  }
  const mark = (which: string[], state: string) =>
    http(daemon.socket, "POST", "/v1/inbox/mark", {
      headers: { "content-type": "application/json", ...as(VICTIM) },
      body: JSON.stringify({ ids: which, state }),
    });
  await mark(ids.slice(0, 6), "surfaced");
  await mark(ids.slice(0, 3), "acked");
  const before = (await inboxOf(daemon.socket, VICTIM)).map((m) => [m.id, m.text, m.state]);
  const rssBefore = rssKiB(daemon.pid);

  const n = Number(process.env.HOSTILE_N ?? 10_000);
  // Some requests name the victim's real message ids: the attackers must still get nowhere.
  const specs = fc
    .sample(spec, { numRuns: n, seed: 20261201 })
    .map((s, i) => (i % 25 === 0 && s.path === "/v1/inbox/mark" ? { ...s, body: json({ ids, state: "acked" }) } : s));
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const statuses = new Map<number, number>();
  const codes = new Map<string, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < specs.length) {
        const s = specs[next++] as Spec;
        let res: { status: number; body: string };
        try {
          res = await sendSpec(agent, daemon.socket, s, { frame: true });
        } catch (error) {
          // Over 64 KiB the daemon answers 413 and closes while the body is still being written.
          const oversized = (s.body?.length ?? 0) > 64 * 1024;
          if (oversized && /ECONNRESET|EPIPE|socket hang up/.test(String(error))) {
            statuses.set(413, (statuses.get(413) ?? 0) + 1);
            continue;
          }
          throw new Error(
            `${s.method} ${s.path} ${JSON.stringify(s.headers)} ${JSON.stringify(s.body?.toString("latin1").slice(0, 400))}: ${String(error)}`,
          );
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 400) {
          const parsed = JSON.parse(res.body) as { error: { code: keyof typeof ERROR_STATUS; message: string } };
          expect(Object.keys(parsed), s.path).toEqual(["error"]);
          expect(ERROR_STATUS[parsed.error.code], `${res.status} ${parsed.error.code}`).toBe(res.status);
          codes.set(parsed.error.code, (codes.get(parsed.error.code) ?? 0) + 1);
        } else {
          expect([200, 202], `${s.method} ${s.path}`).toContain(res.status);
        }
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  agent.destroy();

  // Alive, the same process, and what was stored is as it was.
  const health = await http(daemon.socket, "GET", "/v1/health");
  expect(health.status).toBe(200);
  expect((JSON.parse(health.text) as { pid: number }).pid).toBe(daemon.pid);
  const after = (await inboxOf(daemon.socket, VICTIM))
    .filter((m) => ids.includes(m.id))
    .map((m) => [m.id, m.text, m.state]);
  expect(after).toEqual(before);
  expect(codes.get("internal") ?? 0).toBe(0);
  // And a burst on purpose: 200 good messages from one sender at once meet its limit of 100.
  const burst = await Promise.all(
    Array.from({ length: 200 }, () => sendMessage(daemon.socket, ATTACKERS[0], { to: "friend", text: "burst" })),
  );
  const burstLimited = burst.filter((r) => r.status === 429).length;
  expect(burstLimited).toBeGreaterThan(0);
  expect(burst.every((r) => r.status === 202 || r.status === 429)).toBe(true);
  const metrics = (await http(daemon.socket, "GET", "/v1/metrics")).text;
  const rejected = Number(/claudemesh_messages_rejected_total\{reason="bad_signature"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  expect(rejected).toBeGreaterThan(0);
  record("hostile-messages", {
    requests: n,
    seconds: Math.round(elapsedMs / 100) / 10,
    statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])),
    codes: Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])),
    bad_signatures_counted: rejected,
    burst_of_200_limited: burstLimited,
    rss_mb_before: Math.round(rssBefore / 102.4) / 10,
    rss_mb_after: Math.round(rssKiB(daemon.pid) / 102.4) / 10,
  });
});
