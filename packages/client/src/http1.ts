// HTTP/1.1 framing for one request/response exchange, the client side only. Pure: bytes in, bytes
// out, no I/O. It exists so that one-shot calls can use node:net instead of node:http, whose client
// machinery costs ~5 ms of start-up that a CLI process (fresh for every call) does not need.
// It covers what the daemon sends and what RFC 9112 requires of a recipient; it is not a general
// HTTP client: no keep-alive, no pipelining, no upgrades, no transfer codings other than chunked.

/** Largest status line + header section (and, separately, trailer section) accepted, CRLFs included. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Largest body accepted, after chunked framing is removed. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface Http1Request {
  readonly method: string;
  /** Path and query, sent as is: it must already be percent-encoded. */
  readonly path: string;
  /** Must not contain Host, Content-Length, Connection or Transfer-Encoding: framing is set here. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// As node:http: a request target is visible ASCII or obs-text, a header value adds HTAB and SP.
const INVALID_PATH = /[^\u0021-\u00ff]/;
const INVALID_HEADER_VALUE = /[^\t\u0020-\u007e\u0080-\u00ff]/;
const FRAMING_HEADERS: ReadonlySet<string> = new Set(["host", "content-length", "connection", "transfer-encoding"]);
// Methods for which node:http sends no `Content-Length: 0` when there is no body; kept for parity.
const BODYLESS_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

/**
 * Serialises one request: request line, `Host: localhost`, the given headers in order, then
 * `Content-Length` (the body's length; 0 for a body-carrying method without a body, as node:http
 * does) and `Connection: close`. The method is upper-cased and an empty path is `/`, as node:http
 * does. Throws TypeError for a method that is not a token, a path or header value that could split
 * the message (CR, LF, controls, or characters above U+00FF), or a framing header set by the caller.
 */
export function formatRequest(request: Http1Request): Buffer {
  if (!TOKEN.test(request.method)) throw new TypeError(`invalid HTTP method ${JSON.stringify(request.method)}`);
  const method = request.method.toUpperCase();
  const path = request.path === "" ? "/" : request.path;
  if (INVALID_PATH.test(path))
    throw new TypeError(`request path contains unescaped characters: ${JSON.stringify(path)}`);
  const lines = [`${method} ${path} HTTP/1.1`, "Host: localhost"];
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    if (FRAMING_HEADERS.has(name.toLowerCase())) throw new TypeError(`the ${name} header is set by formatRequest`);
    if (INVALID_HEADER_VALUE.test(value)) throw new TypeError(`invalid character in the ${name} header`);
    lines.push(`${name}: ${value}`);
  }
  const { body } = request;
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`);
  else if (!BODYLESS_METHODS.has(method)) lines.push("Content-Length: 0");
  lines.push("Connection: close", "", "");
  // latin1, as node:http writes a head: every character was checked to fit in one byte.
  const head = Buffer.from(lines.join("\r\n"), "latin1");
  return body === undefined || body.length === 0 ? head : Buffer.concat([head, body]);
}

/**
 * Response headers as node:http's IncomingHttpHeaders: lower-cased names, null prototype.
 * A repeated header is joined with ", " in arrival order (RFC 9110 §5.3), except `set-cookie`,
 * which is always an array of its values (cookies cannot be joined).
 */
export interface Http1Headers {
  [name: string]: string | string[] | undefined;
  "set-cookie"?: string[];
}

export interface Http1Response {
  readonly status: number;
  /** The reason phrase, possibly empty. */
  readonly statusText: string;
  readonly headers: Http1Headers;
  /** The raw body bytes, framing removed; decode only once complete (a character may span chunks). */
  readonly body: Buffer;
}

/**
 * Why a response could not be read. `truncated`: the connection closed before the response was
 * complete (never a silently partial body). `malformed`: not HTTP/1.x, or framing we must not guess
 * at. `headers_too_large` / `body_too_large`: over MAX_HEADER_BYTES / MAX_BODY_BYTES.
 * `unsupported`: a transfer coding other than chunked, or a protocol upgrade.
 */
export type Http1ErrorReason = "truncated" | "malformed" | "headers_too_large" | "body_too_large" | "unsupported";

export class Http1ParseError extends Error {
  override readonly name = "Http1ParseError";
  constructor(
    readonly reason: Http1ErrorReason,
    message: string,
    /** The response status when the status line had been read. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface Http1ParserOptions {
  /** The request's method: a response to HEAD has no body. Default GET. */
  readonly method?: string;
  readonly maxHeaderBytes?: number;
  readonly maxBodyBytes?: number;
}

type State =
  | "status"
  | "headers"
  | "length-body"
  | "close-body"
  | "chunk-size"
  | "chunk-data"
  | "chunk-end"
  | "trailers"
  | "done";

const LF = 0x0a;
const CR = 0x0d;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: (.*))?$/;
const HEADER_LINE = /^([^:\s]+):[ \t]*(.*?)[ \t]*$/;
const DECIMAL = /^[0-9]+$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/;

/**
 * An incremental parser for one HTTP/1.x response. Feed it every chunk read from the connection,
 * then call `end()` when the connection ends. Chunks may be split anywhere (mid-line, mid-CRLF,
 * mid-character). Lines may end in CRLF or, leniently, in a bare LF (RFC 9112 §2.2).
 * The body is framed by `Transfer-Encoding: chunked` (extensions and trailers ignored), else by
 * `Content-Length`, else by the connection closing. 1xx interim responses are skipped; 204, 304 and
 * answers to HEAD have no body. Bytes after a complete response are ignored (we sent
 * `Connection: close`). Every error is an Http1ParseError; once one is thrown, every call rethrows it.
 */
export class Http1ResponseParser {
  readonly #method: string;
  readonly #maxHeaderBytes: number;
  readonly #maxBodyBytes: number;
  #state: State = "status";
  #error: Http1ParseError | undefined;
  /** Bytes of a line not yet terminated (a list: a line fed byte by byte is copied once, not once per byte). */
  #pending: Buffer[] = [];
  /** Bytes of the current header or trailer section so far, for the size limit. */
  #sectionBytes = 0;
  #sawAnyByte = false;
  #status = 0;
  #statusText = "";
  #headers: Http1Headers = Object.create(null) as Http1Headers;
  #body: Buffer[] = [];
  #bodyBytes = 0;
  /** Bytes still expected in the Content-Length body or the current chunk. */
  #remaining = 0;
  #response: Http1Response | undefined;

  constructor(options: Http1ParserOptions = {}) {
    this.#method = (options.method ?? "GET").toUpperCase();
    this.#maxHeaderBytes = options.maxHeaderBytes ?? MAX_HEADER_BYTES;
    this.#maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  }

  /** True once a whole response has been read. */
  get complete(): boolean {
    return this.#response !== undefined;
  }

  /** Feeds the next bytes; returns the response once it is complete (and on every later call). */
  feed(chunk: Buffer): Http1Response | undefined {
    if (this.#error !== undefined) throw this.#error;
    if (this.#response !== undefined || chunk.length === 0) return this.#response;
    this.#sawAnyByte = true;
    try {
      this.#consume(chunk);
    } catch (err) {
      this.#state = "done";
      this.#error = err as Http1ParseError;
      throw err;
    }
    return this.#response;
  }

  /** The connection ended: returns the response, or throws a `truncated` Http1ParseError if it is incomplete. */
  end(): Http1Response {
    if (this.#error !== undefined) throw this.#error;
    if (this.#response === undefined && this.#state === "close-body") this.#finish();
    if (this.#response !== undefined) return this.#response;
    this.#error = new Http1ParseError("truncated", this.#truncation(), this.#status || undefined);
    throw this.#error;
  }

  #truncation(): string {
    if (!this.#sawAnyByte) return "the connection closed without a response";
    switch (this.#state) {
      case "status":
      case "headers":
        return "the connection closed in the middle of the response headers";
      case "length-body":
        return `the connection closed after ${this.#bodyBytes} of ${this.#bodyBytes + this.#remaining} body bytes`;
      default:
        return `the connection closed in the middle of a chunked body, after ${this.#bodyBytes} bytes`;
    }
  }

  #consume(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && this.#response === undefined) {
      if (this.#state === "length-body" || this.#state === "chunk-data" || this.#state === "close-body") {
        data = this.#takeBody(data);
        continue;
      }
      const lf = data.indexOf(LF);
      if (lf === -1) {
        this.#countLineBytes(data.length);
        this.#pending.push(data);
        return;
      }
      this.#countLineBytes(lf + 1);
      let line = data.subarray(0, lf);
      if (this.#pending.length > 0) {
        line = Buffer.concat([...this.#pending, line]);
        this.#pending = [];
      }
      data = data.subarray(lf + 1);
      const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
      this.#line(line.toString("latin1", 0, end));
    }
  }

  /** Counts bytes of the status line, headers, chunk-size lines and trailers against the header limit. */
  #countLineBytes(n: number): void {
    this.#sectionBytes += n;
    if (this.#sectionBytes > this.#maxHeaderBytes) {
      const what =
        this.#state === "status" || this.#state === "headers"
          ? "header section"
          : this.#state === "trailers"
            ? "trailer section"
            : "chunk framing";
      throw new Http1ParseError(
        "headers_too_large",
        `the response's ${what} is over ${this.#maxHeaderBytes} bytes`,
        this.#status || undefined,
      );
    }
  }

  #line(line: string): void {
    switch (this.#state) {
      case "status":
        this.#statusLine(line);
        return;
      case "headers":
        if (line === "") this.#endOfHeaders();
        else this.#headerLine(line);
        return;
      case "chunk-size":
        this.#chunkSizeLine(line);
        return;
      case "chunk-end":
        if (line !== "") throw this.#malformed("a chunk is longer than its declared size");
        this.#state = "chunk-size";
        this.#sectionBytes = 0;
        return;
      default:
        // "trailers": fields are ignored; an empty line ends them and the message.
        if (line === "") this.#finish();
    }
  }

  #statusLine(line: string): void {
    const match = STATUS_LINE.exec(line);
    if (match === null || hasControl(match[2] ?? "")) {
      throw this.#malformed(`not an HTTP/1.x status line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    this.#status = Number(match[1]);
    this.#statusText = match[2] ?? "";
    this.#state = "headers";
  }

  #headerLine(line: string): void {
    // Obsolete line folding and whitespace before the colon are rejected (RFC 9112 §5.1, §5.2).
    const match = HEADER_LINE.exec(line);
    const [, rawName = "", value = ""] = match ?? [];
    if (match === null || !TOKEN.test(rawName) || hasControl(value)) {
      throw this.#malformed(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const name = rawName.toLowerCase();
    const headers = this.#headers;
    const existing = headers[name];
    if (name === "set-cookie") headers["set-cookie"] = [...(headers["set-cookie"] ?? []), value];
    else headers[name] = existing === undefined ? value : `${existing as string}, ${value}`;
  }

  #endOfHeaders(): void {
    const status = this.#status;
    if (status === 101) throw new Http1ParseError("unsupported", "the server switched protocols unasked", status);
    if (status < 200) {
      // An interim response (100 Continue, 103 Early Hints...): the real one follows.
      this.#state = "status";
      this.#sectionBytes = 0;
      this.#headers = Object.create(null) as Http1Headers;
      return;
    }
    this.#sectionBytes = 0;
    if (status === 204 || status === 304 || this.#method === "HEAD") {
      this.#finish();
      return;
    }
    const te = this.#headers["transfer-encoding"];
    if (typeof te === "string") {
      // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
      const codings = te.split(",").map((c) => c.trim().toLowerCase());
      if (codings.length !== 1 || codings[0] !== "chunked") {
        throw new Http1ParseError("unsupported", `unsupported transfer coding ${JSON.stringify(te)}`, status);
      }
      this.#state = "chunk-size";
      return;
    }
    const cl = this.#headers["content-length"];
    if (typeof cl === "string") {
      const values = cl.split(",").map((v) => v.trim());
      // Repeated identical values are one length; differing or non-decimal ones are unrecoverable.
      if (!values.every((v) => DECIMAL.test(v) && Number(v) === Number(values[0]))) {
        throw this.#malformed(`invalid Content-Length ${JSON.stringify(cl)}`);
      }
      const length = Number(values[0]);
      this.#checkBodySize(length);
      this.#remaining = length;
      if (length === 0) this.#finish();
      else this.#state = "length-body";
      return;
    }
    this.#state = "close-body";
  }

  #chunkSizeLine(line: string): void {
    const match = CHUNK_SIZE.exec(line);
    if (match === null) throw this.#malformed(`malformed chunk size line: ${JSON.stringify(line.slice(0, 80))}`);
    const hex = (match[1] ?? "").replace(/^0+(?=.)/, "");
    // Over 8 hex digits is over 4 GiB: too large whatever the limit, and past exact parsing soon after.
    const size = hex.length > 8 ? Number.POSITIVE_INFINITY : Number.parseInt(hex, 16);
    if (size === 0) {
      this.#state = "trailers";
      return;
    }
    this.#checkBodySize(this.#bodyBytes + size);
    this.#remaining = size;
    this.#state = "chunk-data";
  }

  /** Takes body bytes from `data` for the current state; returns what is left. */
  #takeBody(data: Buffer): Buffer {
    if (this.#state === "close-body") {
      this.#checkBodySize(this.#bodyBytes + data.length);
      this.#pushBody(data);
      return data.subarray(data.length);
    }
    const take = Math.min(this.#remaining, data.length);
    this.#pushBody(data.subarray(0, take));
    this.#remaining -= take;
    if (this.#remaining === 0) {
      if (this.#state === "length-body") this.#finish();
      else this.#state = "chunk-end";
    }
    return data.subarray(take);
  }

  #pushBody(bytes: Buffer): void {
    this.#body.push(bytes);
    this.#bodyBytes += bytes.length;
  }

  #checkBodySize(bytes: number): void {
    if (bytes > this.#maxBodyBytes) {
      throw new Http1ParseError(
        "body_too_large",
        `the response body is over ${this.#maxBodyBytes} bytes`,
        this.#status,
      );
    }
  }

  #malformed(message: string): Http1ParseError {
    return new Http1ParseError("malformed", message, this.#status || undefined);
  }

  #finish(): void {
    this.#state = "done";
    this.#response = {
      status: this.#status,
      statusText: this.#statusText,
      headers: this.#headers,
      body: Buffer.concat(this.#body, this.#bodyBytes),
    };
    this.#body = [];
  }
}

/** True when `text` has a control character other than HTAB: never valid in a field value (RFC 9110 §5.5). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}
