// `pnpm bench [--quick] [--only B1,B3] [--out FILE]`: runs the benchmarks against the BUILT
// packages (run `pnpm build` first), prints markdown tables to stdout (progress goes to stderr)
// and writes JSON. Every figure is compared with its baseline measured in the same run,
// interleaved: ratios carry over between machines, absolute times do not.
// --quick runs everything at small sizes (for CI, to keep the code working; asserts no speed).
// A benchmark that fails gets its error in the table, the others still run, and the exit code is 1.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PATHS } from "./lib/daemon.mjs";
import { killAllTracked, tempDirCount, trackedCount } from "./lib/proc.mjs";

const BENCHMARKS = {
  B1: "./b1-reaper.mjs",
  B2: "./b2-ipc.mjs",
  B3: "./b3-cli-startup.mjs",
  B4: "./b4-launch.mjs",
  B5: "./b5-rss.mjs",
  B6: "./b6-start.mjs",
  M1: "./m1-messages.mjs",
  M2: "./m2-remote.mjs",
  M3: "./m3-presence.mjs",
  M4: "./m4-scale.mjs",
  M5: "./m5-agents.mjs",
  R3: "./r3-failover.mjs",
  H1: "./h1-hostile.mjs",
  SOAK: "./soak.mjs",
};

const USAGE = `usage: pnpm bench [--quick] [--only B1,B3] [--out FILE]
  --quick     small sizes and few repetitions (well under 2 minutes); asserts nothing about speed
  --only IDS  run only these benchmarks (comma-separated: ${Object.keys(BENCHMARKS).join(",")})
  --out FILE  where to write the JSON (default bench/results/latest.json, or latest-quick.json with --quick)`;

function parseCli(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean" },
        only: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`bench: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = values.only === undefined ? Object.keys(BENCHMARKS) : values.only.split(",").map((s) => s.trim());
  const unknown = only.filter((id) => !(id.toUpperCase() in BENCHMARKS));
  if (unknown.length > 0 || only.length === 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(", ") || "(none given)"}\n${USAGE}\n`);
    process.exit(2);
  }
  const quick = values.quick === true;
  const out =
    values.out ??
    fileURLToPath(new URL(quick ? "./results/latest-quick.json" : "./results/latest.json", import.meta.url));
  return { quick, only: only.map((id) => id.toUpperCase()), out };
}

function processCount() {
  return readdirSync("/proc").filter((name) => /^\d+$/.test(name)).length;
}

/** Which build was measured: the commit, and how many files differ from it (others may be editing). */
function gitInfo() {
  const git = (...args) =>
    execFileSync("git", args, { cwd: PATHS.root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const dirty = git("status", "--porcelain", "--", "apps", "packages");
    return { commit: git("rev-parse", "HEAD"), uncommittedProductFiles: dirty === "" ? 0 : dirty.split("\n").length };
  } catch {
    return { commit: "unknown", uncommittedProductFiles: null };
  }
}

function machineInfo() {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? "unknown",
    cores: list.length,
    availableParallelism: availableParallelism(),
    totalMemoryBytes: totalmem(),
    kernel: release(),
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    processesAtStart: processCount(),
  };
}

function markdownTable(header, rows) {
  const cellText = (cell) => String(cell).replaceAll("|", "\\|");
  return [
    `| ${header.map(cellText).join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((row) => `| ${row.map(cellText).join(" | ")} |`),
  ].join("\n");
}

function log(message) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function renderBenchmark(result) {
  const lines = [`## ${result.id} — ${result.title}`, ""];
  if (result.error) {
    lines.push(`**FAILED:** ${result.error}`, "");
    return lines.join("\n");
  }
  lines.push(`Baseline: ${result.baseline}.`, "");
  for (const table of result.tables) {
    lines.push(`**${table.title}**`, "", markdownTable(table.header, table.rows), "");
  }
  for (const note of result.notes ?? []) lines.push(`- ${note}`);
  lines.push("", `_${result.id} took ${(result.durationMs / 1000).toFixed(1)} s._`, "");
  return lines.join("\n");
}

function renderSummary(results) {
  const rows = [];
  for (const r of results) {
    if (r.error) {
      rows.push([r.id, r.title, `error: ${r.error.split("\n")[0]}`, "FAILED"]);
      continue;
    }
    for (const goal of r.goals) rows.push([r.id, goal.goal, goal.measured, goal.met ? "met" : "MISSED"]);
  }
  return ["## Goals", "", markdownTable(["benchmark", "goal", "measured", "result"], rows), ""].join("\n");
}

function writeJsonAtomic(path, value) {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temp, path);
}

/** JSON cannot hold NaN or Infinity, nor typed arrays as arrays: make them plain. */
function plain(value) {
  return JSON.parse(
    JSON.stringify(value, (_key, v) => {
      if (typeof v === "number" && !Number.isFinite(v)) return null;
      if (ArrayBuffer.isView(v)) return undefined;
      return v;
    }),
  );
}

async function main() {
  const options = parseCli(process.argv.slice(2));
  for (const [what, path] of Object.entries({ daemon: PATHS.daemonMain, cli: PATHS.cli, registry: PATHS.registry })) {
    if (!existsSync(path)) {
      process.stderr.write(`bench: the ${what} is not built (${path} missing); run \`pnpm build\` first\n`);
      process.exit(1);
    }
  }
  const onSignal = (signal) => {
    log(`${signal}: killing every process the benchmarks started`);
    killAllTracked();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", killAllTracked);

  const machine = machineInfo();
  const started = performance.now();
  const startedAt = new Date().toISOString();
  log(
    `${options.quick ? "quick" : "full"} run of ${options.only.join(", ")} on ${machine.cpuModel} × ${machine.cores}`,
  );
  const results = [];
  for (const id of options.only) {
    const t0 = performance.now();
    let result;
    let title = id;
    try {
      const mod = await import(BENCHMARKS[id]);
      title = mod.title;
      log(`${id}: ${title}`);
      result = { id, title, ...(await mod.run({ quick: options.quick, log })) };
    } catch (error) {
      log(`${id} FAILED: ${error.stack ?? error}`);
      result = { id, title, error: String(error?.message ?? error) };
    }
    result.durationMs = performance.now() - t0;
    if (trackedCount() > 0 || tempDirCount() > 0) {
      // A benchmark must clean up after itself; if it did not, say so and clean up for it.
      const leak = `${trackedCount()} process(es) it started still running and ${tempDirCount()} temp dir(s) left afterwards`;
      log(`${id}: ${leak}`);
      killAllTracked();
      result.error = result.error ? `${result.error}; ${leak}` : leak;
    }
    results.push(result);
    log(`${id} done in ${(result.durationMs / 1000).toFixed(1)} s`);
  }
  const totalMs = performance.now() - started;
  machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);

  const header = [
    `# claudemesh benchmarks (${options.quick ? "quick" : "full"} run)`,
    "",
    `${machine.cpuModel}, ${machine.cores} cores, ${(machine.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, Linux ${machine.kernel}, Node ${machine.node}; ` +
      `load average ${machine.loadAverageAtStart.join(" ")} at start, ${machine.loadAverageAtEnd.join(" ")} at end; ` +
      `${startedAt}; ${(totalMs / 1000).toFixed(1)} s in all.`,
    "",
  ].join("\n");
  const markdown = [header, ...results.map(renderBenchmark), renderSummary(results)].join("\n");
  process.stdout.write(`${markdown}\n`);

  writeJsonAtomic(
    options.out,
    plain({
      mode: options.quick ? "quick" : "full",
      startedAt,
      durationMs: totalMs,
      machine,
      build: gitInfo(),
      benchmarks: results.map(({ tables: _tables, ...rest }) => rest),
    }),
  );
  writeFileSync(`${options.out.replace(/\.json$/, "")}.md`, `${markdown}\n`);
  log(`wrote ${options.out}`);
  const failed = results.filter((r) => r.error).map((r) => r.id);
  if (failed.length > 0) {
    log(`failed: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  killAllTracked();
  process.exit(1);
});
