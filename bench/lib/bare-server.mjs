// The IPC baseline (B2): the least a node:http server can do over a Unix socket. It reads the
// request body (as the daemon must for a registration) and answers one fixed small JSON object,
// with the same keep-alive timeout as the daemon. Usage:
//   node bare-server.mjs <socket path> [body file [headers file]]
// A body file is sent verbatim (its bytes) instead of the small fixed JSON; a headers file (a JSON
// object) replaces the default headers, content-length excepted, which is always the body's length.
// B2's main baseline is the small fixed body; its "same body" baseline for the list route sends
// the bytes and headers the daemon itself answered (captured by the benchmark, see b2-ipc.mjs).
import { readFileSync, unlinkSync } from "node:fs";
import { createServer } from "node:http";

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write("usage: bare-server.mjs <socket path>\n");
  process.exit(2);
}

const body = process.argv[3]
  ? readFileSync(process.argv[3])
  : JSON.stringify({ ok: true, pid: process.pid, uptime_ms: 0, sessions: 0 });
const headers = {
  ...(process.argv[4]
    ? JSON.parse(readFileSync(process.argv[4], "utf8"))
    : { "content-type": "application/json; charset=utf-8" }),
  "content-length": String(Buffer.byteLength(body)),
};

const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, headers);
    res.end(body);
  });
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  try {
    unlinkSync(socketPath);
  } catch {
    // already gone
  }
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

server.listen(socketPath);
