// The stdio baseline (M5): the least a Node stdio JSON-RPC server can do. It reads newline-
// delimited JSON-RPC on stdin, parses each line and answers every request with one response line:
// for `tools/call`, the result object read from the file given (the benchmark hands it the real
// `mesh_peers` result, so both servers write the same bytes); for anything else an empty result.
// Ends when stdin ends. Usage: node stdio-echo.mjs [result file]
import { readFileSync } from "node:fs";

const toolResult = process.argv[2] ? JSON.parse(readFileSync(process.argv[2], "utf8")) : {};

let buffer = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffer += chunk;
  let nl = buffer.indexOf("\n");
  while (nl >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    nl = buffer.indexOf("\n");
    if (line.trim() === "") continue;
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    if (message.id === undefined || typeof message.method !== "string") continue;
    const result = message.method === "tools/call" ? toolResult : {};
    process.stdout.write(`${JSON.stringify({ jsonrpc: "2.0", id: message.id, result })}\n`);
  }
});
process.stdin.on("end", () => process.exit(0));
