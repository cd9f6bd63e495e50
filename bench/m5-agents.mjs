// M5: what an agent session pays for the mesh inside it. (1) `tools/call mesh_peers` over stdio to
// a long-running `claudemesh mcp` (10 peers in the mesh), against the same newline-delimited
// JSON-RPC round trip to a minimal Node stdio server answering the same result bytes (and an empty
// one), and GET /v1/peers straight on the daemon's socket (the daemon's share). (2) A message:
// POST /v1/messages from another session → the `notifications/claude/channel` line on the MCP
// server's stdout, against M1's floor, the POST → the recipient's `message` event on its own
// GET /v1/events stream. (3) the hook UserPromptSubmit (dist/hook.cjs, as launch wires it; and `claudemesh hook` through the CLI) start to exit with 0 and with 20
// pending messages, and `hook Stop`, against `node -e 0` (and `claudemesh --version`, the CLI's
// own start-up). Every pair interleaved round by round in the same run.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PATHS, startDaemon } from "./lib/daemon.mjs";
import { openStream, waiter } from "./lib/events.mjs";
import { createClient, drainInbox, newToken, send, sendOk } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { cleanEnv, makeTempDir, removeDir, sleep, spawnSleepers, timedRunWithInput } from "./lib/proc.mjs";
import { fmtInt, fmtMs, fmtRange, fmtRatio, latencySummary, Samples, summarize } from "./lib/stats.mjs";
import { startStdioRpc } from "./lib/stdio-rpc.mjs";

export const id = "M5";
export const title = "Agent sessions: MCP tool round trip, message → channel notification, hook start-up";

const ECHO_SERVER = fileURLToPath(new URL("./lib/stdio-echo.mjs", import.meta.url));
const CHANNEL_METHOD = "notifications/claude/channel";
/** The other sessions of the agent's mesh while mesh_peers is measured. */
const PEERS = 10;
/** More senders, registered after the mesh_peers part: each stays far below 20 messages a second. */
const EXTRA_SENDERS = 40;
const PENDING = 20;
/** Claude Code drops channel events sent within ~300 ms of `initialized`; the server waits that long. */
const SETTLE_MS = 300;
/** After a refill and before the timed hook: the daemon's writes behind those 20 messages are done. */
const REFILL_SETTLE_MS = 100;
const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

/** `count` sequential JSON-RPC round trips; latency from the write to the response's arrival. */
async function rpcCell(rpc, method, params, count, check) {
  const latencies = new Samples();
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const res = await rpc.request(method, params);
    latencies.push(res.at - t0);
    bytes = res.bytes;
    check?.(res.message);
  }
  return { bytes, ...latencySummary(latencies.values()) };
}

/** `count` sequential GETs on one keep-alive connection. */
async function httpCell(client, req, count) {
  const latencies = new Samples();
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const res = await sendOk(client, req);
    latencies.push(performance.now() - t0);
    bytes = Buffer.byteLength(res.text);
  }
  return { bytes, ...latencySummary(latencies.values()) };
}

/** `count` messages one after the other to `to`, each timed from its POST to `wait(nonce)`. */
async function messageCell(world, to, wait, count) {
  const latencies = new Samples();
  for (let i = 0; i < count; i++) {
    const nonce = `m5n-${world.seq++}`;
    const sender = world.senders[world.seq % world.senders.length];
    const t0 = performance.now();
    const arrived = wait(nonce);
    arrived.catch(() => {}); // awaited below; a POST that fails first must not leave it unhandled
    const res = await send(world.client, {
      method: "POST",
      path: "/v1/messages",
      body: JSON.stringify({ to, text: nonce }),
      headers: auth(sender.token),
    });
    if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}: ${res.text.slice(0, 200)}`);
    latencies.push((await arrived) - t0);
  }
  return latencySummary(latencies.values());
}

/** `PENDING` messages into a session's inbox from as many senders, before a timed hook (untimed). */
async function refill(world, to) {
  const nonces = [];
  for (let i = 0; i < PENDING; i++) {
    const nonce = `m5h-${world.seq++}x`; // the x: "m5h-1x" is no part of "m5h-12x"
    const sender = world.senders[world.seq % world.senders.length];
    await sendOk(world.client, {
      method: "POST",
      path: "/v1/messages",
      body: JSON.stringify({ to, text: nonce }),
      headers: auth(sender.token),
    });
    nonces.push(nonce);
  }
  return nonces;
}

async function register(world, sessionId) {
  const token = newToken();
  await sendOk(world.client, {
    method: "POST",
    path: "/v1/sessions/register",
    body: JSON.stringify({ token, pid: world.pid, session_id: sessionId, display_name: sessionId }),
  });
  const tokenFile = join(world.dir, `${sessionId}.token`);
  writeFileSync(tokenFile, token, { mode: 0o600 });
  return { id: sessionId, token, tokenFile };
}

/** `claudemesh mcp` as `session`, handshaken; channel notifications go to `onChannel(params, at)`. */
async function startMcp(world, session, onChannel) {
  const env = cleanEnv({
    CLAUDEMESH_DAEMON_DIR: world.daemonDir,
    CLAUDEMESH_NO_AUTOSTART: "1",
    CLAUDEMESH_IPC_TOKEN_FILE: session.tokenFile,
    CLAUDEMESH_MESSAGE_MODE: "push",
  });
  const rpc = startStdioRpc([process.execPath, PATHS.cli, "mcp"], {
    env,
    onNotification: (message, at) => {
      if (message.method === CHANNEL_METHOD) onChannel(message.params, at);
    },
  });
  try {
    const init = await rpc.request("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "claudemesh-bench", version: "1.0.0" },
    });
    if (init.message.error) throw new Error(`initialize failed: ${JSON.stringify(init.message.error)}`);
    if (!init.message.result.capabilities?.experimental?.["claude/channel"]) {
      throw new Error("claudemesh mcp does not offer claude/channel in push mode");
    }
  } catch (error) {
    await rpc.stop();
    throw error;
  }
  rpc.notify("notifications/initialized");
  return rpc;
}

export async function run({ quick, log }) {
  const rounds = quick ? 1 : 5;
  const callsPerRound = quick ? 30 : 300;
  const messagesPerRound = quick ? 20 : 100;
  const hookRounds = quick ? 5 : 40;
  const node = process.execPath;
  const sleepers = await spawnSleepers(1);
  const dir = makeTempDir();
  const world = { dir, daemonDir: join(dir, "d"), pid: sleepers.pids[0], seq: 0, senders: [] };
  let daemon;
  let mcp;
  let echo;
  let peersClient;
  let stream;
  let peersSamples;
  let messageSamples;
  let hookSamples;
  let peersResult;
  const channelExtra = { unmatched: 0, badMeta: 0 };
  const hookChecks = { leftUnsurfaced: 0, contextChars: 0 };
  try {
    daemon = await startDaemon(world.daemonDir, { program: PATHS.cliDaemon });
    world.client = createClient(daemon.socket);
    const agent = await register(world, "agent");
    for (let i = 0; i < PEERS; i++) world.senders.push(await register(world, `peer-${i}`));

    // (1) mesh_peers over stdio, against the echo server and GET /v1/peers.
    const channelWaiting = new Map();
    mcp = await startMcp(world, agent, (params, at) => {
      const nonce = /m5n-\d+/.exec(params?.content ?? "")?.[0];
      if (typeof params?.meta?.message_id !== "string" || typeof params?.meta?.from !== "string")
        channelExtra.badMeta++;
      const resolve = nonce === undefined ? undefined : channelWaiting.get(nonce);
      if (resolve === undefined) channelExtra.unmatched++;
      else {
        channelWaiting.delete(nonce);
        resolve(at);
      }
    });
    const peersParams = { name: "mesh_peers", arguments: {} };
    const first = await mcp.request("tools/call", peersParams);
    peersResult = first.message.result;
    if (first.message.error || peersResult?.isError) {
      throw new Error(`mesh_peers failed: ${JSON.stringify(first.message.error ?? peersResult.content)}`);
    }
    const listed = peersResult.structuredContent?.peers?.length;
    if (listed !== PEERS) throw new Error(`mesh_peers listed ${listed} peers, expected ${PEERS}`);
    const resultFile = join(dir, "peers-result.json");
    writeFileSync(resultFile, JSON.stringify(peersResult));
    echo = startStdioRpc([node, ECHO_SERVER, resultFile]);
    peersClient = createClient(daemon.socket);
    const checkPeers = (message) => {
      if (message.error || message.result?.isError) throw new Error(`mesh_peers failed: ${JSON.stringify(message)}`);
    };
    log(`M5: tools/call mesh_peers, ${rounds} rounds of ${callsPerRound} calls`);
    peersSamples = await interleave(
      [
        { name: "mcp", run: () => rpcCell(mcp, "tools/call", peersParams, callsPerRound, checkPeers) },
        { name: "echoSame", run: () => rpcCell(echo, "tools/call", peersParams, callsPerRound) },
        { name: "echoEmpty", run: () => rpcCell(echo, "ping", undefined, callsPerRound) },
        {
          name: "http",
          run: () => httpCell(peersClient, { path: "/v1/peers", headers: auth(agent.token) }, callsPerRound),
        },
      ],
      { rounds, warmup: 1 },
    );

    // (2) message → channel notification, against message → the recipient's own event stream.
    for (let i = 0; i < EXTRA_SENDERS; i++) world.senders.push(await register(world, `sender-${i}`));
    const listener = await register(world, "listener");
    stream = openStream(daemon.socket, listener.token);
    await stream.opened;
    await sleep(SETTLE_MS + 200); // the MCP server's settling after `initialized` is long over by now
    const channelWait = waiter(channelWaiting, "channel notification");
    log(`M5: message → channel notification, ${rounds} rounds of ${messagesPerRound} messages`);
    messageSamples = await interleave(
      [
        {
          name: "channel",
          run: async () => {
            const cell = await messageCell(world, agent.id, channelWait, messagesPerRound);
            await drainInbox(world.client, agent.token);
            return cell;
          },
        },
        {
          name: "event",
          run: async () => {
            const cell = await messageCell(world, listener.id, stream.wait, messagesPerRound);
            await drainInbox(world.client, listener.token);
            return cell;
          },
        },
      ],
      { rounds, warmup: 1 },
    );
    stream.close();
    stream = undefined;
    await mcp.stop();
    mcp = undefined;
    await echo.stop();
    echo = undefined;

    // (3) hook wall time, against node -e 0.
    const hooked = await register(world, "hooked");
    const env = cleanEnv({
      CLAUDEMESH_DAEMON_DIR: world.daemonDir,
      CLAUDEMESH_NO_AUTOSTART: "1",
      CLAUDEMESH_IPC_TOKEN_FILE: hooked.tokenFile,
    });
    const hookInput = (event, more) =>
      JSON.stringify({
        session_id: "0193e2c1-4b5a-7c00-8a3e-1f2b3c4d5e6f",
        hook_event_name: event,
        cwd: dir,
        transcript_path: join(dir, "transcript.jsonl"),
        ...more,
      });
    // Outside a session the hook returns before reading stdin: the CLI's and the hook's modules, no I/O.
    const outside = cleanEnv({ CLAUDEMESH_DAEMON_DIR: world.daemonDir, CLAUDEMESH_NO_AUTOSTART: "1" });
    const promptInput = hookInput("UserPromptSubmit", { prompt: "hi" });
    const stopInput = hookInput("Stop", { stop_hook_active: false });
    // As launch wires Claude Code's hooks: dist/hook.cjs, the hook's own entry. `claudemesh hook`
    // (through the CLI's entry and fast path) is measured beside it.
    const hookEntry = join(dirname(PATHS.cli), "hook.cjs");
    const prompt = [node, hookEntry, "UserPromptSubmit"];
    const promptViaCli = [node, PATHS.cli, "hook", "UserPromptSubmit"];
    const expectSilent = (what) => (res) => {
      if (res.stdout.trim() !== "") throw new Error(`${what} printed ${JSON.stringify(res.stdout.slice(0, 300))}`);
      return res;
    };
    log(`M5: hooks, ${hookRounds} interleaved runs of each`);
    hookSamples = await interleave(
      [
        { name: "node -e 0", run: () => timedRunWithInput([node, "-e", "0"], env, promptInput) },
        {
          name: "claudemesh --version",
          run: () => timedRunWithInput([node, PATHS.cli, "--version"], env, promptInput),
        },
        {
          name: "hook UserPromptSubmit, outside a session",
          run: () =>
            expectSilent("UserPromptSubmit outside a session")(timedRunWithInput(prompt, outside, promptInput)),
        },
        {
          name: "hook UserPromptSubmit, 0 pending",
          run: () => expectSilent("UserPromptSubmit, 0 pending")(timedRunWithInput(prompt, env, promptInput)),
        },
        {
          name: "claudemesh hook UserPromptSubmit (cli.js), 0 pending",
          run: () => expectSilent("claudemesh hook, 0 pending")(timedRunWithInput(promptViaCli, env, promptInput)),
        },
        {
          name: `hook UserPromptSubmit, ${PENDING} pending`,
          run: async () => {
            const nonces = await refill(world, hooked.id);
            await sleep(REFILL_SETTLE_MS); // waiting messages, not the daemon still busy storing them
            const res = timedRunWithInput(prompt, env, promptInput);
            const out = JSON.parse(res.stdout);
            const context = out?.hookSpecificOutput?.additionalContext ?? "";
            const missing = nonces.filter((n) => !context.includes(n));
            if (out?.hookSpecificOutput?.hookEventName !== "UserPromptSubmit" || missing.length > 0) {
              throw new Error(
                `UserPromptSubmit did not show ${missing.length} of ${PENDING}: ${res.stdout.slice(0, 300)}`,
              );
            }
            hookChecks.contextChars = context.length;
            // It marked what it showed surfaced: the next 0-pending run must find nothing.
            hookChecks.leftUnsurfaced += await drainInbox(world.client, hooked.token);
            return res;
          },
        },
        {
          name: "hook Stop",
          run: () => expectSilent("Stop")(timedRunWithInput([node, hookEntry, "Stop"], env, stopInput)),
        },
      ],
      { rounds: hookRounds, warmup: 2 },
    );
  } finally {
    stream?.close();
    await mcp?.stop();
    await echo?.stop();
    await peersClient?.close();
    await world.client?.close();
    await daemon?.stop();
    await sleepers.stop();
    removeDir(dir);
  }

  // (1)
  const rpcStat = (name) => ({
    p50: summarize(field(peersSamples[name], "p50")),
    p99: summarize(field(peersSamples[name], "p99")),
    bytes: peersSamples[name][0]?.bytes,
  });
  const peers = {
    mcp: rpcStat("mcp"),
    echoSame: rpcStat("echoSame"),
    echoEmpty: rpcStat("echoEmpty"),
    http: rpcStat("http"),
  };
  const mcpP50 = peers.mcp.p50.median;
  // (2)
  const msgStat = (name) => ({
    p50: summarize(field(messageSamples[name], "p50")),
    p99: summarize(field(messageSamples[name], "p99")),
  });
  const messages = { channel: msgStat("channel"), event: msgStat("event") };
  // (3)
  const base = summarize(field(hookSamples["node -e 0"], "ms"));
  const hooks = Object.keys(hookSamples).map((name) => {
    const s = summarize(field(hookSamples[name], "ms"));
    return { command: name, ms: s, ratio: s.median / base.median, overheadMs: s.median - base.median };
  });
  const hookOf = (name) => hooks.find((h) => h.command === name);
  const idle = hookOf("hook UserPromptSubmit, 0 pending");
  const full = hookOf(`hook UserPromptSubmit, ${PENDING} pending`);

  const peersRow = (label, s) => [
    label,
    fmtMs(s.p50.median),
    fmtMs(s.p99.median),
    fmtInt(s.bytes),
    fmtRatio(mcpP50 / s.p50.median),
    fmtMs(mcpP50 - s.p50.median),
  ];
  return {
    baseline:
      "for tools/call, a minimal Node stdio JSON-RPC server (bench/lib/stdio-echo.mjs) answering the same result bytes, and GET /v1/peers on the daemon's socket; for a message, M1's floor (POST → the `message` event on the recipient's own GET /v1/events); for hooks, `node -e 0`. All interleaved round by round",
    sizes: {
      peers: PEERS,
      senders: PEERS + EXTRA_SENDERS,
      pendingMessages: PENDING,
      callsPerRound,
      messagesPerRound,
    },
    repetitions: { rounds, warmupRounds: 1, hookRuns: hookRounds, hookWarmupRuns: 2 },
    notes: [
      `tools/call: one long-running \`claudemesh mcp\` (push mode, inside a session registered over the socket, token in a 0600 file), handshaken with initialize (protocol 2025-06-18) and notifications/initialized; ${callsPerRound} sequential calls per round, latency from the request line's write to its response's arrival on stdout, same client code for the echo server. The mesh holds the agent and ${PEERS} peers; every answer is checked (no isError; ${PEERS} peers listed). The echo server parses each line and writes the real mesh_peers result (${fmtInt(peers.echoSame.bytes)} bytes a line) or an empty one. GET /v1/peers: the same session's token, one undici keep-alive connection, as the MCP server itself uses (undici pool).`,
      `Messages: ${messagesPerRound} per round, one after the other, from ${PEERS + EXTRA_SENDERS} senders in turn (none near the 20 msg/s limit); latency from the POST leaving the client to the notification line (or the SSE frame) arriving, its 202 awaited too. The MCP server's ${SETTLE_MS} ms settling after \`initialized\` was over before the first. Inboxes acked between rounds, untimed. Notifications that matched no message: ${channelExtra.unmatched}; without meta.from/message_id: ${channelExtra.badMeta}.`,
      `Hooks: spawnSync wall time, Claude Code's hook JSON on stdin (\`node -e 0\` gets the same), as a session with no MCP server; ${hookRounds} runs each, interleaved. Before each ${PENDING}-pending run (untimed) ${PENDING} messages from ${PENDING} senders are sent, then ${REFILL_SETTLE_MS} ms pass; each run's additionalContext is checked to hold all ${PENDING} (${fmtInt(hookChecks.contextChars)} characters) and the other hook runs to print nothing. The hook rows run dist/hook.cjs, the hook's own entry, as launch wires Claude Code's hooks; the cli.js row is the same hook as \`claudemesh hook\`, through the CLI's entry and fast path. Outside a session (no CLAUDEMESH_IPC_TOKEN_FILE) the hook exits before reading stdin: that row is the hook's module loading alone, \`claudemesh --version\` the CLI's entry alone. Messages the hook left unsurfaced (acked after it, untimed): ${hookChecks.leftUnsurfaced}.`,
      "The bench client, the daemon, the MCP server and the echo server share the machine's 2 cores.",
    ],
    tables: [
      {
        title: `tools/call mesh_peers over stdio, ${PEERS} peers (medians of ${rounds} rounds of ${callsPerRound} calls)`,
        header: ["round trip", "p50", "p99", "response bytes", "mesh_peers p50 / this", "mesh_peers p50 − this"],
        rows: [
          peersRow("`claudemesh mcp` tools/call mesh_peers", peers.mcp),
          peersRow("echo server, same result", peers.echoSame),
          peersRow("echo server, empty result", peers.echoEmpty),
          peersRow("GET /v1/peers on the socket", peers.http),
        ],
      },
      {
        title: `A message: POST /v1/messages → its arrival (medians of ${rounds} rounds of ${messagesPerRound})`,
        header: ["arrival", "p50", "p99", "p50 ratio", "p50 added"],
        rows: [
          [
            "channel notification on `claudemesh mcp` stdout",
            fmtMs(messages.channel.p50.median),
            fmtMs(messages.channel.p99.median),
            fmtRatio(messages.channel.p50.median / messages.event.p50.median),
            fmtMs(messages.channel.p50.median - messages.event.p50.median),
          ],
          [
            "`message` event on the recipient's own /v1/events",
            fmtMs(messages.event.p50.median),
            fmtMs(messages.event.p99.median),
            "1.00×",
            fmtMs(0),
          ],
        ],
      },
      {
        title: `Hook wall time, ${hookRounds} runs each`,
        header: ["command", "median", "min–max", "over node -e 0", "ratio to node -e 0"],
        rows: hooks.map((h) => [h.command, fmtMs(h.ms.median), fmtRange(h.ms), fmtMs(h.overheadMs), fmtRatio(h.ratio)]),
      },
    ],
    goals: [
      {
        goal: `tools/call mesh_peers p50 ≤ 5 ms (${PEERS} peers)`,
        measured: `${fmtMs(mcpP50)} (p99 ${fmtMs(peers.mcp.p99.median)}; echo ${fmtMs(peers.echoSame.p50.median)})`,
        met: mcpP50 <= 5,
      },
      {
        goal: "`hook UserPromptSubmit` ≤ 1.3× `node -e 0` (0 pending)",
        measured: `0 pending ${fmtRatio(idle.ratio)} (${fmtMs(idle.ms.median)} vs ${fmtMs(base.median)}); ${PENDING} pending ${fmtRatio(full.ratio)} (${fmtMs(full.ms.median)})`,
        met: idle.ratio <= 1.3,
      },
    ],
    data: { peers, messages, hooks, channelExtra, hookChecks },
  };
}
