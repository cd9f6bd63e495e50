// Meshes bound to NATS servers (`claudemesh mesh add|list|status|remove`): list them with their
// links' status, bind one (checked against its servers before it is recorded), unbind one. Like
// the other member routes they take no token: the socket's 0600 is the boundary.
import type { MeshAddInput } from "@claudemesh/mesh";
import { type MeshBindings, meshView, notBoundMessage } from "../nats/mesh-bindings.js";
import { parseJsonBody, readBody } from "./body.js";
import { type ErrorCode, HttpError } from "./http-error.js";
import type { Routes } from "./server.js";

export interface MeshRouteDeps {
  meshes: MeshBindings;
}

/** The statuses of a failed add, by the reason MeshBindings gives. */
const REFUSALS: Readonly<Record<string, ErrorCode>> = {
  invalid: "invalid_field",
  already_bound: "mesh_already_bound",
  credentials_file: "credentials_file",
  unreachable: "nats_unreachable",
  auth: "nats_auth",
  tls: "nats_tls",
  no_jetstream: "nats_no_jetstream",
};

const PATH_FIELDS = [
  ["creds", "creds"],
  ["token_file", "tokenFile"],
  ["nkey_seed_file", "nkeySeedFile"],
  ["tls_ca", "tlsCa"],
] as const;

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === "string");

/** The body of POST /v1/meshes, its JSON types checked; the values are MeshBindings' to judge. */
export function parseMeshAddRequest(raw: unknown): MeshAddInput {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new HttpError("invalid_field", "body: must be a JSON object");
  }
  const body = raw as Record<string, unknown>;
  if (typeof body.name !== "string") throw new HttpError("invalid_field", "name: must be a string");
  if (!isStringList(body.servers))
    throw new HttpError("invalid_field", "servers: must be an array of nats:// or tls:// addresses");
  const input: { -readonly [K in keyof MeshAddInput]: MeshAddInput[K] } = { name: body.name, servers: body.servers };
  for (const [field, key] of PATH_FIELDS) {
    const value = body[field];
    if (value === undefined) continue;
    if (typeof value !== "string") throw new HttpError("invalid_field", `${field}: must be an absolute path`);
    input[key] = value;
  }
  if (body.trust_members !== undefined) {
    if (!isStringList(body.trust_members))
      throw new HttpError("invalid_field", "trust_members: must be an array of member fingerprints");
    input.trustMembers = body.trust_members;
  }
  return input;
}

export function meshRoutes(deps: MeshRouteDeps): Routes {
  const { meshes } = deps;
  const notBound = (name: string) => new HttpError("mesh_not_bound", notBoundMessage(name));

  return {
    "/v1/meshes": {
      GET: () => ({ body: { meshes: meshes.list() } }),
      POST: async (ctx) => {
        const input = parseMeshAddRequest(parseJsonBody(await readBody(ctx.req), ctx.req.headers["content-type"]));
        const result = await meshes.add(input);
        if (!result.ok) throw new HttpError(REFUSALS[result.reason] ?? "internal", result.message);
        // A remove queued right behind this add may already have run: the binding as added, then.
        return { status: 201, body: meshes.get(result.binding.name) ?? meshView(result.binding, null) };
      },
    },

    "/v1/meshes/:name": {
      GET: (ctx) => {
        const name = ctx.params.name as string;
        const view = meshes.get(name);
        if (view === undefined) throw notBound(name);
        return { body: view };
      },
      DELETE: async (ctx) => {
        const name = ctx.params.name as string;
        const result = await meshes.remove(name);
        if (!result.ok) throw notBound(name);
        return { body: { removed: name } };
      },
    },
  };
}
