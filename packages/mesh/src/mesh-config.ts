// Which meshes are bound to a NATS server, as `claudemesh mesh add` records them in the daemon
// dir (meshes.json, 0600): the servers, how to authenticate (by file path: a secret is never
// stored inline, so this file can be shown and logged), a TLS CA, and the member keys trusted.
// Pure: parsing, validation and the file's codec; reading and writing it is the daemon's.
import { isMeshName } from "@claudemesh/registry";

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;
const DEFAULT_PORT = 4222;
const MAX_SERVERS = 16;
const MAX_TRUSTED = 256;

export type CredentialKind = "creds" | "token" | "nkey";

export interface MeshBinding {
  readonly name: string;
  /** `nats://host:port` or `tls://host:port`, in the order they are tried. */
  readonly servers: readonly string[];
  /** An absolute path: a NATS creds file, a file holding a token, or an nkey seed file. */
  readonly credentials?: { readonly kind: CredentialKind; readonly file: string };
  /** An absolute path to the CA bundle the server's certificate is checked against. */
  readonly tlsCa?: string;
  /** When not empty, presence and messages of other member keys are ignored (and counted). */
  readonly trustMembers: readonly string[];
  readonly addedAt: number;
}

export interface MeshConfig {
  readonly meshes: readonly MeshBinding[];
}

export const EMPTY_MESH_CONFIG: MeshConfig = { meshes: [] };
const FILE_VERSION = 1;

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const fail = (error: string): { ok: false; error: string } => ({ ok: false, error });

/** A server address: `nats://` (the default when no scheme is given) or `tls://`, a host, a port. */
export function parseServerUrl(raw: string): Checked<string> {
  const text = raw.includes("://") ? raw : `nats://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`not a NATS server address: ${JSON.stringify(raw)} (expected nats://HOST:PORT)`);
  }
  if (url.protocol !== "nats:" && url.protocol !== "tls:") {
    return fail(`unsupported scheme ${url.protocol.replace(/:$/, "")} in ${JSON.stringify(raw)} (nats:// or tls://)`);
  }
  if (url.hostname === "") return fail(`no host in ${JSON.stringify(raw)}`);
  // Credentials go in files, never in the address: it is shown by `mesh list` and logged.
  if (url.username !== "" || url.password !== "") {
    return fail(`${JSON.stringify(raw)} carries credentials: use --creds, --token-file or --nkey-seed-file`);
  }
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
    return fail(`unexpected path or query in ${JSON.stringify(raw)}`);
  }
  const port = url.port === "" ? DEFAULT_PORT : Number(url.port);
  return { ok: true, value: `${url.protocol}//${url.hostname}:${port}` };
}

export interface MeshAddInput {
  readonly name: string;
  readonly servers: readonly string[];
  readonly creds?: string;
  readonly tokenFile?: string;
  readonly nkeySeedFile?: string;
  readonly tlsCa?: string;
  readonly trustMembers?: readonly string[];
}

const absolute = (path: string) => path.startsWith("/");

/** What `mesh add` was given, checked; paths must already be absolute (the CLI resolves them). */
export function parseMeshBinding(input: MeshAddInput, now: number): Checked<MeshBinding> {
  // A bound mesh is a mesh first: the registry's rule.
  if (!isMeshName(input.name)) return fail(`invalid mesh name ${JSON.stringify(input.name)}: 1–64 of a-z 0-9 . _ -`);
  if (input.servers.length === 0) return fail("no server: give --nats nats://HOST:PORT");
  if (input.servers.length > MAX_SERVERS) return fail(`at most ${MAX_SERVERS} servers`);
  const servers: string[] = [];
  for (const raw of input.servers) {
    const parsed = parseServerUrl(raw);
    if (!parsed.ok) return parsed;
    if (!servers.includes(parsed.value)) servers.push(parsed.value);
  }
  const given = (
    [
      ["creds", input.creds],
      ["token", input.tokenFile],
      ["nkey", input.nkeySeedFile],
    ] as const
  ).filter(([, file]) => file !== undefined);
  if (given.length > 1) return fail("give one of --creds, --token-file, --nkey-seed-file");
  for (const [, file] of given) if (!absolute(file as string)) return fail(`not an absolute path: ${file}`);
  if (input.tlsCa !== undefined && !absolute(input.tlsCa)) return fail(`not an absolute path: ${input.tlsCa}`);
  const trustMembers = [...new Set(input.trustMembers ?? [])];
  if (trustMembers.length > MAX_TRUSTED) return fail(`at most ${MAX_TRUSTED} trusted members`);
  const bad = trustMembers.find((f) => !FINGERPRINT.test(f));
  if (bad !== undefined) return fail(`not a member fingerprint: ${JSON.stringify(bad)} (SHA256:… as whoami shows it)`);
  const [credential] = given;
  return {
    ok: true,
    value: {
      name: input.name,
      servers,
      ...(credential && { credentials: { kind: credential[0], file: credential[1] as string } }),
      ...(input.tlsCa !== undefined && { tlsCa: input.tlsCa }),
      trustMembers,
      addedAt: now,
    },
  };
}

/** The config with `binding` added; a mesh already bound is refused (remove it first: nothing is overwritten). */
export function withBinding(config: MeshConfig, binding: MeshBinding): Checked<MeshConfig> {
  if (config.meshes.some((m) => m.name === binding.name)) {
    return fail(`mesh ${binding.name} is already bound (claudemesh mesh remove ${binding.name} first)`);
  }
  return { ok: true, value: { meshes: [...config.meshes, binding] } };
}

export function withoutBinding(config: MeshConfig, name: string): Checked<MeshConfig> {
  if (!config.meshes.some((m) => m.name === name)) return fail(`mesh ${name} is not bound to a NATS server`);
  return { ok: true, value: { meshes: config.meshes.filter((m) => m.name !== name) } };
}

export function encodeMeshConfig(config: MeshConfig): string {
  return `${JSON.stringify({ version: FILE_VERSION, meshes: config.meshes }, null, 2)}\n`;
}

/** Reads meshes.json; a file it cannot read whole is an error, never an empty config (that would unbind). */
export function decodeMeshConfig(text: string): Checked<MeshConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail("not JSON");
  }
  if (typeof raw !== "object" || raw === null) return fail("not a JSON object");
  const { version, meshes } = raw as { version?: unknown; meshes?: unknown };
  if (version !== FILE_VERSION)
    return fail(`unsupported version ${JSON.stringify(version)} (this claudemesh reads ${FILE_VERSION})`);
  if (!Array.isArray(meshes)) return fail("meshes is not a list");
  const out: MeshBinding[] = [];
  for (const [i, m] of meshes.entries()) {
    const b = m as Partial<MeshBinding> & { credentials?: { kind?: string; file?: string } };
    const kind = b.credentials?.kind;
    const parsed = parseMeshBinding(
      {
        name: String(b.name),
        servers: Array.isArray(b.servers) ? b.servers.map(String) : [],
        ...(kind === "creds" && { creds: String(b.credentials?.file) }),
        ...(kind === "token" && { tokenFile: String(b.credentials?.file) }),
        ...(kind === "nkey" && { nkeySeedFile: String(b.credentials?.file) }),
        ...(b.tlsCa !== undefined && { tlsCa: String(b.tlsCa) }),
        trustMembers: Array.isArray(b.trustMembers) ? b.trustMembers.map(String) : [],
      },
      typeof b.addedAt === "number" ? b.addedAt : 0,
    );
    if (!parsed.ok) return fail(`meshes[${i}]: ${parsed.error}`);
    if (b.credentials !== undefined && parsed.value.credentials === undefined) {
      return fail(`meshes[${i}]: unknown credential kind ${JSON.stringify(kind)}`);
    }
    if (out.some((o) => o.name === parsed.value.name)) return fail(`meshes[${i}]: mesh ${parsed.value.name} twice`);
    out.push(parsed.value);
  }
  return { ok: true, value: { meshes: out } };
}
