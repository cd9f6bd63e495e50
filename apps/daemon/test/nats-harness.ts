// What the tests of meshes bound to NATS share: daemon dirs with a binding written as `mesh add`
// records it, and the session-side calls (register, peers, send, states, inbox, mark, metrics)
// over a daemon's socket.
import { writeFileSync } from "node:fs";
import { daemonPaths } from "@claudemesh/client";
import { encodeMeshConfig, type MeshAddInput, parseMeshBinding } from "@claudemesh/mesh";
import { expect } from "vitest";
import { authorized, http, register, tempDir, token } from "./harness.js";

export type Json = Record<string, unknown>;
const json = { "content-type": "application/json" };

/** A fresh daemon dir with meshes bound (name → servers and options). */
export function boundDir(bindings: readonly MeshAddInput[]): string {
  const dir = tempDir();
  const meshes = bindings.map((input) => {
    const parsed = parseMeshBinding(input, Date.now());
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  });
  writeFileSync(daemonPaths(dir).meshes, encodeMeshConfig({ meshes }), { mode: 0o600 });
  return dir;
}

/** Registers session `s<n>` (token n) in `mesh` for process `pid`; returns its token. */
export async function joinAs(socket: string, n: number, mesh: string, pid: number, body: Json = {}): Promise<string> {
  const tok = token(n);
  const res = await register(socket, { token: tok, pid, session_id: `s${n}`, mesh, display_name: `n${n}`, ...body });
  expect(res.status, res.text).toBe(200);
  return tok;
}

export async function peersOf(socket: string, tok: string): Promise<Json[]> {
  const res = await http(socket, "GET", "/v1/peers", { headers: authorized(tok) });
  expect(res.status, res.text).toBe(200);
  return (res.json() as { peers: Json[] }).peers;
}

export async function sendAs(socket: string, tok: string, body: Json): Promise<{ id: string; recipients: Json[] }> {
  const res = await http(socket, "POST", "/v1/messages", {
    headers: { ...json, ...authorized(tok) },
    body: JSON.stringify(body),
  });
  expect(res.status, res.text).toBe(202);
  return (res.json() as { message: { id: string; recipients: Json[] } }).message;
}

/** Recipient session id → state, as the sender reads it. */
export async function statesOf(socket: string, tok: string, id: string): Promise<Record<string, string>> {
  const res = await http(socket, "GET", `/v1/messages/${id}`, { headers: authorized(tok) });
  expect(res.status, res.text).toBe(200);
  const { message } = res.json() as { message: { recipients: { session_id: string; state: string }[] } };
  return Object.fromEntries(message.recipients.map((r) => [r.session_id, r.state]));
}

export async function inboxOf(
  socket: string,
  tok: string,
  which: "unsurfaced" | "all" = "unsurfaced",
): Promise<{ id: string; text: string }[]> {
  const res = await http(socket, "GET", `/v1/inbox?state=${which}`, { headers: authorized(tok) });
  expect(res.status, res.text).toBe(200);
  return (res.json() as { messages: { id: string; text: string }[] }).messages;
}

export async function markAs(socket: string, tok: string, ids: string[], state: "surfaced" | "acked"): Promise<void> {
  const res = await http(socket, "POST", "/v1/inbox/mark", {
    headers: { ...json, ...authorized(tok) },
    body: JSON.stringify({ ids, state }),
  });
  expect(res.status, res.text).toBe(200);
}

/** One metric's value (summed over label sets matching `labels`), from /v1/metrics. */
export async function metricOf(socket: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await http(socket, "GET", "/v1/metrics");
  expect(res.status, res.text).toBe(200);
  let total = 0;
  for (const line of res.text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== "{" && line[name.length] !== " ")) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(" ").pop());
  }
  return total;
}
