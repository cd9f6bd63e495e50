// B2: request throughput and latency of the real daemon over its Unix socket, against a bare
// node:http server (bench/lib/bare-server.mjs) answering a fixed small JSON: the floor any Node
// HTTP server on this machine sits on. Same client for both (an undici Pool, one connection per
// request in flight), same request bytes, interleaved daemon/bare, several repetitions.
// The list route also runs against a second bare server sending the daemon's own answer: the
// body bytes and headers the daemon gave for GET /v1/sessions, captured once and served
// verbatim, so that route's ratio is also priced against a server that sends as much.

import { startBareServer, startDaemon } from "./lib/daemon.mjs";
import { closedLoop, createPool, newToken, registerMany, registrationBody, sendOk } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { makeTempDir, removeDir, spawnSleepers } from "./lib/proc.mjs";
import { fmtInt, fmtMs, fmtRatio, latencySummary, summarize } from "./lib/stats.mjs";

export const id = "B2";
export const title = "IPC: daemon vs bare node:http over a Unix socket";

const BASE_SESSIONS = 100;
const IN_FLIGHT = [1, 16, 64];

/** The three routes, each as a request factory. `ctx` holds the live pid and the known tokens. */
const ROUTES = {
  "GET /v1/sessions/me": (ctx) => {
    let i = 0;
    return () => ({
      method: "GET",
      path: "/v1/sessions/me",
      headers: { authorization: `ClaudeMesh-Session ${ctx.tokens[i++ % ctx.tokens.length]}` },
    });
  },
  "GET /v1/sessions": () => () => ({ method: "GET", path: "/v1/sessions" }),
  // Last: registrations pile up in the daemon, so each repetition gets a fresh one.
  "POST /v1/sessions/register": (ctx) => {
    // A fresh token every time: re-registering one token is another (update) code path.
    let i = 0;
    return () => ({ method: "POST", path: "/v1/sessions/register", body: registrationBody(ctx.pid, newToken(), i++) });
  },
};

/** A daemon in a new temp dir with BASE_SESSIONS sessions, all on one live pid, and their tokens. */
async function freshDaemon(pid) {
  const dir = makeTempDir();
  let daemon;
  let pool;
  const stop = async () => {
    await daemon?.stop();
    removeDir(dir);
  };
  try {
    daemon = await startDaemon(dir);
    const tokens = Array.from({ length: BASE_SESSIONS }, newToken);
    pool = createPool(daemon.socket, 16);
    await registerMany(pool, BASE_SESSIONS, (i) => registrationBody(pid, tokens[i], i), 16);
    return { socket: daemon.socket, tokens, stop };
  } catch (error) {
    await stop();
    throw error;
  } finally {
    await pool?.close();
  }
}

async function responseBytes(socket, request) {
  const pool = createPool(socket, 1);
  try {
    return Buffer.byteLength((await sendOk(pool, request)).text);
  } finally {
    await pool.close();
  }
}

/** Headers node:http writes by itself: the bare server must not be handed these. */
const TRANSPORT_HEADERS = new Set(["date", "connection", "keep-alive", "transfer-encoding", "content-length"]);

/** One answer of the daemon as it went on the wire: its body bytes and its own headers. */
async function captureResponse(socket, request) {
  const pool = createPool(socket, 1);
  try {
    const res = await pool.request(request);
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new Error(`${request.path} answered ${res.statusCode}`);
    const headers = Object.fromEntries(Object.entries(res.headers).filter(([k]) => !TRANSPORT_HEADERS.has(k)));
    return { body, headers };
  } finally {
    await pool.close();
  }
}

async function measureCell(socket, inFlight, durationMs, warmupMs, makeRequest) {
  const pool = createPool(socket, inFlight);
  try {
    const warm = await closedLoop(pool, { inFlight, durationMs: warmupMs, makeRequest });
    const run = await closedLoop(pool, { inFlight, durationMs, makeRequest });
    if (run.errors > 0) throw new Error(`${run.errors} failed requests; first: ${run.firstError?.message}`);
    return {
      reqPerSec: (run.count / run.elapsedMs) * 1000,
      requests: warm.count + run.count,
      ...latencySummary(run.latencies),
    };
  } finally {
    await pool.close();
  }
}

export async function run({ quick, log }) {
  const rounds = 3;
  const durationMs = quick ? 300 : 2_000;
  const warmupMs = quick ? 100 : 200;
  const sleepers = await spawnSleepers(1);
  const pid = sleepers.pids[0];
  const bareDir = makeTempDir();
  let current;
  let bare;
  let sameBody;
  let listHeaders;
  const cells = [];
  const bodyBytes = {};
  const restart = async (daemon, livePid) => {
    current = undefined;
    await daemon.stop();
    return freshDaemon(livePid);
  };
  try {
    bare = await startBareServer(bareDir);
    current = await freshDaemon(pid);
    // The size of what each answers: the daemon's list route carries all 100 sessions.
    for (const [route, factory] of Object.entries(ROUTES)) {
      const request = factory({ pid, tokens: current.tokens })();
      bodyBytes[route] = {
        daemon: await responseBytes(current.socket, request),
        bare: await responseBytes(bare.socket, request),
      };
    }
    current = await restart(current, pid); // drop the session the size probe just registered
    // The daemon's list answer, as sent, for the "same body" baseline (100 sessions, as the cells).
    const list = await captureResponse(current.socket, { method: "GET", path: "/v1/sessions" });
    const listed = JSON.parse(list.body.toString("utf8")).sessions.length;
    if (listed !== BASE_SESSIONS) throw new Error(`the daemon listed ${listed} sessions, expected ${BASE_SESSIONS}`);
    listHeaders = Object.keys(list.headers);
    sameBody = await startBareServer(bareDir, { name: "same-body", body: list.body, headers: list.headers });
    const echoed = await captureResponse(sameBody.socket, { method: "GET", path: "/v1/sessions" });
    if (!echoed.body.equals(list.body)) throw new Error("the same-body server does not send the daemon's bytes");
    bodyBytes["GET /v1/sessions"].sameBody = echoed.body.length;
    for (const [route, factory] of Object.entries(ROUTES)) {
      const registering = route.startsWith("POST");
      for (const inFlight of IN_FLIGHT) {
        log(`B2: ${route}, ${inFlight} in flight`);
        const ctx = { pid, tokens: current.tokens };
        const sameBodyVariant =
          route === "GET /v1/sessions"
            ? [
                {
                  name: "sameBody",
                  run: () => measureCell(sameBody.socket, inFlight, durationMs, warmupMs, factory(ctx)),
                },
              ]
            : [];
        const samples = await interleave(
          [
            {
              name: "daemon",
              run: async () => {
                // Registrations pile up: start each one from a daemon holding BASE_SESSIONS again.
                if (registering) current = await restart(current, pid);
                ctx.tokens = current.tokens;
                return measureCell(current.socket, inFlight, durationMs, warmupMs, factory(ctx));
              },
            },
            { name: "bare", run: () => measureCell(bare.socket, inFlight, durationMs, warmupMs, factory(ctx)) },
            ...sameBodyVariant,
          ],
          { rounds, warmup: 0 },
        );
        const stat = (variant, name) => summarize(field(samples[variant], name));
        const cell = {
          route,
          inFlight,
          repetitions: rounds,
          durationMs,
          daemon: { reqPerSec: stat("daemon", "reqPerSec"), p50: stat("daemon", "p50"), p99: stat("daemon", "p99") },
          bare: { reqPerSec: stat("bare", "reqPerSec"), p50: stat("bare", "p50"), p99: stat("bare", "p99") },
        };
        cell.throughputRatio = cell.daemon.reqPerSec.median / cell.bare.reqPerSec.median;
        if (samples.sameBody) {
          cell.sameBody = {
            reqPerSec: stat("sameBody", "reqPerSec"),
            p50: stat("sameBody", "p50"),
            p99: stat("sameBody", "p99"),
          };
          cell.sameBodyRatio = cell.daemon.reqPerSec.median / cell.sameBody.reqPerSec.median;
          // Per repetition (daemon and same-body server ran side by side in each round).
          const ratios = samples.daemon.map((d, i) => d.reqPerSec / samples.sameBody[i].reqPerSec);
          cell.sameBodyRatioPerRound = summarize(ratios);
        }
        cell.bodyBytes = bodyBytes[route];
        if (registering)
          cell.daemonSessionsAtEnd = summarize(field(samples.daemon, "requests").map((n) => n + BASE_SESSIONS));
        cells.push(cell);
      }
    }
  } finally {
    await current?.stop();
    await bare?.stop();
    await sameBody?.stop();
    await sleepers.stop();
    removeDir(bareDir);
  }

  const at16 = cells.filter((c) => c.inFlight === 16);
  const worstRatio16 = Math.min(...at16.map((c) => c.throughputRatio));
  const worstP99at16 = Math.max(...at16.map((c) => c.daemon.p99.median));
  const worstP99at1 = Math.max(...cells.filter((c) => c.inFlight === 1).map((c) => c.daemon.p99.median));
  const listCells = cells.filter((c) => c.sameBody);
  const list16 = listCells.find((c) => c.inFlight === 16);
  return {
    baseline: `a bare \`node:http\` server in its own process on a Unix socket, reading the body and answering a fixed ${bodyBytes["GET /v1/sessions"]?.bare}-byte JSON; same undici Pool client`,
    sizes: { sessionsRegistered: BASE_SESSIONS, inFlight: IN_FLIGHT, cellDurationMs: durationMs },
    repetitions: { rounds, warmupMsPerCell: warmupMs },
    notes: [
      `Each cell: ${durationMs} ms closed loop (after ${warmupMs} ms warm-up) with an undici Pool of as many connections as requests in flight; ${rounds} interleaved repetitions (daemon, bare, daemon, bare…); medians, min–max in the JSON.`,
      `The daemon holds ${BASE_SESSIONS} sessions (one live pid). Each register repetition starts from a fresh daemon with ${BASE_SESSIONS} sessions, and uses a fresh token per request.`,
      `Response bodies: GET /v1/sessions ${fmtInt(bodyBytes["GET /v1/sessions"].daemon)} bytes (all ${BASE_SESSIONS} sessions), GET /v1/sessions/me ${bodyBytes["GET /v1/sessions/me"].daemon} bytes, register ${bodyBytes["POST /v1/sessions/register"].daemon} bytes; the bare server always ${bodyBytes["GET /v1/sessions"].bare} bytes. The list ratio prices the serialisation, the route's real work.`,
      `Register cells grow the registry while they run: the daemon ends a repetition holding ${cells
        .filter((c) => c.daemonSessionsAtEnd)
        .map((c) => `${fmtInt(c.daemonSessionsAtEnd.median)} (${c.inFlight} in flight)`)
        .join(", ")} sessions, and every state write re-encodes all of them.`,
      `Same-body baseline (list route only): a second bare server sending the daemon's own GET /v1/sessions answer verbatim, captured once from the daemon the cells measure: ${fmtInt(bodyBytes["GET /v1/sessions"].sameBody)} bytes and the daemon's headers (${listHeaders.join(", ")}; node:http adds date, connection, keep-alive, as for the daemon). Interleaved daemon, bare, same body in each round; "per-round ratio" is daemon / same body within each round (min–max over rounds).`,
      "Client and server share the machine's 2 cores: at 16 and 64 in flight the client's own CPU is part of every figure, alike for both servers.",
    ],
    tables: [
      {
        title: "Requests per second and latency (medians of repetitions)",
        header: [
          "route",
          "in flight",
          "daemon req/s",
          "bare req/s",
          "daemon / bare",
          "daemon p50",
          "daemon p99",
          "bare p50",
          "bare p99",
        ],
        rows: cells.map((c) => [
          c.route,
          String(c.inFlight),
          fmtInt(c.daemon.reqPerSec.median),
          fmtInt(c.bare.reqPerSec.median),
          fmtRatio(c.throughputRatio),
          fmtMs(c.daemon.p50.median),
          fmtMs(c.daemon.p99.median),
          fmtMs(c.bare.p50.median),
          fmtMs(c.bare.p99.median),
        ]),
      },
      {
        title: `GET /v1/sessions (${BASE_SESSIONS} sessions) against a bare server sending the same ${fmtInt(bodyBytes["GET /v1/sessions"].sameBody)} bytes (medians of repetitions)`,
        header: [
          "in flight",
          "daemon req/s",
          "same-body req/s",
          "daemon / same body",
          "per-round ratio min–max",
          "daemon p99",
          "same-body p50",
          "same-body p99",
          "same body / 50-byte bare",
        ],
        rows: listCells.map((c) => [
          String(c.inFlight),
          fmtInt(c.daemon.reqPerSec.median),
          fmtInt(c.sameBody.reqPerSec.median),
          fmtRatio(c.sameBodyRatio),
          `${fmtRatio(c.sameBodyRatioPerRound.min)} – ${fmtRatio(c.sameBodyRatioPerRound.max)}`,
          fmtMs(c.daemon.p99.median),
          fmtMs(c.sameBody.p50.median),
          fmtMs(c.sameBody.p99.median),
          fmtRatio(c.sameBody.reqPerSec.median / c.bare.reqPerSec.median),
        ]),
      },
    ],
    goals: [
      {
        goal: "daemon ≥ 0.8× the bare server's req/s at 16 in flight (every route)",
        measured: at16.map((c) => `${c.route.split(" ")[1]} ${fmtRatio(c.throughputRatio)}`).join(", "),
        met: worstRatio16 >= 0.8,
      },
      {
        goal: "daemon p99 ≤ 2 ms (at 16 in flight, every route)",
        measured: `worst ${fmtMs(worstP99at16)} (at 1 in flight: worst ${fmtMs(worstP99at1)})`,
        met: worstP99at16 <= 2,
      },
      {
        goal: "GET /v1/sessions ≥ 0.8× a bare server sending the same body, at 16 in flight",
        measured: `${fmtRatio(list16.sameBodyRatio)} (${fmtInt(list16.daemon.reqPerSec.median)} vs ${fmtInt(list16.sameBody.reqPerSec.median)} req/s; 1 in flight ${fmtRatio(listCells.find((c) => c.inFlight === 1).sameBodyRatio)}, 64 in flight ${fmtRatio(listCells.find((c) => c.inFlight === 64).sameBodyRatio)})`,
        met: list16.sameBodyRatio >= 0.8,
      },
    ],
    data: cells,
  };
}
