#!/usr/bin/env node
// The `claudemesh` command. Every call is a fresh process, so start-up time is the product's
// latency: common command lines are parsed by a small fast path, the rest by commander (loaded
// only then), and each command's code is imported only when it runs.
import { processContext } from "./context.js";
import { dispatch } from "./dispatch.js";
import { parseFast } from "./fast-path.js";

// `claudemesh sessions list | head` closes the pipe early: the reader has what it wanted.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
  throw error;
});

async function main(argv: readonly string[]): Promise<number> {
  const invocation = parseFast(argv) ?? (await import("./program.js")).parseWithCommander(argv);
  if (typeof invocation === "number") return invocation;
  return dispatch(processContext(), invocation);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`claudemesh: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
