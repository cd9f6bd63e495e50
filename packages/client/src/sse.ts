// An incremental Server-Sent Events parser (WHATWG HTML §9.2 "event stream interpretation").
// Pure: it only turns text into messages, so it is tested without any socket, and chunks may be
// split anywhere by the transport (mid-line, mid-CRLF) without changing the result.

export interface SseMessage {
  /** The stream's last event id when the message was dispatched (it persists until another `id:`). */
  readonly id?: string;
  /** The `event:` field, or "message" when absent. */
  readonly event: string;
  /** All `data:` lines of the message, joined with "\n". */
  readonly data: string;
}

const LF = 0x0a;
const CR = 0x0d;

export class SseParser {
  #partial = "";
  /** The previous chunk ended with CR: a LF starting the next chunk belongs to that CRLF. */
  #skipLeadingLF = false;
  #atStreamStart = true;
  #eventType = "";
  #data: string[] = [];
  #lastEventId = "";

  /** Feeds the next chunk of text; returns the messages it completed, in order. */
  feed(chunk: string): SseMessage[] {
    let text = chunk;
    if (text.length === 0) return [];
    if (this.#skipLeadingLF) {
      this.#skipLeadingLF = false;
      if (text.charCodeAt(0) === LF) text = text.slice(1);
    }
    if (this.#atStreamStart && text.length > 0) {
      this.#atStreamStart = false;
      // One leading byte order mark is not part of the stream.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }

    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      this.#line(this.#partial + text.slice(start, i), out);
      this.#partial = "";
      if (c === CR) {
        if (i + 1 === text.length) this.#skipLeadingLF = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    this.#partial += text.slice(start);
    return out;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === "") {
      this.#dispatch(out);
      return;
    }
    if (line.startsWith(":")) return; // a comment, e.g. the daemon's keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#eventType = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      default:
        // `retry:` and unknown fields are ignored: reconnection timing is the caller's choice.
        break;
    }
  }

  #dispatch(out: SseMessage[]): void {
    const event = this.#eventType === "" ? "message" : this.#eventType;
    const hasData = this.#data.length > 0;
    const data = this.#data.join("\n");
    this.#eventType = "";
    this.#data = [];
    if (!hasData) return; // a message without a data line is not dispatched
    out.push(this.#lastEventId === "" ? { event, data } : { id: this.#lastEventId, event, data });
  }
}
