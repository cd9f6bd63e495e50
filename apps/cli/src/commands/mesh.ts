// `claudemesh mesh add|list|status|remove`: bind a mesh to NATS servers so that it spans
// machines, show the bound meshes and their links, unbind one. The CLI makes every path
// absolute and checks that the files it names can be read before it asks the daemon, which
// checks the servers (one connection) before it records anything.
import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import {
  formatAge,
  type MeshAddRequest,
  type MeshesResponse,
  type MeshRemoveResponse,
  type MeshView,
  meshPath,
  ROUTES,
} from "@claudemesh/client";
import { parseMeshBinding } from "@claudemesh/mesh";
import { call } from "../api.js";
import type { CliContext } from "../context.js";
import { CliError, EXIT } from "../exit-codes.js";
import { fields, table } from "./peers.js";

export interface MeshAddOptions {
  /** Repeatable `--nats URL`. */
  nats?: string[];
  creds?: string;
  tokenFile?: string;
  nkeySeedFile?: string;
  tlsCa?: string;
  /** Repeatable `--trust-member FINGERPRINT`. */
  trustMember?: string[];
  json?: boolean;
}

/** How long `mesh add` waits for the daemon: it connects to the servers before it answers. */
export const MESH_ADD_TIMEOUT_MS = 30_000;

const FILE_OPTIONS = [
  ["creds", "--creds", "creds"],
  ["tokenFile", "--token-file", "token_file"],
  ["nkeySeedFile", "--nkey-seed-file", "nkey_seed_file"],
  ["tlsCa", "--tls-ca", "tls_ca"],
] as const;

/** Why a file given on the command line cannot be used, or undefined when it can be read. */
function fileProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return "not a regular file";
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return "no such file";
    if (code === "EACCES") return "not readable by this user";
    return (error as Error).message;
  }
}

/**
 * The request `mesh add` sends: paths made absolute (from `cwd`) and checked readable, then the
 * whole binding checked as the daemon will (so a typo never starts a daemon). Usage errors exit 2.
 */
export function meshAddRequest(
  name: string,
  options: MeshAddOptions,
  cwd: string,
  problem: (path: string) => string | undefined = fileProblem,
): MeshAddRequest {
  const body: { -readonly [K in keyof MeshAddRequest]: MeshAddRequest[K] } = {
    name,
    servers: options.nats ?? [],
    ...(options.trustMember !== undefined && options.trustMember.length > 0 && { trust_members: options.trustMember }),
  };
  for (const [key, flag, field] of FILE_OPTIONS) {
    const given = options[key];
    if (given === undefined) continue;
    if (given === "") throw new CliError(`${flag}: give a file`, EXIT.usage);
    const path = resolve(cwd, given);
    const why = problem(path);
    if (why !== undefined) throw new CliError(`${flag} ${path}: ${why}`, EXIT.usage);
    body[field] = path;
  }
  const parsed = parseMeshBinding(
    {
      name: body.name,
      servers: body.servers,
      ...(body.creds !== undefined && { creds: body.creds }),
      ...(body.token_file !== undefined && { tokenFile: body.token_file }),
      ...(body.nkey_seed_file !== undefined && { nkeySeedFile: body.nkey_seed_file }),
      ...(body.tls_ca !== undefined && { tlsCa: body.tls_ca }),
      ...(body.trust_members !== undefined && { trustMembers: body.trust_members }),
    },
    0,
  );
  if (!parsed.ok) throw new CliError(parsed.error, EXIT.usage);
  return body;
}

export const MESH_COLUMNS = ["MESH", "STATE", "SERVER", "RTT", "REMOTE PEERS", "OUTBOX"] as const;

/** A round trip: whole milliseconds (what NATS measures), a tenth under 10 ms when finer. */
const rttText = (ms: number | null) =>
  ms === null ? "-" : `${ms >= 10 || Number.isInteger(ms) ? Math.round(ms) : ms.toFixed(1)}ms`;

/** One row of `mesh list`, in MESH_COLUMNS order. Pure. */
export function meshRow(view: MeshView): string[] {
  const status = view.status;
  return [
    view.name,
    status?.state ?? "not served",
    status?.server ?? view.servers[0] ?? "-",
    rttText(status?.rtt_ms ?? null),
    String(status?.remote_peers ?? 0),
    String(status?.outbox ?? 0),
  ];
}

/** The `key: value` pairs of `mesh status NAME`. Pure. */
export function meshFields(view: MeshView, now: number): [string, string][] {
  const status = view.status;
  return [
    ["mesh", view.name],
    ["state", status?.state ?? "not served (see claudemesh daemon logs)"],
    ["server", status?.server ?? "-"],
    ["rtt", rttText(status?.rtt_ms ?? null)],
    ["remote peers", String(status?.remote_peers ?? 0)],
    ["outbox", String(status?.outbox ?? 0)],
    ["servers", view.servers.join(", ")],
    ["credentials", view.credentials === null ? "none" : `${view.credentials.kind} ${view.credentials.file}`],
    ["tls ca", view.tls_ca ?? "-"],
    ["trusted members", view.trust_members.length === 0 ? "any" : view.trust_members.join(", ")],
    ["added", `${formatAge(now - view.added_at)} ago`],
  ];
}

function printList(ctx: CliContext, meshes: readonly MeshView[], json: boolean | undefined): void {
  if (json) ctx.stdout.write(`${JSON.stringify({ meshes })}\n`);
  else if (meshes.length === 0 && ctx.stdout.isTTY) {
    ctx.stderr.write("claudemesh: no mesh is bound to a NATS server (claudemesh mesh add NAME --nats URL)\n");
  } else ctx.stdout.write(table(ctx, MESH_COLUMNS, meshes.map(meshRow)));
}

export async function meshAddCommand(ctx: CliContext, name: string, options: MeshAddOptions): Promise<number> {
  const body = meshAddRequest(name, options, ctx.cwd);
  const view = await call<MeshView>(ctx, {
    method: "POST",
    path: ROUTES.meshes,
    body,
    timeoutMs: MESH_ADD_TIMEOUT_MS,
  });
  if (options.json) ctx.stdout.write(`${JSON.stringify(view)}\n`);
  else ctx.stdout.write(`mesh ${view.name} bound to ${view.servers.join(", ")}\n`);
  return EXIT.ok;
}

export async function meshListCommand(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const { meshes } = await call<MeshesResponse>(ctx, { method: "GET", path: ROUTES.meshes });
  printList(ctx, meshes, options.json);
  return EXIT.ok;
}

/** One mesh's link and binding, or (without a name) every bound mesh as `mesh list` shows them. */
export async function meshStatusCommand(
  ctx: CliContext,
  name: string | undefined,
  options: { json?: boolean },
): Promise<number> {
  if (name === undefined) return meshListCommand(ctx, options);
  const view = await call<MeshView>(ctx, { method: "GET", path: meshPath(name) });
  if (options.json) ctx.stdout.write(`${JSON.stringify(view)}\n`);
  else ctx.stdout.write(fields(ctx, meshFields(view, ctx.now())));
  return EXIT.ok;
}

export async function meshRemoveCommand(ctx: CliContext, name: string): Promise<number> {
  const { removed } = await call<MeshRemoveResponse>(ctx, { method: "DELETE", path: meshPath(name) });
  ctx.stdout.write(`mesh ${removed} unbound: it is local to this machine again\n`);
  return EXIT.ok;
}
