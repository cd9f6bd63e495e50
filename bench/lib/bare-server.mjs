// The IPC baseline (B2): the least a node:http server can do over a Unix socket. It reads the
// request body (as the daemon must for a registration) and answers one fixed small JSON object,
// with the same keep-alive timeout as the daemon. Usage: node bare-server.mjs <socket path> [body file]
// (the body file is for profiling only: the benchmark's baseline is always the small fixed body).
import { readFileSync, unlinkSync } from "node:fs";
import { createServer } from "node:http";

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write("usage: bare-server.mjs <socket path>\n");
  process.exit(2);
}

const body = process.argv[3]
  ? readFileSync(process.argv[3], "utf8")
  : JSON.stringify({ ok: true, pid: process.pid, uptime_ms: 0, sessions: 0 });
const headers = {
  "content-type": "application/json; charset=utf-8",
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
