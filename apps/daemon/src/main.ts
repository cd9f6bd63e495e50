#!/usr/bin/env node
// Entry of the daemon program. stop-signals must stay the first import: it takes SIGTERM,
// SIGINT and SIGHUP before any other module runs.
import "./stop-signals.js";
import { runDaemon } from "./run-daemon.js";

runDaemon(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`claudemesh-daemon: ${String(error)}\n`);
    process.exit(1);
  },
);
