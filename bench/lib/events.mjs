// A session's event stream (GET /v1/events) as the benchmarks read it: each `message` event's
// text is the nonce a sender put in it, and `wait(nonce)` resolves with its arrival time.
import { request } from "node:http";

const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

/** A session's event stream; `wait(nonce)` resolves with the arrival time of the message carrying it. */
export function openStream(socketPath, token) {
  const waiting = new Map();
  let buffer = "";
  let ready;
  const opened = new Promise((resolve, reject) => {
    ready = { resolve, reject };
  });
  const req = request({ socketPath, path: "/v1/events", headers: auth(token), agent: false }, (res) => {
    res.setEncoding("utf8");
    ready.resolve();
    res.on("data", (chunk) => {
      const at = performance.now();
      buffer += chunk;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        if (!frame.includes("event: message\n")) continue;
        const nonce = JSON.parse(frame.slice(frame.indexOf("data: ") + 6)).message.text;
        waiting.get(nonce)?.(at);
        waiting.delete(nonce);
      }
    });
  });
  req.on("error", (error) => ready.reject(error));
  req.end();
  return { opened, wait: waiter(waiting, "event stream"), close: () => req.destroy() };
}

/** `wait(nonce)` on a map of waiters, failing after a while instead of hanging the run. */
export function waiter(waiting, what, timeoutMs = 10_000) {
  return (nonce) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(nonce);
        reject(new Error(`${what}: no message "${nonce}" within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      waiting.set(nonce, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
}
