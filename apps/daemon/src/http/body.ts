// Request bodies: at most 64 KiB, strict UTF-8, JSON.
import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.js";

export const MAX_BODY_BYTES = 64 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

// The client may still be sending: close the connection rather than read the rest.
const tooLarge = (limit: number) =>
  new HttpError("payload_too_large", `body is larger than ${limit} bytes`, { connection: "close" });

/** Reads the whole body, refusing it as soon as it passes the limit (no unbounded buffering). */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.resume(); // drain and discard the rest
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks, size)));
    req.once("error", reject);
  });
}

export function parseJsonBody(bytes: Buffer, contentType: string | undefined): unknown {
  if (contentType !== undefined && !/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new HttpError("bad_request", "content-type must be application/json");
  }
  if (bytes.length === 0) throw new HttpError("invalid_json", "request body is empty; expected a JSON object");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new HttpError("invalid_json", "request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError("invalid_json", `request body is not valid JSON: ${(error as Error).message}`);
  }
}
