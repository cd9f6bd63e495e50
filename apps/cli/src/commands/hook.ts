// `claudemesh hook <Event>`: what Claude Code's hooks run, on every prompt and tool call. It reads
// the hook's JSON, makes the calls the event needs (hook-output.ts decides them) and prints at
// most one JSON object. A hook must never get in the agent's way: outside a session, without a
// daemon (never started from here), after the session ended, or on any failure, it prints
// nothing and exits 0. Exit 2 would make Claude Code block the prompt or the stop, so no path
// returns it. Messages are marked surfaced only once the output was handed over.
import {
  ApiError,
  DaemonUnavailableError,
  type InboxResponse,
  type MarkResponse,
  type MeResponse,
  type PeersResponse,
  ROUTES,
  requestJson,
} from "@claudemesh/client";
import { type CliContext, writtenOut } from "../context.js";
import { EXIT } from "../exit-codes.js";
import {
  type HookEvent,
  type HookPlan,
  holds,
  isHookEvent,
  needsPolicy,
  parseHookInput,
  pendingMessages,
  planHook,
} from "../hook-plan.js";
import { HOOK_EVENTS } from "../launch-wiring.js";
import { readTokenFile } from "../token-file.js";

/** Each daemon call; the daemon answers in milliseconds, and a hook must not hold up the agent. */
const CALL_TIMEOUT_MS = 2_000;
/** Claude Code writes its JSON at once and closes stdin; an input left open costs no more than this. */
const STDIN_DEADLINE_MS = 1_000;
/** PostToolUse carries the tool's whole response; past this the input is not worth reading. */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

export interface HookStdin extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
  destroy(): void;
}

/** Stdin until it ends, the deadline passes or it grows too big; "" from a terminal. */
function readInput(stdin: HookStdin, deadlineMs: number): Promise<string> {
  if (stdin.isTTY) return Promise.resolve("");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stdin.removeListener("data", onData);
      // Destroyed so that an input still open does not keep the process alive.
      stdin.destroy();
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      chunks.push(buffer);
      size += buffer.length;
      if (size > MAX_INPUT_BYTES) done();
    };
    const timer = setTimeout(done, deadlineMs);
    stdin.on("data", onData);
    stdin.once("end", done);
    stdin.once("error", done);
  });
}

/** Nothing worth a word: the daemon is not running, or the session has ended. */
function expected(error: unknown): boolean {
  return (
    (error instanceof DaemonUnavailableError && error.provesAbsent) ||
    (error instanceof ApiError && error.status === 401)
  );
}

export async function hookCommand(ctx: CliContext, event: string, stdin: HookStdin = process.stdin): Promise<number> {
  if (!isHookEvent(event)) {
    ctx.stderr.write(`claudemesh hook: unknown event ${JSON.stringify(event)} (expected ${HOOK_EVENTS.join(", ")})\n`);
    return EXIT.failure;
  }
  const file = ctx.env.CLAUDEMESH_IPC_TOKEN_FILE;
  const token = file ? readTokenFile(file) : undefined;
  if (token === undefined) return EXIT.ok; // not a claudemesh session: Claude Code runs without the mesh

  const plan = planHook(event, parseHookInput(await readInput(stdin, STDIN_DEADLINE_MS)));
  if (plan === undefined) return EXIT.ok;

  const socket = ctx.paths.socket;
  // The first failure ends the hook: the calls still running are aborted, not waited for.
  const abort = new AbortController();
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> =>
    (
      await requestJson<T>(socket, {
        method,
        path,
        token,
        timeoutMs: CALL_TIMEOUT_MS,
        signal: abort.signal,
        ...(body !== undefined && { body }),
      })
    ).body;
  try {
    await answer(ctx, event, plan, call);
  } catch (error) {
    abort.abort();
    if (!expected(error)) {
      ctx.stderr.write(`claudemesh hook: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  return EXIT.ok;
}

type Call = <T>(method: string, path: string, body?: unknown) => Promise<T>;

async function answer(ctx: CliContext, event: HookEvent, plan: HookPlan, call: Call): Promise<void> {
  const [patched, me, peers, inbox] = await Promise.all([
    plan.status !== undefined ? call<MeResponse>("PATCH", ROUTES.me, { status: plan.status }) : undefined,
    plan.me ? call<MeResponse>("GET", ROUTES.me) : undefined,
    plan.peers ? call<PeersResponse>("GET", ROUTES.peers) : undefined,
    plan.inbox ? call<InboxResponse>("GET", ROUTES.inbox) : undefined,
  ]);
  const pending = pendingMessages(plan, inbox?.messages ?? []);
  // The inbox does not tell the inbound policy; a PATCH or GET me answer does.
  let session = me?.session ?? patched?.session;
  if (needsPolicy(session, pending)) session = (await call<MeResponse>("GET", ROUTES.me)).session;
  // Most prompts find nothing to say: the text module (framing, formatting) is loaded only when
  // there is something, since every module a hook loads is paid for on every prompt.
  if (!plan.orientation && (pending.length === 0 || holds(session))) return;
  const { hookContext, hookOutput } = await import("../hook-output.js");
  const context = hookContext(
    plan,
    { pending, ...(session && { session }), ...(peers && { peers: peers.peers }) },
    ctx.now(),
  );
  if (context === undefined) return;

  if (!(await writtenOut(ctx, hookOutput(event, context.text)))) return;
  // One mark, after the write: a hook that fails here leaves them delivered, for the next surface.
  const ids = context.shown.filter((m) => m.state === "delivered").map((m) => m.id);
  if (ids.length > 0) await call<MarkResponse>("POST", ROUTES.inboxMark, { ids, state: "surfaced" });
}
