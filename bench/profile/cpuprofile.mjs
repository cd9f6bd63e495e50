// Reads a V8 .cpuprofile (node --cpu-prof): where the time went (self and inclusive, by function),
// and how long each uninterrupted stretch inside a given function lasted, which is how long it
// held the event loop. Usage: node bench/profile/cpuprofile.mjs FILE [function…]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

function frameName(node) {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.split("/").slice(-2).join("/");
  return `${functionName || "(anonymous)"}${file ? ` ${file}:${lineNumber + 1}` : ""}`;
}

export function loadProfile(path) {
  const profile = JSON.parse(readFileSync(path, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time attributed to sample i is the gap to the next sample.
  const weights = profile.samples.map((_, i) => profile.timeDeltas[i + 1] ?? 0);
  return { profile, byId, parent, weights };
}

function stackOf(p, id) {
  const names = [];
  for (let cur = id; cur !== undefined; cur = p.parent.get(cur)) names.push(p.byId.get(cur));
  return names;
}

/** Self and inclusive milliseconds per function, plus total, idle and GC time. */
export function timeByFunction(p) {
  const self = new Map();
  const inclusive = new Map();
  let totalUs = 0;
  p.profile.samples.forEach((id, i) => {
    const us = p.weights[i];
    totalUs += us;
    const stack = stackOf(p, id);
    const leaf = frameName(stack[0]);
    self.set(leaf, (self.get(leaf) ?? 0) + us);
    for (const name of new Set(stack.map(frameName))) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  });
  const ms = (map) => new Map([...map].map(([k, v]) => [k, v / 1000]).sort((a, b) => b[1] - a[1]));
  const selfMs = ms(self);
  const idleMs = selfMs.get("(idle)") ?? 0;
  return {
    totalMs: totalUs / 1000,
    idleMs,
    gcMs: selfMs.get("(garbage collector)") ?? 0,
    self: selfMs,
    inclusive: ms(inclusive),
  };
}

/** Uninterrupted stretches spent inside `functionName` (its frames anywhere on the stack), in ms. */
export function stretches(p, functionName) {
  const cache = new Map();
  const inside = (id) => {
    if (!cache.has(id))
      cache.set(
        id,
        stackOf(p, id).some((n) => n.callFrame.functionName === functionName),
      );
    return cache.get(id);
  };
  const out = [];
  let current = 0;
  p.profile.samples.forEach((id, i) => {
    if (inside(id)) current += p.weights[i];
    else if (current > 0) {
      out.push(current / 1000);
      current = 0;
    }
  });
  if (current > 0) out.push(current / 1000);
  return out.sort((a, b) => a - b);
}

export function describeStretches(p, functionName) {
  const s = stretches(p, functionName);
  const at = (q) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]);
  const total = s.reduce((a, b) => a + b, 0);
  return {
    functionName,
    count: s.length,
    totalMs: total,
    medianMs: at(0.5),
    p90Ms: at(0.9),
    maxMs: s.at(-1) ?? 0,
  };
}

export function report(path, functions = [], top = 15) {
  const p = loadProfile(path);
  const t = timeByFunction(p);
  const lines = [
    `${path}`,
    `  total ${t.totalMs.toFixed(0)} ms: busy ${(t.totalMs - t.idleMs).toFixed(0)} ms, idle ${t.idleMs.toFixed(0)} ms, GC ${t.gcMs.toFixed(0)} ms`,
    "  self time:",
    ...[...t.self]
      .filter(([k]) => k !== "(idle)")
      .slice(0, top)
      .map(([k, v]) => `    ${v.toFixed(1).padStart(8)} ms  ${k}`),
  ];
  for (const fn of functions) {
    const d = describeStretches(p, fn);
    lines.push(
      `  ${fn}: ${d.count} stretches, ${d.totalMs.toFixed(1)} ms in all; median ${d.medianMs.toFixed(2)} ms, p90 ${d.p90Ms.toFixed(2)} ms, max ${d.maxMs.toFixed(2)} ms`,
    );
  }
  return lines.join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, ...functions] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: node bench/profile/cpuprofile.mjs FILE.cpuprofile [function…]\n");
    process.exit(2);
  }
  process.stdout.write(`${report(file, functions)}\n`);
}
