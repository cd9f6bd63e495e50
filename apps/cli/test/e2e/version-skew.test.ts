// The CLI warns once, on stderr, when the daemon it talks to runs another version, and names
// the fix. A stand-in daemon (a plain HTTP server on the socket) answers with an old version.
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { sandbox } from "../support/harness.js";

describe("version skew", () => {
  it("warns once on stderr, naming `claudemesh daemon restart`, and keeps stdout clean", async (context) => {
    const sb = sandbox(context);
    mkdirSync(sb.dir, { recursive: true, mode: 0o700 });
    const server = createServer((req, res) => {
      const body =
        req.url === "/v1/version"
          ? { daemon_version: "0.0.1", ipc_api: "v1", ipc_features: [], schema_version: 1 }
          : { sessions: [] };
      res.writeHead(200, { "content-type": "application/json", "claudemesh-version": "0.0.1", "claudemesh-api": "1" });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(sb.socket, resolve));
    context.onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const res = await sb.run(["sessions", "list", "--json"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('{"sessions":[]}\n');
    const warnings = res.stderr.split("\n").filter((line) => line.includes("version"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/daemon runs version 0\.0\.1 but this CLI is \d+\.\d+\.\d+.*claudemesh daemon restart/);
  });
});
