// The MCP server's stdio transport. Unlike the SDK's own, it knows when a message has really
// been handed to the client: `send` resolves only once stdout took the bytes (and rejects when it
// could not), and an action can wait for the response to one request. Marking a message surfaced
// waits for the tool result that carried it (field note M2). It also ends when stdin ends: the
// client (Claude Code) is gone, and the server must not linger holding a stream to the daemon.
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";

type Written = (ok: boolean) => void;

export class ConfirmedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly #input: NodeJS.ReadableStream;
  readonly #output: NodeJS.WritableStream;
  readonly #buffer = new ReadBuffer();
  /** What waits for the response to a request, by request id. */
  readonly #afterResponse = new Map<RequestId, Written[]>();
  #closed = false;

  constructor(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout) {
    this.#input = input;
    this.#output = output;
  }

  async start(): Promise<void> {
    this.#input.on("data", this.#onData);
    this.#input.on("error", this.#onInputError);
    this.#input.once("end", this.#onEnd);
    this.#output.on("error", this.#onOutputError);
  }

  /**
   * Runs `then(true)` once a successful response to request `id` has been written; `then(false)`
   * when it could not be written, when the response is an error (a tool result with `isError`
   * included: it carries none of what the tool fetched), or when the transport closed first.
   */
  afterResponse(id: RequestId, then: Written): void {
    const waiting = this.#afterResponse.get(id);
    if (waiting) waiting.push(then);
    else this.#afterResponse.set(id, [then]);
  }

  send(message: JSONRPCMessage): Promise<void> {
    const responseTo = "id" in message && ("result" in message || "error" in message) ? message.id : undefined;
    const waiting = responseTo === undefined ? undefined : this.#afterResponse.get(responseTo);
    if (waiting) this.#afterResponse.delete(responseTo as RequestId);
    return new Promise((resolve, reject) => {
      const settle = (error: Error | null | undefined) => {
        const carried = !error && "result" in message && (message.result as { isError?: unknown }).isError !== true;
        for (const then of waiting ?? []) then(carried);
        if (error) reject(error);
        else resolve();
      };
      if (this.#closed) {
        settle(new Error("the MCP client has gone (stdio closed)"));
        return;
      }
      this.#output.write(serializeMessage(message), settle);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.off("data", this.#onData);
    this.#input.off("error", this.#onInputError);
    this.#input.off("end", this.#onEnd);
    this.#buffer.clear();
    for (const waiting of this.#afterResponse.values()) for (const then of waiting) then(false);
    this.#afterResponse.clear();
    this.onclose?.();
  }

  readonly #onData = (chunk: Buffer): void => {
    try {
      this.#buffer.append(chunk);
    } catch (error) {
      this.onerror?.(error as Error); // a line over 10 MiB: dropped, the buffer starts afresh
      return;
    }
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.#buffer.readMessage();
      } catch (error) {
        // One bad line is the client's bug; the lines after it still count.
        this.onerror?.(error as Error);
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  };

  readonly #onInputError = (error: Error): void => this.onerror?.(error);
  readonly #onOutputError = (error: Error): void => {
    this.onerror?.(error);
    void this.close();
  };
  readonly #onEnd = (): void => void this.close();
}
