// `claudemesh send` and `claudemesh message <id>`: send a message to a peer (a session id, a
// name, @group, role:NAME or *), optionally wait until it is surfaced or acked, and read the
// delivery states of a message sent earlier.
import {
  type MessageStatus,
  type MessageStatusResponse,
  messagePath,
  RECIPIENT_COLUMNS,
  recipientRow,
  renderTable,
  renderTsv,
  type SendMessageRequest,
  type SendMessageResponse,
  type WireRecipient,
  watchEvents,
} from "@claudemesh/client";
import { hasReached, isFinal, isUuid, PRIORITIES, type Priority } from "@claudemesh/mesh";
import { call } from "../api.js";
import type { CliContext } from "../context.js";
import { ensureDaemon } from "../daemon-control.js";
import { CliError, EXIT } from "../exit-codes.js";
import { untilInterrupted } from "../interruption.js";
import { sessionToken } from "../session-token.js";

export interface SendOptions {
  priority?: string;
  replyTo?: string;
  wait?: string;
  /** Seconds --wait may take; default 60. */
  timeout?: number;
  json?: boolean;
  /** Outside a session: the mesh to send in (default $CLAUDEMESH_MESH, else default). */
  mesh?: string;
  /** Where text comes from when none is given (tests pass their own). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export const DEFAULT_WAIT_TIMEOUT_S = 60;
const WAITABLE = ["surfaced", "acked"] as const;
type Waitable = (typeof WAITABLE)[number];

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** The text of a message: the words given, or stdin for none or `-` (one final newline dropped, CRLF made LF). */
export async function messageText(words: readonly string[], stdin: SendOptions["stdin"]): Promise<string> {
  if (words.length > 0 && !(words.length === 1 && words[0] === "-")) return words.join(" ");
  const input = stdin ?? process.stdin;
  if (input.isTTY) throw new CliError("no text: give it after the recipient, or on stdin", EXIT.usage);
  const text = (await readAll(input)).replace(/\r\n/g, "\n").replace(/\n$/, "");
  if (text === "") throw new CliError("no text: stdin was empty", EXIT.usage);
  return text;
}

/** Checks the options before anything is sent. */
export function checkSendOptions(options: SendOptions): { priority?: Priority; wait?: Waitable; timeoutS: number } {
  if (options.priority !== undefined && !(PRIORITIES as readonly string[]).includes(options.priority)) {
    throw new CliError(`invalid --priority: must be one of ${PRIORITIES.join(", ")}`, EXIT.usage);
  }
  if (options.wait !== undefined && !(WAITABLE as readonly string[]).includes(options.wait)) {
    throw new CliError(`invalid --wait: must be ${WAITABLE.join(" or ")}`, EXIT.usage);
  }
  if (options.replyTo !== undefined && !isUuid(options.replyTo)) {
    throw new CliError("invalid --reply-to: must be a message id", EXIT.usage);
  }
  const timeoutS = options.timeout ?? DEFAULT_WAIT_TIMEOUT_S;
  if (!(timeoutS > 0 && timeoutS <= 7 * 24 * 3600))
    throw new CliError("invalid --timeout: seconds, more than 0", EXIT.usage);
  return {
    ...(options.priority !== undefined && { priority: options.priority as Priority }),
    ...(options.wait !== undefined && { wait: options.wait as Waitable }),
    timeoutS,
  };
}

function stateText(r: WireRecipient): string {
  return r.reason === undefined ? r.state : `${r.state} (${r.reason})`;
}

function recipientLines(ctx: CliContext, recipients: readonly WireRecipient[]): string {
  if (!ctx.stdout.isTTY) return renderTsv(recipients.map((r) => [r.display_name, r.session_id, stateText(r)]));
  const table = renderTable(
    ["", "", ""],
    recipients.map((r) => [r.display_name, r.session_id, stateText(r)]),
  );
  return table
    .split("\n")
    .slice(1)
    .filter((line) => line !== "")
    .map((line) => `  ${line}\n`)
    .join("");
}

/** Is every recipient where `wanted` asks, or in a final state that means it never will be? */
function settled(status: MessageStatus, wanted: Waitable): boolean {
  return status.recipients.every((r) => hasReached(r.state, wanted) || isFinal(r.state));
}

/**
 * Waits until every recipient reached `wanted` (or can never), or the timeout. Woken by the
 * sender's `message_status` events; reads the truth from GET /v1/messages/{id}, also once a
 * second, so that a reconnecting stream never makes it miss a change.
 */
async function waitUntil(ctx: CliContext, id: string, token: string | undefined, wanted: Waitable, timeoutS: number) {
  const { socket } = await ensureDaemon(ctx);
  const read = () =>
    call<MessageStatusResponse>(ctx, { method: "GET", path: messagePath(id), ...(token !== undefined && { token }) });
  let status = (await read()).message;
  if (settled(status, wanted)) return { status, timedOut: false };
  const interruption = untilInterrupted();
  const stop = new AbortController();
  let finish: (outcome: "settled" | "timeout" | "stopped") => void = () => {};
  const outcome = new Promise<"settled" | "timeout" | "stopped">((resolve) => {
    finish = resolve;
  });
  let reading = false; // one read at a time: a burst of events needs one answer
  const refresh = () => {
    if (reading) return;
    reading = true;
    read()
      .then((res) => {
        status = res.message;
        if (settled(status, wanted)) finish("settled");
      })
      .catch(() => {}) // the daemon is restarting: the next wake-up reads again
      .finally(() => {
        reading = false;
      });
  };
  const watching = watchEvents(socket, {
    signal: stop.signal,
    ...(token !== undefined && { token }),
    onEvent: () => {},
    onMessageStatus: (event) => event.message_id === id && refresh(),
    onState: (state) => state === "connected" && refresh(),
  });
  const poll = setInterval(refresh, 1_000);
  const timer = setTimeout(() => finish("timeout"), timeoutS * 1000);
  interruption.signal.addEventListener("abort", () => finish("stopped"), { once: true });
  const result = await outcome;
  clearInterval(poll);
  clearTimeout(timer);
  stop.abort();
  await watching.catch(() => {});
  interruption.dispose();
  if (result === "stopped") throw new CliError("interrupted while waiting; the message was sent", EXIT.failure);
  return { status, timedOut: result === "timeout" };
}

export async function sendCommand(
  ctx: CliContext,
  to: string,
  words: readonly string[],
  options: SendOptions,
): Promise<number> {
  const checked = checkSendOptions(options);
  const token = sessionToken(ctx);
  const text = await messageText(words, options.stdin);
  const body: SendMessageRequest = {
    to,
    text,
    ...(checked.priority !== undefined && { priority: checked.priority }),
    ...(options.replyTo !== undefined && { reply_to: options.replyTo }),
    ...(token === undefined && { mesh: options.mesh ?? (ctx.env.CLAUDEMESH_MESH || "default") }),
  };
  if (token !== undefined && options.mesh !== undefined) {
    throw new CliError("--mesh is for a plain shell: a session sends in its own mesh", EXIT.usage);
  }
  const { message } = await call<SendMessageResponse>(ctx, {
    method: "POST",
    path: "/v1/messages",
    body,
    ...(token !== undefined && { token }),
  });
  if (checked.wait === undefined) {
    if (options.json) ctx.stdout.write(`${JSON.stringify({ message })}\n`);
    else {
      const n = message.recipients.length;
      ctx.stdout.write(
        `sent ${message.id} → ${n} recipient${n === 1 ? "" : "s"}\n${recipientLines(ctx, message.recipients)}`,
      );
    }
    return EXIT.ok;
  }
  if (!options.json) {
    const n = message.recipients.length;
    ctx.stdout.write(`sent ${message.id} → ${n} recipient${n === 1 ? "" : "s"}; waiting until ${checked.wait}…\n`);
  }
  const { status, timedOut } = await waitUntil(ctx, message.id, token, checked.wait, checked.timeoutS);
  if (options.json) ctx.stdout.write(`${JSON.stringify({ message: status })}\n`);
  else ctx.stdout.write(recipientLines(ctx, status.recipients));
  if (timedOut) {
    ctx.stderr.write(`claudemesh: not every recipient reached ${checked.wait} within ${checked.timeoutS} s\n`);
    return EXIT.timedOut;
  }
  const failed = status.recipients.filter((r) => !hasReached(r.state, checked.wait as Waitable));
  if (failed.length > 0) {
    ctx.stderr.write(
      `claudemesh: ${failed.length} recipient(s) will never reach ${checked.wait}: ${failed.map(stateText).join(", ")}\n`,
    );
    return EXIT.failure;
  }
  return EXIT.ok;
}

/** `claudemesh message <id>`: the delivery states of a message this session (or the member) sent. */
export async function messageCommand(ctx: CliContext, id: string, options: { json?: boolean }): Promise<number> {
  if (!isUuid(id)) throw new CliError(`not a message id: ${id}`, EXIT.usage);
  const token = sessionToken(ctx);
  const { message } = await call<MessageStatusResponse>(ctx, {
    method: "GET",
    path: messagePath(id),
    ...(token !== undefined && { token }),
  });
  if (options.json) {
    ctx.stdout.write(`${JSON.stringify({ message })}\n`);
    return EXIT.ok;
  }
  const rows = message.recipients.map((r) => recipientRow(r, ctx.now()));
  if (!ctx.stdout.isTTY) ctx.stdout.write(renderTsv(rows));
  else ctx.stdout.write(`message ${message.id} to ${message.to}\n${renderTable(RECIPIENT_COLUMNS, rows)}`);
  return EXIT.ok;
}
