// A member's event stream (GET /v1/events with no token: the user from a plain shell) as M3 reads
// it: remote sessions' arrivals and departures, `session_registered` / `session_deregistered`
// whose session has origin "remote". `wait(type, sessionId)` resolves with the arrival time
// (performance.now() at the chunk holding the frame) of the next such event for that session.
import { request } from "node:http";
import { waiter } from "./events.mjs";

const REMOTE_TYPES = new Set(["session_registered", "session_deregistered"]);

/** Reads one SSE frame's event type and JSON data; undefined for a comment or a frame without data. */
function parseFrame(frame) {
  let type;
  let data;
  for (const line of frame.split("\n")) {
    if (line.startsWith("event: ")) type = line.slice(7);
    else if (line.startsWith("data: ")) data = line.slice(6);
  }
  return type === undefined || data === undefined ? undefined : { type, data: JSON.parse(data) };
}

export function openPeerEvents(socketPath, { timeoutMs = 15_000 } = {}) {
  const waiting = new Map();
  const counts = { registered: 0, deregistered: 0, unexpectedReason: 0 };
  let buffer = "";
  let ready;
  const opened = new Promise((resolve, reject) => {
    ready = { resolve, reject };
  });
  const req = request({ socketPath, path: "/v1/events", agent: false }, (res) => {
    res.setEncoding("utf8");
    ready.resolve();
    res.on("data", (chunk) => {
      const at = performance.now();
      buffer += chunk;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const frame = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        if (!frame || !REMOTE_TYPES.has(frame.type) || frame.data.session?.origin !== "remote") continue;
        if (frame.data.reason !== "remote") counts.unexpectedReason++;
        counts[frame.type === "session_registered" ? "registered" : "deregistered"]++;
        const key = `${frame.type} ${frame.data.session.session_id}`;
        waiting.get(key)?.(at);
        waiting.delete(key);
      }
    });
  });
  req.on("error", (error) => ready.reject(error));
  req.end();
  const wait = waiter(waiting, "member event stream", timeoutMs);
  return {
    opened,
    counts,
    /** `type` is "registered" or "deregistered". */
    wait: (type, sessionId) => wait(`session_${type} ${sessionId}`),
    close: () => req.destroy(),
  };
}
