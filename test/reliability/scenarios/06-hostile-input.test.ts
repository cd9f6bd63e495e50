// 6. Hostile input: thousands of generated bad requests, idle connections, slowloris senders and
// clients that vanish mid-body. The daemon keeps answering, every reply is the contract's error
// form, memory stays bounded, and no legitimate session is lost or altered.
import { Agent } from "node:http";
import { connect } from "node:net";
import { ERROR_STATUS } from "@claudemesh/client";
import fc from "fast-check";
import { afterAll, expect, it } from "vitest";
import {
  cleanup,
  daemonDir,
  http,
  type RequestSpec,
  rawExchange,
  record,
  register,
  rssKiB,
  sendSpec,
  spawnSleeper,
  startDaemon,
  token,
  waitFor,
} from "../harness.js";

afterAll(cleanup);

type Spec = RequestSpec;

const pathArb = fc.oneof(
  fc.constantFrom(
    "/v1/sessions/register",
    "/v1/sessions",
    "/v1/sessions/me",
    "/v1/version",
    "/v1/health",
    "/v1/events/../sessions",
    "/v1/sessions/%2e%2e/version",
    "//v1/sessions",
    "/v1/sessions?mesh=../../etc",
    "/v1/sessions?mesh=%00",
    `/v1/sessions/me?token=${"a".repeat(64)}`,
    "/v1/SESSIONS",
    "/v2/sessions",
    "/",
    "/v1/sessions/register/",
  ),
  fc.stringMatching(/^\/[a-zA-Z0-9/._%?=&-]{0,80}$/),
);

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const pidArb = fc.oneof(
  fc.constantFrom(-1, 0, 1.5, 2 ** 31, 2 ** 53, -0, 1e308, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 4_000_000, max: 2 ** 31 - 1 }),
  fc.string(),
  fc.constant(null),
);
const sessionIdArb = fc.oneof(
  fc.constantFrom("", "../../etc/passwd", "a b", "x".repeat(129), "é", "id\u0000", "legit-1"),
  fc.string({ maxLength: 200 }),
);
const registrationBody = fc.record(
  {
    token: fc.oneof(
      fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), maxLength: 70 }),
      fc.constant(token(999_999)),
      jsonValue,
    ),
    pid: pidArb,
    session_id: sessionIdArb,
    mesh: fc.oneof(fc.string({ maxLength: 80 }), jsonValue),
    display_name: fc.oneof(fc.string({ maxLength: 200 }), jsonValue),
    cwd: fc.oneof(fc.string(), jsonValue),
    groups: fc.oneof(fc.array(fc.string(), { maxLength: 40 }), jsonValue),
  },
  { requiredKeys: [] },
);

const bodyArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  fc.constant(undefined),
  registrationBody.map((b) => Buffer.from(JSON.stringify(b))),
  registrationBody.map((b) => {
    const text = JSON.stringify(b);
    return Buffer.from(text.slice(0, Math.floor(text.length / 2))); // truncated JSON
  }),
  jsonValue.map((v) => Buffer.from(JSON.stringify(v))),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), // arbitrary bytes, invalid UTF-8
  fc.constant(Buffer.alloc(70 * 1024, 0x61)), // oversized
  fc.constant(Buffer.from('{"token":"\ud800"}')),
);

const sensibleHeaders = fc.record(
  {
    "content-type": fc.constantFrom("application/json", "text/plain", "application/json; charset=latin1", ""),
    authorization: fc.oneof(
      fc.constant(`ClaudeMesh-Session ${token(101)}`),
      fc.constant(`ClaudeMesh-Session ${token(102)}`),
      fc.string({ maxLength: 100 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")),
    ),
  },
  { requiredKeys: [] },
);

// Most requests get past the header checks so that bodies and routes are exercised too.
const headersArb = fc.oneof(
  { weight: 8, arbitrary: sensibleHeaders },
  { weight: 1, arbitrary: sensibleHeaders.map((h) => ({ ...h, origin: "https://evil.example" })) },
  { weight: 1, arbitrary: sensibleHeaders.map((h) => ({ ...h, "x-big": "x".repeat(20_000) })) },
);

const specArb: fc.Arbitrary<Spec> = fc.record({
  method: fc.constantFrom("GET", "POST", "POST", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"),
  path: pathArb,
  headers: headersArb,
  body: bodyArb,
});

function checkErrorForm(status: number, body: string, what: string): void {
  if (status < 400) return;
  const parsed = JSON.parse(body) as { error: { code: string; message: string } };
  expect(Object.keys(parsed), what).toEqual(["error"]);
  expect(typeof parsed.error.message, what).toBe("string");
  expect(ERROR_STATUS[parsed.error.code as keyof typeof ERROR_STATUS], `${what}: code ${parsed.error.code}`).toBe(
    status,
  );
}

/** Raw bytes on a fresh connection; resolves with whatever came back before the close. */
const raw = (socket: string, bytes: string | Buffer, hangUp = false): Promise<string> =>
  rawExchange(socket, bytes, { timeoutMs: 20_000, hangUp, tolerateErrors: true });

function checkRawAnswer(answer: string, what: string): void {
  if (answer === "") return; // the daemon may simply close a connection that makes no sense
  const status = Number(answer.slice(9, 12));
  const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
  checkErrorForm(status, body, what);
}

it("withstands 10,000+ hostile requests, idle and slow clients, and keeps legitimate sessions", async () => {
  const dir = daemonDir();
  const daemon = await startDaemon(dir);
  const sleeper = spawnSleeper();
  const legit = [1, 2, 3].map((n) => ({ token: token(n), pid: sleeper.pid, session_id: `legit-${n}`, mesh: "safe" }));
  for (const body of legit) expect((await register(daemon.socket, body)).status).toBe(200);
  const before = await Promise.all(
    legit.map((l) =>
      http(daemon.socket, "GET", "/v1/sessions/me", { headers: { authorization: `ClaudeMesh-Session ${l.token}` } }),
    ),
  );
  const rssBefore = rssKiB(daemon.pid);

  // Idle connections and slowloris senders, open during the whole storm.
  const idle = Array.from({ length: 500 }, () => raw(daemon.socket, Buffer.alloc(0)));
  const slow = Array.from({ length: 20 }, () => {
    const conn = connect(daemon.socket);
    let answer = "";
    conn.on("data", (c: Buffer) => {
      answer += c.toString("latin1");
    });
    conn.on("error", () => {});
    conn.write("POST /v1/sessions/register HTTP/1.1\r\n");
    const drip = setInterval(() => conn.writable && conn.write("x-a: b\r\n"), 100);
    return new Promise<string>((resolve) =>
      conn.on("close", () => {
        clearInterval(drip);
        resolve(answer);
      }),
    );
  });

  // 10,000 generated requests through a keep-alive agent, 32 in flight.
  const specs = fc.sample(specArb, { numRuns: Number(process.env.HOSTILE_N ?? 10_000), seed: 20261126 });
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < specs.length) {
        const spec = specs[next++] as Spec;
        let res: { status: number; body: string };
        try {
          res = await sendSpec(agent, daemon.socket, spec);
        } catch (error) {
          // A connection the daemon closed after a 413 or 431 is fine; an unanswered one is not.
          if (/ECONNRESET|EPIPE|socket hang up/.test(String(error))) continue;
          throw error;
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (spec.method !== "HEAD") checkErrorForm(res.status, res.body, `${spec.method} ${spec.path}`);
      }
    }),
  );
  const stormMs = performance.now() - started;
  agent.destroy();

  // Malformed HTTP and clients that vanish mid-body, on raw connections.
  const malformed = [
    "GARBAGE\r\n\r\n",
    "GET /v1/health HTTP/9.9\r\n\r\n",
    "GET /v1/health\r\n\r\n",
    "POST /v1/sessions/register HTTP/1.1\r\ncontent-length: -5\r\n\r\n",
    "POST /v1/sessions/register HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
    "GET /v1/health HTTP/1.1\r\nbad header line\r\n\r\n",
    `GET /${"a".repeat(70_000)} HTTP/1.1\r\n\r\n`,
    "\u0000\u0001\u0002\r\n\r\n",
  ];
  for (const bytes of malformed) checkRawAnswer(await raw(daemon.socket, bytes), JSON.stringify(bytes.slice(0, 40)));
  await Promise.all(
    Array.from({ length: 200 }, () =>
      raw(
        daemon.socket,
        'POST /v1/sessions/register HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"token":',
        true,
      ),
    ),
  );

  // Still answering while idle and slow clients hang on.
  expect((await http(daemon.socket, "GET", "/v1/health")).status).toBe(200);
  const slowAnswers = await Promise.all(slow);
  for (const answer of slowAnswers) checkRawAnswer(answer, "slowloris");
  const idleAnswers = await Promise.all(idle);
  await waitFor(async () => (await http(daemon.socket, "GET", "/v1/health")).status === 200, "daemon answering");

  const after = await Promise.all(
    legit.map((l) =>
      http(daemon.socket, "GET", "/v1/sessions/me", { headers: { authorization: `ClaudeMesh-Session ${l.token}` } }),
    ),
  );
  expect(after.map((r) => r.text)).toEqual(before.map((r) => r.text));
  const rssAfter = rssKiB(daemon.pid);
  const heapUsed = Number(
    /nodejs_heap_size_used_bytes (\d+)/.exec((await http(daemon.socket, "GET", "/v1/metrics")).text)?.[1],
  );
  // Bounded: what a burst of 10,000 requests and 700 sockets leaves in a lazily collected heap,
  // not growth per request (the soak scenario checks that the level stays flat over time).
  expect(rssAfter - rssBefore).toBeLessThan(128 * 1024);
  record("hostile-input", {
    generated_requests: specs.length,
    storm_ms: Math.round(stormMs),
    statuses: Object.fromEntries([...statuses].sort()),
    idle_connections: idle.length,
    idle_closed_by_daemon_with_408: idleAnswers.filter((a) => a.startsWith("HTTP/1.1 408")).length,
    slowloris: slow.length,
    slowloris_408: slowAnswers.filter((a) => a.startsWith("HTTP/1.1 408")).length,
    vanished_mid_body: 200,
    rss_before_kib: rssBefore,
    rss_after_kib: rssAfter,
    heap_used_after_mib: Math.round(heapUsed / 1024 / 1024),
  });
});
