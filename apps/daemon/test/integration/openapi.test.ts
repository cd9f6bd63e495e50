// docs/openapi.json against the real daemon. Every operation of the document is called, every
// status it lists for that operation is provoked, and every answer (status, headers, body) is
// validated against the document's schema for that path, method and status with a JSON Schema
// 2020-12 validator. The document and the code's route table must list the same operations, so
// a route added without documentation, or documentation left behind by a removed route, fails.
// The request schemas are held against the daemon's own parsers, the error codes against
// @claudemesh/client's statuses, and the events a stream receives against the documented event
// schemas and the audience each event is documented for.
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { request, type Server } from "node:http";
import { join } from "node:path";
import { ERROR_CODES, ERROR_STATUS, type SseMessage, SseParser } from "@claudemesh/client";
import {
  attest,
  fingerprint,
  generateSigningKey,
  messageSigningText,
  parseAddress,
  parseMeshBinding,
  parseSendRequest,
  type SigningKey,
  seedOf,
  signingKeyFromSeed,
  signText,
} from "@claudemesh/mesh";
import { parseRegistration, parseSessionPatch } from "@claudemesh/registry";
import { freePort, type NatsServer, startNatsServer } from "@claudemesh/testkit";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../src/daemon.js";
import { KEEPALIVE_MS } from "../../src/events/event-hub.js";
import { DEFAULT_RING_SIZE } from "../../src/events/event-log.js";
import { MAX_BODY_BYTES } from "../../src/http/body.js";
import { parseMeshAddRequest } from "../../src/http/mesh-routes.js";
import { createRoutes, type RouteDeps } from "../../src/http/routes.js";
import { createHttpServer } from "../../src/http/server.js";
import { createLogger } from "../../src/logger.js";
import { IPC_FEATURES } from "../../src/version.js";
import {
  authorized,
  cleanup,
  http,
  killAndWait,
  rawExchange,
  register,
  spawnSleeper,
  tempDir,
  token,
  waitFor,
} from "../harness.js";

// ---------------------------------------------------------------------------------------------
// The document, and a validator for the schemas it holds.

type Json = Record<string, unknown>;
interface Ref {
  $ref: string;
}
interface HeaderObject {
  required?: boolean;
  schema: Json;
}
interface ResponseObject {
  description: string;
  headers?: Record<string, HeaderObject | Ref>;
  content?: Record<string, { schema: Json }>;
}
interface Operation {
  operationId: string;
  security?: Record<string, string[]>[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, ResponseObject | Ref>;
  [extension: `x-${string}`]: unknown;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Partial<Record<string, Operation>>>;
  components: {
    schemas: Record<string, Json>;
    responses: Record<string, ResponseObject>;
    headers: Record<string, HeaderObject>;
  };
}

const DOC_PATH = new URL("../../../../docs/openapi.json", import.meta.url);
const doc = JSON.parse(readFileSync(DOC_PATH, "utf8")) as OpenApi;
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

/** Follows a local `$ref` (`#/components/...`) through the document. */
function deref<T>(value: T | Ref): T {
  let current: unknown = value;
  for (let hops = 0; hops < 10 && typeof current === "object" && current !== null && "$ref" in current; hops++) {
    const pointer = (current as Ref).$ref;
    if (!pointer.startsWith("#/")) throw new Error(`only local references are supported: ${pointer}`);
    current = pointer
      .slice(2)
      .split("/")
      .reduce<unknown>(
        (node, key) => (node as Json | undefined)?.[key.replaceAll("~1", "/").replaceAll("~0", "~")],
        doc,
      );
    if (current === undefined) throw new Error(`dangling reference ${pointer}`);
  }
  return current as T;
}

// The component schemas become the $defs of one registered schema, so that every schema of the
// document (inline ones included) is compiled with its references resolved, in strict mode:
// an unknown or misplaced keyword in the document is an error here, not silently ignored.
const DOC_ID = "https://claudemesh.invalid/openapi.json";
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
const toAjv = (schema: unknown): Json =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${DOC_ID}#/$defs/`)) as Json;
ajv.addSchema({ $id: DOC_ID, $defs: toAjv(doc.components.schemas) });

const compiled = new Map<unknown, ValidateFunction>();
function validator(schema: Json): ValidateFunction {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(toAjv(schema));
    compiled.set(schema, validate);
  }
  return validate;
}

function expectValid(schema: Json, value: unknown, what: string): void {
  const validate = validator(schema);
  const ok = validate(value);
  expect(ok, `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 500)}`).toBe(true);
}

const componentSchema = (name: string): Json => {
  const schema = doc.components.schemas[name];
  if (schema === undefined) throw new Error(`no schema ${name} in the document`);
  return schema;
};

// ---------------------------------------------------------------------------------------------
// What was exercised, to compare with what the document lists.

/** `GET /v1/health 200`: every path, method and status the document lists. */
const documented = new Set<string>();
for (const [path, item] of Object.entries(doc.paths)) {
  for (const method of HTTP_METHODS) {
    const operation = item[method];
    if (operation === undefined) continue;
    for (const status of Object.keys(operation.responses)) documented.add(`${method.toUpperCase()} ${path} ${status}`);
  }
}
const exercised = new Set<string>();
/** Paths whose 405 answer was checked, and whether a 404 was. */
const checked405 = new Set<string>();
let checked404 = false;
/** Event names seen in frames that validated against their documented schema. */
const seenEvents = new Set<string>();

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Checks one answer against a response object of the document: headers, media type, body. */
function checkAgainst(response: ResponseObject, answer: Answer, what: string): void {
  for (const [name, ref] of Object.entries(response.headers ?? {})) {
    const header = deref<HeaderObject>(ref);
    const value = answer.headers[name.toLowerCase()];
    if (value === undefined) {
      expect(header.required ?? false, `${what}: header ${name} is missing`).toBe(false);
      continue;
    }
    expectValid(header.schema, value, `${what}: header ${name}`);
  }
  const content = response.content;
  if (content === undefined) {
    expect(answer.text, `${what}: no body documented`).toBe("");
    return;
  }
  const contentType = String(answer.headers["content-type"] ?? "");
  const mediaType = contentType.split(";")[0]?.trim() ?? "";
  const media = content[mediaType];
  expect(
    media,
    `${what}: content type ${contentType} is not documented (${Object.keys(content).join(", ")})`,
  ).toBeDefined();
  if (media === undefined) return;
  const body: unknown = mediaType === "application/json" ? JSON.parse(answer.text) : answer.text;
  expectValid(media.schema, body, `${what}: body`);
}

/** Validates an answer to a documented operation and records it as exercised. */
function check(method: string, path: string, answer: Answer): void {
  const what = `${method} ${path} → ${answer.status}`;
  const operation = doc.paths[path]?.[method.toLowerCase()];
  expect(operation, `${method} ${path} is not documented`).toBeDefined();
  const ref = operation?.responses[String(answer.status)];
  expect(ref, `${what}: status not documented for this operation (${answer.text.slice(0, 200)})`).toBeDefined();
  if (ref === undefined) return;
  checkAgainst(deref<ResponseObject>(ref), answer, what);
  exercised.add(`${method} ${path} ${answer.status}`);
}

/** Validates a 404 or 405, which belong to no operation, against their component responses. */
function checkOther(name: "NotFound" | "MethodNotAllowed", status: number, answer: Answer, what: string): void {
  expect(answer.status, `${what}: ${answer.text}`).toBe(status);
  const response = doc.components.responses[name];
  expect(response, `components.responses.${name}`).toBeDefined();
  if (response !== undefined) checkAgainst(response, answer, `${what} (${name})`);
}

/** Parses the raw bytes of one response that ends with the connection (the daemon's raw error answers). */
function parseRaw(raw: string): Answer {
  const end = raw.indexOf("\r\n\r\n");
  expect(end, `a complete response head in ${JSON.stringify(raw.slice(0, 200))}`).toBeGreaterThan(0);
  const [statusLine = "", ...lines] = raw.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    headers,
    text: Buffer.from(raw.slice(end + 4), "latin1").toString(),
  };
}

// ---------------------------------------------------------------------------------------------
// The daemon under test, and how each documented operation is called.

let daemon: RunningDaemon;
const loggers: ReturnType<typeof createLogger>[] = [];
let socket: string;
let dir: string;
const sleeper = spawnSleeper();
const pid = sleeper.pid as number;

function start(): Promise<RunningDaemon> {
  const logger = createLogger({ file: join(dir, "daemon.log") });
  loggers.push(logger);
  return startDaemon({ dir, logger, reaperIntervalMs: 100 });
}

beforeAll(async () => {
  unreachableNats = `nats://127.0.0.1:${await freePort()}`;
  dir = tempDir("cmo-");
  daemon = await start();
  socket = daemon.socketPath;
});

afterAll(async () => {
  await daemon?.shutdown("test end");
  for (const logger of loggers) logger.close();
  await cleanup();
});

const OWNER = token(0xa11ce);
const JSON_TYPE = { "content-type": "application/json" };
/** A well-formed message id that names no message. */
const SAMPLE_ID = "0190d3a2-7b1c-7a3e-8f00-5c2d9e1b4a70";
/** A mesh name that is never bound. */
const SAMPLE_MESH = "probe.mesh";
/** A NATS address nothing listens on: a free port, found once. */
let unreachableNats = "nats://127.0.0.1:1";

/** A path of the document as a request target: its `{id}` filled in. */
const concrete = (path: string): string => path.replaceAll("{id}", SAMPLE_ID).replaceAll("{name}", SAMPLE_MESH);

interface Call {
  method: string;
  /** The request target (a documented path, its parameters filled in). */
  path: string;
  /** Headers a well-formed call sends (a token for the secured operations). */
  headers?: Record<string, string>;
  body?: string;
}

/** A well-formed call of every documented operation; `path` may gain a query. */
function callOf(method: string, path: string): Call {
  const call = (headers: Record<string, string>, body?: unknown): Call => ({
    method,
    path: concrete(path),
    headers,
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  switch (`${method} ${path}`) {
    case "POST /v1/sessions/register":
      return call(JSON_TYPE, { token: token(0xbeef), pid, session_id: "probe" });
    case "GET /v1/sessions/me":
    case "DELETE /v1/sessions/me":
    case "GET /v1/inbox":
      return call(authorized(OWNER));
    case "PATCH /v1/sessions/me":
      return call({ ...JSON_TYPE, ...authorized(OWNER) }, { status: "idle" });
    case "POST /v1/inbox/mark":
      return call({ ...JSON_TYPE, ...authorized(OWNER) }, { ids: [SAMPLE_ID], state: "surfaced" });
    case "POST /v1/messages":
      // From a plain shell: no token.
      return call(JSON_TYPE, { to: "probe", text: "hello" });
    case "POST /v1/meshes":
      return call(JSON_TYPE, { name: SAMPLE_MESH, servers: [unreachableNats] });
    default:
      return call({});
  }
}

/** The call without its Authorization header. */
function withoutToken(call: Call): Call {
  const headers = Object.fromEntries(Object.entries(call.headers ?? {}).filter(([name]) => name !== "authorization"));
  return { ...call, headers };
}

const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  HTTP_METHODS.filter((m) => item[m] !== undefined).map((m) => ({ method: m.toUpperCase(), path })),
);

/** The schemes of an operation's security requirements: "" for the anonymous one (`{}`). */
const schemesOf = (method: string, path: string): string[] =>
  (doc.paths[path]?.[method.toLowerCase()]?.security ?? []).map((requirement) => Object.keys(requirement).join(","));

/** The signing key of the daemon's member key file (to attest session keys as a client would). */
const memberSigningKey = (): SigningKey =>
  signingKeyFromSeed((JSON.parse(readFileSync(join(dir, "member.key"), "utf8")) as { secret_key: string }).secret_key);

/** A presence for a session key of the client's own, attested by the member key. */
function presenceFor(key: SigningKey, mesh: string, sessionId: string, expiresAt = Date.now() + 3_600_000): Json {
  return {
    session_pubkey: key.publicKey,
    session_secret_key: seedOf(key) + key.publicKey,
    parent_attestation: attest(memberSigningKey(), { mesh, sessionId }, key.publicKey, expiresAt),
  };
}

/** Registers a session (validated as an answer of the document) and returns its token. */
async function joinMesh(tok: string, fields: Json): Promise<string> {
  const res = await register(socket, { token: tok, pid, ...fields });
  check("POST", "/v1/sessions/register", res);
  expect(res.status, res.text).toBe(200);
  return tok;
}

/** POST /v1/messages as a session (or the member without a token), validated as documented. */
async function sendMessage(tok: string | undefined, body: Json | string) {
  const res = await http(socket, "POST", "/v1/messages", {
    headers: { ...JSON_TYPE, ...(tok !== undefined && authorized(tok)) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  check("POST", "/v1/messages", res);
  return res;
}

interface SentMessage {
  id: string;
  recipients: { session_id: string; display_name: string; state: string; reason?: string }[];
}

async function sent(tok: string | undefined, body: Json): Promise<SentMessage> {
  const res = await sendMessage(tok, body);
  expect(res.status, res.text).toBe(202);
  return (res.json() as { message: SentMessage }).message;
}

interface InboxMessage {
  id: string;
  from: { session_id: string | null };
  text: string;
  priority: string;
  state: string;
}

async function readInbox(tok: string, query = ""): Promise<InboxMessage[]> {
  const res = await http(socket, "GET", `/v1/inbox${query}`, { headers: authorized(tok) });
  check("GET", "/v1/inbox", res);
  expect(res.status, res.text).toBe(200);
  return (res.json() as { messages: InboxMessage[] }).messages;
}

async function markInbox(tok: string, body: Json | string, headers: Record<string, string> = JSON_TYPE) {
  const res = await http(socket, "POST", "/v1/inbox/mark", {
    headers: { ...headers, ...authorized(tok) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  check("POST", "/v1/inbox/mark", res);
  return res;
}

async function messageStatus(tok: string | undefined, id: string) {
  const res = await http(socket, "GET", `/v1/messages/${id}`, { headers: tok === undefined ? {} : authorized(tok) });
  check("GET", "/v1/messages/{id}", res);
  return res;
}

const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string } }).error;

function send(socketPath: string, call: Call, extra: { query?: string; headers?: Record<string, string> } = {}) {
  return http(socketPath, call.method, call.path + (extra.query ?? ""), {
    headers: { ...call.headers, ...extra.headers },
    ...(call.body !== undefined && { body: call.body }),
  });
}

// ---------------------------------------------------------------------------------------------

describe("the document and the code agree on the surface", () => {
  it("is an OpenAPI 3.1 document whose schemas compile in strict mode", () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      expect(() => ajv.compile({ $ref: `${DOC_ID}#/$defs/${name}` }), name).not.toThrow();
      expect(schema).toBeTypeOf("object");
    }
  });

  it("documents exactly the routes of apps/daemon/src/http/routes.ts", () => {
    // createRoutes only wires its dependencies into closures: stubs are enough to read the table.
    const routes = createRoutes(stubDeps());
    // The code writes a path parameter `:id`, the document `{id}`.
    const inCode = Object.entries(routes)
      .flatMap(([path, table]) =>
        Object.keys(table).map((method) => `${method} ${path.replace(/\/:([A-Za-z_]+)/g, "/{$1}")}`),
      )
      .sort();
    const inDoc = operations.map(({ method, path }) => `${method} ${path}`).sort();
    expect(inDoc).toEqual(inCode);
  });

  it("gives each error code the status of @claudemesh/client's ERROR_STATUS, and lists every code", () => {
    expect(new Set(componentSchema("ErrorCode")["enum"] as string[])).toEqual(new Set(ERROR_CODES));
    // Every error response of the document, with its status.
    const errorResponses: { status: number; schema: Json }[] = [];
    for (const item of Object.values(doc.paths)) {
      for (const method of HTTP_METHODS) {
        for (const [status, ref] of Object.entries(item[method]?.responses ?? {})) {
          const schema = deref<ResponseObject>(ref).content?.["application/json"]?.schema;
          if (Number(status) >= 400 && schema !== undefined) errorResponses.push({ status: Number(status), schema });
        }
      }
    }
    for (const name of ["NotFound", "MethodNotAllowed"] as const) {
      const response = doc.components.responses[name];
      const schema = response?.content?.["application/json"]?.schema;
      if (schema !== undefined) errorResponses.push({ status: name === "NotFound" ? 404 : 405, schema });
    }
    // An ambiguous_recipient error always lists its candidates, and no other error does.
    const candidates = [
      { session_id: "a", display_name: "api" },
      { session_id: "b", display_name: "api" },
    ];
    const statusesOf = (body: unknown) =>
      new Set(errorResponses.filter((r) => validator(r.schema)(body)).map((r) => r.status));
    for (const code of ERROR_CODES) {
      const ambiguous = code === "ambiguous_recipient";
      const body = { error: { code, message: "m", ...(ambiguous && { candidates }) } };
      expect([...statusesOf(body)], code).toEqual([ERROR_STATUS[code]]);
      const wrong = { error: { code, message: "m", ...(!ambiguous && { candidates }) } };
      expect([...statusesOf(wrong)], `${code} ${ambiguous ? "without" : "with"} candidates`).toEqual([]);
    }
  });

  it("lists the daemon's ipc_features, each explained", () => {
    const features = componentSchema("VersionInfo")["properties"] as Record<string, Json>;
    const ipc = features["ipc_features"] as { description: string; items: { enum: string[] } };
    expect(ipc.items.enum).toEqual([...IPC_FEATURES]);
    for (const feature of IPC_FEATURES) expect(ipc.description, feature).toContain(`\`${feature}\``);
  });

  it("lets /v1/health carry managed_by or not, as daemons with and without service-manager support answer", () => {
    const health = {
      ok: true,
      pid: 1,
      uptime_ms: 0,
      sessions: 0,
      member_fingerprint: `SHA256:${"A".repeat(43)}`,
      host: "devbox",
    };
    for (const managedBy of ["systemd", "launchd", null]) {
      expectValid(componentSchema("Health"), { ...health, managed_by: managedBy }, `managed_by ${managedBy}`);
    }
    expectValid(componentSchema("Health"), health, "no managed_by");
    expect(validator(componentSchema("Health"))({ ...health, managed_by: "cron" })).toBe(false);
  });

  it("states the event stream's ring size and keep-alive interval as the code has them", () => {
    const events = doc.paths["/v1/events"]?.get;
    expect(events?.["x-claudemesh-replay-ring-size"]).toBe(DEFAULT_RING_SIZE);
    expect(events?.["x-claudemesh-keepalive-interval-ms"]).toBe(KEEPALIVE_MS);
    expect(MAX_BODY_BYTES).toBe(64 * 1024);
  });
});

describe("RegisterRequest holds the same field rules as the registry's model", () => {
  const base = { token: token(1), pid: 42 };
  const s = (n: number, c = "a") => c.repeat(n);
  const cases: [string, Json][] = [
    ["minimal", base],
    [
      "every field",
      {
        ...base,
        session_id: "a.B_c:d-1",
        mesh: "a.b_c-1",
        display_name: "my agent ✓",
        cwd: "/x",
        role: "r",
        groups: ["g"],
        summary: "reviewing ✓",
        inbound: "hold",
      },
    ],
    ["unknown and daemon-set fields", { ...base, extra: [1], start_time: 5, registered_at: "x", token_prefix: "zz" }],
    ["no token", { pid: 42 }],
    ["no pid", { token: token(1) }],
    ["upper-case token", { ...base, token: token(1).replace(/0/g, "A") }],
    ["short token", { ...base, token: "abc" }],
    ["session_id empty", { ...base, session_id: "" }],
    ["session_id 128", { ...base, session_id: s(128) }],
    ["session_id 129", { ...base, session_id: s(129) }],
    ["session_id slash", { ...base, session_id: "a/b" }],
    ["session_id number", { ...base, session_id: 5 }],
    ["mesh empty", { ...base, mesh: "" }],
    ["mesh 64", { ...base, mesh: s(64) }],
    ["mesh 65", { ...base, mesh: s(65) }],
    ["mesh upper", { ...base, mesh: "Team" }],
    ["mesh colon", { ...base, mesh: "a:b" }],
    ["display_name empty", { ...base, display_name: "" }],
    ["display_name 128 code points", { ...base, display_name: s(128, "😀") }],
    ["display_name 129", { ...base, display_name: s(129) }],
    ["display_name tab", { ...base, display_name: "a\tb" }],
    ["display_name lone surrogate", { ...base, display_name: "a\ud800" }],
    ["display_name unassigned", { ...base, display_name: "a\u0378" }],
    ["pid 0", { ...base, pid: 0 }],
    ["pid max", { ...base, pid: 2_147_483_647 }],
    ["pid over max", { ...base, pid: 2_147_483_648 }],
    ["pid fraction", { ...base, pid: 2.5 }],
    ["pid string", { ...base, pid: "42" }],
    ["cwd relative", { ...base, cwd: "x/y" }],
    ["cwd root", { ...base, cwd: "/" }],
    ["cwd NUL", { ...base, cwd: "/a\u0000b" }],
    ["cwd 4096", { ...base, cwd: `/${s(4095)}` }],
    ["cwd 4097", { ...base, cwd: `/${s(4096)}` }],
    ["role empty", { ...base, role: "" }],
    ["role 64", { ...base, role: s(64) }],
    ["role 65", { ...base, role: s(65) }],
    ["role newline", { ...base, role: "a\nb" }],
    ["groups empty", { ...base, groups: [] }],
    ["groups 32", { ...base, groups: Array.from({ length: 32 }, (_, i) => `g${i}`) }],
    ["groups 33", { ...base, groups: Array.from({ length: 33 }, (_, i) => `g${i}`) }],
    ["group 64", { ...base, groups: [s(64)] }],
    ["group 65", { ...base, groups: [s(65)] }],
    ["group empty string", { ...base, groups: [""] }],
    ["group number", { ...base, groups: [1] }],
    ["groups string", { ...base, groups: "g" }],
    ["summary empty", { ...base, summary: "" }],
    ["summary 280 code points", { ...base, summary: s(280, "😀") }],
    ["summary 281", { ...base, summary: s(281) }],
    ["summary newline", { ...base, summary: "a\nb" }],
    ["summary null", { ...base, summary: null }],
    ["inbound accept", { ...base, inbound: "accept" }],
    ["inbound refuse", { ...base, inbound: "refuse" }],
    ["inbound unknown", { ...base, inbound: "open" }],
    ["inbound null", { ...base, inbound: null }],
  ];
  const defaults = { newSessionId: randomUUID, mesh: "default", displayName: "session" };

  it.each(cases)("%s: the schema accepts it exactly when the daemon's parser does", (_, body) => {
    const parsed = parseRegistration(body, defaults);
    const validate = validator(componentSchema("RegisterRequest"));
    const valid = validate(body);
    expect(valid, `schema ${ajv.errorsText(validate.errors)}; parser ${parsed.ok ? "ok" : parsed.error.message}`).toBe(
      parsed.ok,
    );
  });
});

describe("SessionPatch holds the same field rules as the registry's parseSessionPatch", () => {
  const cases: [string, unknown][] = [
    ["summary", { summary: "reviewing" }],
    ["summary cleared", { summary: "" }],
    ["summary 280 code points", { summary: "😀".repeat(280) }],
    ["summary 281", { summary: "x".repeat(281) }],
    ["summary tab", { summary: "a\tb" }],
    ["summary null", { summary: null }],
    ["status", { status: "waiting" }],
    ["status cleared", { status: null }],
    ["status unknown", { status: "busy" }],
    ["inbound", { inbound: "refuse" }],
    ["inbound null", { inbound: null }],
    ["inbound unknown", { inbound: "later" }],
    ["all three and an unknown field", { summary: "x", status: "idle", inbound: "hold", extra: 1 }],
    ["one good, one bad", { summary: "x", status: "busy" }],
    ["empty", {}],
    ["only unknown fields", { session_id: "x", display_name: "y" }],
    ["array", ["summary"]],
    ["string", "summary"],
    ["null", null],
  ];

  it.each(cases)("%s: the schema accepts it exactly when the daemon's parser does", (_, body) => {
    const parsed = parseSessionPatch(body);
    const validate = validator(componentSchema("SessionPatch"));
    const valid = validate(body);
    expect(valid, `schema ${ajv.errorsText(validate.errors)}; parser ${parsed.ok ? "ok" : parsed.error.message}`).toBe(
      parsed.ok,
    );
  });
});

describe("SendMessageRequest holds the same field rules as the mesh's parseSendRequest and parseAddress", () => {
  const base = { to: "api", text: "hello" };
  const signed = { id: SAMPLE_ID, sent_at: 1_795_697_387_994, signature: "ab".repeat(64) };
  const cases: [string, unknown][] = [
    ["minimal", base],
    [
      "every unsigned field",
      { ...base, priority: "low", reply_to: SAMPLE_ID, idempotency_key: "k-1!~", mesh: "a.b_c-1", extra: [1] },
    ],
    ["client-signed", { ...base, ...signed }],
    ["reply_to null", { ...base, reply_to: null }],
    ["idempotency_key null", { ...base, idempotency_key: null }],
    ["to a session id", { ...base, to: "be3d2045-c0f2-453c-8655-1ef1d83117c1" }],
    ["to *", { ...base, to: "*" }],
    ["to @group", { ...base, to: "@core" }],
    ["to @ and 64", { ...base, to: `@${"g".repeat(64)}` }],
    ["to @ and 65", { ...base, to: `@${"g".repeat(65)}` }],
    ["to @ alone", { ...base, to: "@" }],
    ["to role", { ...base, to: "role:reviewer" }],
    ["to role and 64", { ...base, to: `role:${"r".repeat(64)}` }],
    ["to role and 65", { ...base, to: `role:${"r".repeat(65)}` }],
    ["to role: alone", { ...base, to: "role:" }],
    ["to 128 code points", { ...base, to: "😀".repeat(128) }],
    ["to 129", { ...base, to: "x".repeat(129) }],
    ["to empty", { ...base, to: "" }],
    ["to unassigned code point", { ...base, to: "a\u0378" }],
    ["to NUL", { ...base, to: "a\u0000" }],
    ["to lone surrogate", { ...base, to: "a\ud800" }],
    ["to number", { ...base, to: 5 }],
    ["no to", { text: "hello" }],
    ["no text", { to: "api" }],
    ["text empty", { ...base, text: "" }],
    ["text 16384 bytes", { ...base, text: "x".repeat(16_384) }],
    ["text 16385 bytes", { ...base, text: "x".repeat(16_385) }],
    ["text newline and tab", { ...base, text: "a\n\tb" }],
    ["text unassigned code point", { ...base, text: "a\u0378" }],
    ["text carriage return", { ...base, text: "a\r\nb" }],
    ["text bell", { ...base, text: "bell\u0007" }],
    ["text lone surrogate", { ...base, text: "a\udc00" }],
    ["text number", { ...base, text: 5 }],
    ["priority now", { ...base, priority: "now" }],
    ["priority unknown", { ...base, priority: "asap" }],
    ["priority null", { ...base, priority: null }],
    ["reply_to not a uuid", { ...base, reply_to: "x" }],
    ["reply_to upper-case", { ...base, reply_to: SAMPLE_ID.toUpperCase() }],
    ["idempotency_key 128", { ...base, idempotency_key: "k".repeat(128) }],
    ["idempotency_key 129", { ...base, idempotency_key: "k".repeat(129) }],
    ["idempotency_key empty", { ...base, idempotency_key: "" }],
    ["idempotency_key space", { ...base, idempotency_key: "a b" }],
    ["idempotency_key number", { ...base, idempotency_key: 5 }],
    ["mesh invalid", { ...base, mesh: "Team" }],
    ["mesh null", { ...base, mesh: null }],
    ["id alone", { ...base, id: SAMPLE_ID }],
    ["id and sent_at without signature", { ...base, id: SAMPLE_ID, sent_at: signed.sent_at }],
    ["signature alone", { ...base, signature: signed.signature }],
    ["id null", { ...base, ...signed, id: null }],
    ["id upper-case", { ...base, ...signed, id: SAMPLE_ID.toUpperCase() }],
    ["sent_at negative", { ...base, ...signed, sent_at: -1 }],
    ["sent_at fraction", { ...base, ...signed, sent_at: 1.5 }],
    ["sent_at string", { ...base, ...signed, sent_at: "1" }],
    ["signature short", { ...base, ...signed, signature: "ab".repeat(32) }],
    ["signature upper-case", { ...base, ...signed, signature: "AB".repeat(64) }],
    ["array", [base]],
    ["string", "hello"],
    ["null", null],
  ];

  it.each(cases)("%s: the schema accepts it exactly when the daemon's parsers do", (_, body) => {
    const parsed = parseSendRequest(body);
    const address = parsed.ok ? parseAddress(parsed.value.to) : undefined;
    const ok = parsed.ok && address?.ok === true;
    const why = !parsed.ok ? parsed.error.message : address?.ok === false ? address.error.message : "ok";
    const validate = validator(componentSchema("SendMessageRequest"));
    const valid = validate(body);
    expect(valid, `schema ${ajv.errorsText(validate.errors)}; parser ${why}`).toBe(ok);
  });

  it("states the byte limit of a text, which a JSON Schema length cannot hold", () => {
    // 8193 two-byte characters: within maxLength, over the 16384 bytes the parser allows.
    const text = "é".repeat(8_193);
    expect(parseSendRequest({ ...base, text }).ok).toBe(false);
    expect(validator(componentSchema("MessageText"))(text)).toBe(true);
    expect(componentSchema("MessageText")["description"]).toMatch(/^1–16384 bytes of UTF-8/);
  });
});

describe("every operation answers as documented", () => {
  it("200: each operation called as documented", async () => {
    // Registration with every field, unknown and daemon-set fields ignored.
    const full = {
      token: OWNER,
      pid,
      session_id: "owner:1",
      mesh: "team.a",
      display_name: "owner ✓",
      cwd: "/home/dev/project",
      role: "reviewer",
      groups: ["core", "db"],
      start_time: "forged",
      token_prefix: "ffffffff",
      unknown: { nested: true },
    };
    expectValid(componentSchema("RegisterRequest"), full, "the request sent");
    const registered = await register(socket, full);
    check("POST", "/v1/sessions/register", registered);
    expect(registered.json()).toMatchObject({ ok: true, replaced: false });

    // The same session id under another token replaces it; a minimal registration takes defaults.
    const taken = await register(socket, { token: token(0xb0b), pid, session_id: "taken" });
    check("POST", "/v1/sessions/register", taken);
    const replacing = await register(socket, { token: token(0xb0c), pid, session_id: "taken" });
    check("POST", "/v1/sessions/register", replacing);
    expect(replacing.json()).toMatchObject({ replaced: true });

    for (const path of ["/v1/version", "/v1/health", "/v1/sessions", "/v1/sessions?mesh=team.a", "/v1/metrics"]) {
      const res = await http(socket, "GET", path);
      check("GET", path.split("?")[0] as string, res);
    }
    const version = await http(socket, "GET", "/v1/version");
    expect((version.json() as { daemon_version: string }).daemon_version).toBe(version.headers["claudemesh-version"]);
    const health = (await http(socket, "GET", "/v1/health")).json() as { pid: number; sessions: number };
    expect(health.pid).toBe(process.pid);
    expect(health.sessions).toBe(daemon.registry.size);

    const listed = (await http(socket, "GET", "/v1/sessions?mesh=team.a")).json() as { sessions: Json[] };
    expect(listed.sessions).toHaveLength(1);
    const me = await http(socket, "GET", "/v1/sessions/me", { headers: authorized(OWNER) });
    check("GET", "/v1/sessions/me", me);
    const session = (me.json() as { session: Json }).session;
    expect(session).toEqual(listed.sessions[0]);
    expect(session).toMatchObject({ session_id: "owner:1", token_prefix: OWNER.slice(0, 8), groups: ["core", "db"] });
    expect(session["start_time"]).not.toBe("forged");

    const deleted = await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(OWNER) });
    check("DELETE", "/v1/sessions/me", deleted);

    const metrics = await http(socket, "GET", "/v1/metrics");
    const names = Object.keys(doc.paths["/v1/metrics"]?.get?.["x-claudemesh-metrics"] as Json);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(metrics.text, name).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
  });

  it("200 and 202: the member, peers, PATCH, messages and the inbox, called as documented", async () => {
    const MESH = "peers.t";
    const own = generateSigningKey();
    const presence = presenceFor(own, MESH, "peer-a");
    const alpha = {
      session_id: "peer-a",
      mesh: MESH,
      display_name: "alpha",
      summary: "writing the spec",
      inbound: "accept",
      presence,
    };
    expectValid(componentSchema("RegisterRequest"), { token: token(0x70001), pid, ...alpha }, "the request sent");
    const a = await joinMesh(token(0x70001), alpha);
    const b = await joinMesh(token(0x70002), {
      session_id: "peer-b",
      mesh: MESH,
      display_name: "beta",
      role: "reviewer",
      groups: ["core"],
    });
    await joinMesh(token(0x70003), { session_id: "peer-c", mesh: MESH, display_name: "gamma", inbound: "refuse" });

    // The member, as health and every minted presence name it.
    const memberRes = await http(socket, "GET", "/v1/member");
    check("GET", "/v1/member", memberRes);
    const { member } = memberRes.json() as { member: { fingerprint: string; host: string; name: string } };
    expect(member.fingerprint).toBe(fingerprint(memberSigningKey().publicKey));
    const health = (await http(socket, "GET", "/v1/health")).json() as Json;
    expect([health["member_fingerprint"], health["host"]]).toEqual([member.fingerprint, member.host]);

    // The session carries the presence it brought; nothing of its secret.
    const meRes = await http(socket, "GET", "/v1/sessions/me", { headers: authorized(a) });
    check("GET", "/v1/sessions/me", meRes);
    const me = (meRes.json() as { session: Json }).session;
    expect(me).toMatchObject({
      session_pubkey: own.publicKey,
      member_fingerprint: member.fingerprint,
      attestation_expires_at: (presence["parent_attestation"] as Json)["expires_at"],
      summary: "writing the spec",
      status: null,
      inbound: "accept",
      origin: "local",
    });
    expect(meRes.text).not.toContain(String(presence["session_secret_key"]).slice(0, 64));

    // Peers: a session sees the others of its mesh; the member sees all, or one mesh.
    const peerIds = async (query: string, headers: Record<string, string>) => {
      const res = await http(socket, "GET", `/v1/peers${query}`, { headers });
      check("GET", "/v1/peers", res);
      expect(res.status, res.text).toBe(200);
      return (res.json() as { peers: Json[] }).peers.map((p) => p["session_id"]);
    };
    expect(await peerIds("", authorized(a))).toEqual(["peer-b", "peer-c"]);
    expect(await peerIds(`?mesh=${MESH}`, authorized(a))).toEqual(["peer-b", "peer-c"]);
    expect(await peerIds(`?mesh=${MESH}`, {})).toEqual(["peer-a", "peer-b", "peer-c"]);
    const everyone = (await http(socket, "GET", "/v1/sessions")).json() as { sessions: Json[] };
    expect(await peerIds("", {})).toEqual(everyone.sessions.map((s) => s["session_id"]));

    // PATCH sets what it is given and keeps the rest; "" and null clear.
    const patch = async (body: Json) => {
      const res = await http(socket, "PATCH", "/v1/sessions/me", {
        headers: { ...JSON_TYPE, ...authorized(a) },
        body: JSON.stringify(body),
      });
      check("PATCH", "/v1/sessions/me", res);
      expect(res.status, res.text).toBe(200);
      return (res.json() as { session: Json }).session;
    };
    expect(await patch({ summary: "reviewing", status: "working" })).toMatchObject({
      summary: "reviewing",
      status: "working",
      inbound: "accept",
    });
    const cleared = await patch({ summary: "", status: null });
    expect(cleared).toMatchObject({ summary: null, status: null, inbound: "accept", session_pubkey: own.publicKey });
    expect(cleared).toEqual(
      ((await http(socket, "GET", "/v1/sessions/me", { headers: authorized(a) })).json() as Json)["session"],
    );

    // Messages: by name, again under the same idempotency key, to a refusing session, to the whole
    // mesh, to itself by id, from a plain shell, and signed by the client with its own session key.
    const first = await sent(a, {
      to: "beta",
      text: "the API schema changed",
      priority: "now",
      idempotency_key: "oa-1",
    });
    expect(first.recipients).toEqual([
      { session_id: "peer-b", display_name: "beta", state: "delivered", updated_at: expect.any(Number) },
    ]);
    expect((await sent(a, { to: "beta", text: "the API schema changed", idempotency_key: "oa-1" })).id).toBe(first.id);
    const refused = await sent(a, { to: "peer-c", text: "for gamma" });
    expect(refused.recipients).toMatchObject([{ session_id: "peer-c", state: "refused", reason: "policy" }]);
    // A reason goes with `refused`, and only with it.
    const recipientValid = validator(componentSchema("Recipient"));
    const { reason: _, ...noReason } = refused.recipients[0] as SentMessage["recipients"][number];
    expect(recipientValid(noReason)).toBe(false);
    expect(recipientValid({ ...first.recipients[0], reason: "policy" })).toBe(false);
    const all = await sent(a, { to: "*", text: "main is broken" });
    expect(all.recipients.map((r) => [r.session_id, r.state])).toEqual([
      ["peer-b", "delivered"],
      ["peer-c", "refused"],
    ]);
    expect((await sent(a, { to: "@core", text: "core" })).recipients.map((r) => r.session_id)).toEqual(["peer-b"]);
    expect((await sent(a, { to: "role:reviewer", text: "review?" })).recipients.map((r) => r.session_id)).toEqual([
      "peer-b",
    ]);
    const self = await sent(a, { to: "peer-a", text: "note to self" });
    expect(self.recipients).toMatchObject([{ session_id: "peer-a", state: "delivered" }]);
    const fromShell = await sent(undefined, { to: "peer-b", mesh: MESH, text: "from the shell", reply_to: first.id });
    const sentAt = Date.now();
    const signedId = randomUUID();
    const signature = signText(
      own,
      messageSigningText({
        id: signedId,
        mesh: MESH,
        from: { session_id: "peer-a", display_name: "", member_fingerprint: "", host: "", signing_key: own.publicKey },
        to: "peer-b",
        text: "signed by the client",
        priority: "low",
        reply_to: null,
        sent_at: sentAt,
      }),
    );
    const signedBody = {
      to: "peer-b",
      text: "signed by the client",
      priority: "low",
      id: signedId,
      sent_at: sentAt,
      signature,
    };
    expectValid(componentSchema("SendMessageRequest"), signedBody, "the client-signed request sent");
    expect((await sent(a, signedBody)).id).toBe(signedId);

    // The sender reads each recipient's state; the member reads the states of what it sent.
    const status = await messageStatus(a, first.id);
    expect(status.status, status.text).toBe(200);
    expect((status.json() as { message: Json }).message).toMatchObject({ id: first.id, mesh: MESH, to: "beta" });
    const shellStatus = await messageStatus(undefined, fromShell.id);
    expect(shellStatus.status, shellStatus.text).toBe(200);

    // The inbox, oldest first; reading it changes nothing.
    const inbox = await readInbox(b);
    const expected = [first.id, all.id, expect.any(String), expect.any(String), fromShell.id, signedId];
    expect(inbox.map((m) => m.id)).toEqual(expected);
    expect(inbox.every((m) => m.state === "delivered")).toBe(true);
    expect(inbox.find((m) => m.id === fromShell.id)?.from.session_id).toBeNull();
    expect(inbox.find((m) => m.id === signedId)).toMatchObject({ priority: "low", from: { session_id: "peer-a" } });
    expect(await readInbox(b)).toEqual(inbox);
    expect(await readInbox(b, "?state=all&wait_ms=0")).toEqual(inbox);
    expect(await readInbox(b, "?state=unsurfaced")).toEqual(inbox);
    const unchanged = (await messageStatus(a, first.id)).json() as { message: { recipients: Json[] } };
    expect(unchanged.message.recipients[0]?.["state"]).toBe("delivered");
    expect((await readInbox(a)).map((m) => m.id)).toEqual([self.id]);

    // Marking moves states forward only; ids not in the inbox, repeats and backward moves count 0.
    const mark = async (ids: string[], state: string) => {
      const res = await markInbox(b, { ids, state });
      expect(res.status, res.text).toBe(200);
      return (res.json() as { updated: number }).updated;
    };
    expect(await mark([first.id, first.id, SAMPLE_ID, self.id], "surfaced")).toBe(1);
    expect(await mark([first.id, fromShell.id], "acked")).toBe(2);
    expect(await mark([first.id], "surfaced")).toBe(0);
    const acked = (await messageStatus(a, first.id)).json() as { message: { recipients: Json[] } };
    expect(acked.message.recipients[0]?.["state"]).toBe("acked");
    expect((await readInbox(b)).map((m) => m.id)).not.toContain(first.id);
    expect((await readInbox(b, "?state=all")).find((m) => m.id === first.id)?.state).toBe("acked");
    const unsurfaced = (await readInbox(b)).map((m) => m.id);
    expect(await mark(unsurfaced, "surfaced")).toBe(unsurfaced.length);

    // A long-poll on an inbox with nothing unsurfaced answers when a message arrives.
    const waiting = http(socket, "GET", "/v1/inbox?wait_ms=20000", { headers: authorized(b) });
    await new Promise((r) => setTimeout(r, 100));
    const woken = await sent(a, { to: "peer-b", text: "wake up" });
    const answer = await waiting;
    check("GET", "/v1/inbox", answer);
    expect((answer.json() as { messages: InboxMessage[] }).messages.map((m) => m.id)).toEqual([woken.id]);
  });

  it("HEAD on the event stream answers its headers and closes", async () => {
    const res = await http(socket, "HEAD", "/v1/events");
    expect(res.status).toBe(200);
    expect(String(res.headers["content-type"])).toMatch(/^text\/event-stream/);
    expect(res.headers["claudemesh-version"]).toBeDefined();
  });

  it("HEAD on a JSON route answers as GET without a body", async () => {
    const res = await http(socket, "HEAD", "/v1/version");
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    expect(res.headers["claudemesh-api"]).toBe("1");
  });

  it("400 bad_request on every operation for a token in the query string", async () => {
    for (const { method, path } of operations) {
      for (const query of ["?token=abc", "?Auth=x", `?q=${token(3)}`]) {
        const res = await send(socket, callOf(method, path), { query });
        check(method, path, res);
        expect(res.status).toBe(400);
        expect((res.json() as { error: { code: string } }).error.code).toBe("bad_request");
      }
    }
  });

  it("400 bad_request for malformed HTTP and a request target that is not a path", async () => {
    const malformed = parseRaw(await rawExchange(socket, "GET /v1/health HTTP/1.1\r\nno colon here\r\n\r\n"));
    check("GET", "/v1/health", malformed);
    expect(malformed.status).toBe(400);
    const absolute = parseRaw(
      await rawExchange(socket, "GET http://localhost/v1/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    check("GET", "/v1/version", absolute);
    expect(absolute.status).toBe(400);
  });

  it("400 on register: bad_request, invalid_json and invalid_field, each as documented", async () => {
    const post = (body: string | Buffer, contentType = "application/json") =>
      http(socket, "POST", "/v1/sessions/register", { headers: { "content-type": contentType }, body });
    const dead = spawnSleeper();
    await killAndWait(dead);
    const deadPidBody = JSON.stringify({ token: token(5), pid: dead.pid });
    // A presence of the right shape that does not verify: the schema cannot tell, the daemon can.
    const key = generateSigningKey();
    const replayed = presenceFor(key, "default", "another-session");
    const expired = presenceFor(key, "default", "p", Date.now() - 1);
    const unverifiable = [replayed, expired].map((presence) =>
      JSON.stringify({ token: token(5), pid, session_id: "p", presence }),
    );
    const goodPresence = presenceFor(key, "default", "p");
    const withPresence = (presence: unknown) => JSON.stringify({ token: token(5), pid, session_id: "p", presence });
    const cases: [string | Buffer, string, string?][] = [
      [JSON.stringify({ token: token(5), pid }), "bad_request", "text/plain"],
      ["", "invalid_json"],
      ["{not json", "invalid_json"],
      [Buffer.from([0x7b, 0xff, 0x7d]), "invalid_json"],
      ["[1,2]", "invalid_field"],
      ['"a string"', "invalid_field"],
      [JSON.stringify({ pid }), "invalid_field"],
      [JSON.stringify({ token: token(5), pid: 0 }), "invalid_field"],
      [JSON.stringify({ token: token(5), pid, mesh: "Upper" }), "invalid_field"],
      [JSON.stringify({ token: token(5), pid, groups: [1] }), "invalid_field"],
      [JSON.stringify({ token: token(5), pid, summary: "x".repeat(281) }), "invalid_field"],
      [JSON.stringify({ token: token(5), pid, inbound: "open" }), "invalid_field"],
      [withPresence("yes"), "invalid_field"],
      [withPresence({ ...goodPresence, session_pubkey: "AB".repeat(32) }), "invalid_field"],
      [withPresence({ ...goodPresence, session_secret_key: "ab" }), "invalid_field"],
      [withPresence({ ...goodPresence, parent_attestation: { signature: "ab".repeat(64) } }), "invalid_field"],
      [withPresence({ ...goodPresence, parent_attestation: undefined }), "invalid_field"],
      ...unverifiable.map((body): [string, string] => [body, "invalid_field"]),
      [deadPidBody, "invalid_field"],
    ];
    for (const [body, code, contentType] of cases) {
      const res = await post(body, contentType);
      check("POST", "/v1/sessions/register", res);
      const error = errorOf(res);
      expect(error.code, String(body)).toBe(code);
      if (typeof body === "string" && body.includes('"presence"')) expect(error.message).toMatch(/^presence(\.|:)/);
      // A JSON object refused as invalid_field (other than for a dead pid or a presence that does not
      // verify) breaks the documented schema too.
      if (
        code === "invalid_field" &&
        typeof body === "string" &&
        body !== deadPidBody &&
        !unverifiable.includes(body)
      ) {
        expect(validator(componentSchema("RegisterRequest"))(JSON.parse(body)), body).toBe(false);
      }
    }
    // The same presence, well made, is accepted; a refused one changed nothing.
    for (const body of unverifiable) expect(validator(componentSchema("RegisterRequest"))(JSON.parse(body))).toBe(true);
    expect((await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(5)) })).status).toBe(401);
    const accepted = await post(withPresence(goodPresence));
    check("POST", "/v1/sessions/register", accepted);
    expect(accepted.status, accepted.text).toBe(200);
    await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(token(5)) });
  });

  it("400 invalid_field on /v1/sessions for an invalid mesh", async () => {
    for (const query of ["?mesh=Bad", "?mesh=", `?mesh=${"a".repeat(65)}`]) {
      const res = await http(socket, "GET", `/v1/sessions${query}`);
      check("GET", "/v1/sessions", res);
      expect((res.json() as { error: { code: string } }).error.code).toBe("invalid_field");
    }
  });

  it("400 on PATCH /v1/sessions/me: bad_request, invalid_json and invalid_field, each as documented", async () => {
    const tok = await joinMesh(token(0x71001), { session_id: "patch-400" });
    const cases: [string, string, string?][] = [
      [JSON.stringify({ status: "idle" }), "bad_request", "text/plain"],
      ["", "invalid_json"],
      ["{", "invalid_json"],
      ["[1]", "invalid_field"],
      ["null", "invalid_field"],
      ["{}", "invalid_field"],
      [JSON.stringify({ display_name: "renamed" }), "invalid_field"],
      [JSON.stringify({ status: "busy" }), "invalid_field"],
      [JSON.stringify({ summary: "x".repeat(281) }), "invalid_field"],
      [JSON.stringify({ summary: "a\u0007" }), "invalid_field"],
      [JSON.stringify({ inbound: null }), "invalid_field"],
    ];
    for (const [body, code, contentType = "application/json"] of cases) {
      const res = await http(socket, "PATCH", "/v1/sessions/me", {
        headers: { "content-type": contentType, ...authorized(tok) },
        body,
      });
      check("PATCH", "/v1/sessions/me", res);
      expect([res.status, errorOf(res).code], body).toEqual([400, code]);
      if (code === "invalid_field")
        expect(validator(componentSchema("SessionPatch"))(JSON.parse(body)), body).toBe(false);
    }
    // Nothing was changed by a refused patch.
    const me = (await http(socket, "GET", "/v1/sessions/me", { headers: authorized(tok) })).json() as { session: Json };
    expect(me.session).toMatchObject({ summary: null, status: null, inbound: "accept", display_name: "session" });
  });

  it("400 invalid_field on /v1/peers for an invalid mesh, or a session asking for another mesh", async () => {
    const tok = await joinMesh(token(0x71002), { session_id: "peers-400", mesh: "peers.400" });
    for (const [query, headers] of [
      ["?mesh=Bad", {}],
      ["?mesh=", {}],
      [`?mesh=${"a".repeat(65)}`, authorized(tok)],
      ["?mesh=default", authorized(tok)],
    ] as [string, Record<string, string>][]) {
      const res = await http(socket, "GET", `/v1/peers${query}`, { headers });
      check("GET", "/v1/peers", res);
      expect([res.status, errorOf(res).code], query).toEqual([400, "invalid_field"]);
    }
  });

  it("400, 404 and 409 on POST /v1/messages, each as documented", async () => {
    const MESH = "send.t";
    const tok = await joinMesh(token(0x71003), { session_id: "send-1", mesh: MESH, display_name: "solo" });
    const other = await joinMesh(token(0x71004), { session_id: "send-2", mesh: MESH, display_name: "twin" });
    await joinMesh(token(0x71005), { session_id: "send-3", mesh: MESH, display_name: "twin", groups: ["g"] });
    const theirs = await sent(other, { to: "solo", text: "mine" });
    const stale = Date.now() - 10 * 60_000;
    // Refusals the schema can tell from the body, and those only the daemon can.
    const schemaTells: [string, string, string?][] = [
      [JSON.stringify({ to: "solo", text: "x" }), "bad_request", "text/plain"],
      ["", "invalid_json"],
      ["{", "invalid_json"],
      ["[]", "invalid_field"],
      [JSON.stringify({ to: "solo" }), "invalid_field"],
      [JSON.stringify({ text: "x" }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "" }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "x".repeat(16_385) }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "bell\u0007" }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "x", priority: "asap" }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "x", reply_to: "x" }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "x", idempotency_key: "a b" }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "x", mesh: "Bad" }), "invalid_field"],
      [JSON.stringify({ to: "solo", text: "x", id: SAMPLE_ID }), "invalid_field"],
      [JSON.stringify({ to: "", text: "x" }), "invalid_field"],
      [JSON.stringify({ to: "@", text: "x" }), "invalid_field"],
      [JSON.stringify({ to: "x".repeat(129), text: "x" }), "invalid_field"],
    ];
    const daemonTells: [string, string][] = [
      // A session sends in its own mesh only.
      [JSON.stringify({ to: "send-2", text: "x", mesh: "default" }), "mesh: "],
      // 16386 bytes in 8193 characters.
      [JSON.stringify({ to: "send-2", text: "é".repeat(8_193) }), "text: "],
      // A client-signed message whose signature does not verify, or whose clock is 10 minutes off.
      [
        JSON.stringify({ to: "send-2", text: "x", id: randomUUID(), sent_at: Date.now(), signature: "ab".repeat(64) }),
        "signature: ",
      ],
      [
        JSON.stringify({ to: "send-2", text: "x", id: randomUUID(), sent_at: stale, signature: "ab".repeat(64) }),
        "sent_at: ",
      ],
      // The id of another sender's message.
      [
        JSON.stringify({ to: "send-2", text: "x", id: theirs.id, sent_at: Date.now(), signature: "ab".repeat(64) }),
        "id: ",
      ],
    ];
    for (const [body, code, contentType = "application/json"] of schemaTells) {
      const res = await http(socket, "POST", "/v1/messages", {
        headers: { "content-type": contentType, ...authorized(tok) },
        body,
      });
      check("POST", "/v1/messages", res);
      expect([res.status, errorOf(res).code], body.slice(0, 60)).toEqual([400, code]);
      if (code === "invalid_field") {
        expect(validator(componentSchema("SendMessageRequest"))(JSON.parse(body)), body.slice(0, 60)).toBe(false);
      }
    }
    for (const [body, field] of daemonTells) {
      const res = await sendMessage(tok, body);
      expect([res.status, errorOf(res).code], body.slice(0, 60)).toEqual([400, "invalid_field"]);
      expect(errorOf(res).message).toMatch(new RegExp(`^${field}`));
      expect(validator(componentSchema("SendMessageRequest"))(JSON.parse(body)), body.slice(0, 60)).toBe(true);
    }
    // From a plain shell, an invalid mesh is the body's fault.
    const shellMesh = await sendMessage(undefined, { to: "solo", text: "x", mesh: "Bad" });
    expect([shellMesh.status, errorOf(shellMesh).code]).toEqual([400, "invalid_field"]);

    // 404: an address that reaches nobody.
    for (const [sender, body] of [
      [tok, { to: "nobody", text: "x" }],
      [tok, { to: "@nogroup", text: "x" }],
      [tok, { to: "role:none", text: "x" }],
      [tok, { to: "solo", text: "to myself by name" }],
      [undefined, { to: "*", text: "x", mesh: "nobody.here" }],
    ] as [string | undefined, Json][]) {
      const res = await sendMessage(sender, body);
      expect([res.status, errorOf(res).code], JSON.stringify(body)).toEqual([404, "unknown_recipient"]);
    }

    // 409: a name two live sessions have, with both as candidates.
    const busy = await sendMessage(tok, { to: "twin", text: "which one?" });
    expect(busy.status, busy.text).toBe(409);
    expect(busy.json()).toMatchObject({
      error: {
        code: "ambiguous_recipient",
        candidates: [
          { session_id: "send-2", display_name: "twin" },
          { session_id: "send-3", display_name: "twin" },
        ],
      },
    });
    // Nothing of it was stored: the other twin's inbox holds only what reached it.
    expect(await readInbox(token(0x71005))).toEqual([]);
  });

  it("429 rate_limited with Retry-After once a sender passes its burst of 100", async () => {
    const tok = await joinMesh(token(0x71006), { session_id: "rate-1", mesh: "rate.t" });
    const answers = [];
    for (let i = 0; i < 150; i++) {
      const res = await sendMessage(tok, { to: "rate-1", text: `m${i}` });
      answers.push(res.status);
      if (res.status === 429) {
        expect(errorOf(res).code).toBe("rate_limited");
        expect(Number(res.headers["retry-after"])).toBeGreaterThanOrEqual(1);
        break;
      }
    }
    expect(answers.at(-1)).toBe(429);
    // A burst of 100, refilled at 20 a second while the loop ran.
    expect(answers.filter((s) => s === 202).length).toBeGreaterThanOrEqual(100);
    expect(answers.slice(0, -1).every((s) => s === 202)).toBe(true);
    // Another sender is not limited by this one.
    const other = await joinMesh(token(0x71007), { session_id: "rate-2", mesh: "rate.t" });
    expect((await sendMessage(other, { to: "rate-1", text: "still fine" })).status).toBe(202);
  });

  it("404 not_found on GET /v1/messages/{id} for anyone but the sender, and for ids that are not message ids", async () => {
    const sender = await joinMesh(token(0x71008), { session_id: "status-1", mesh: "status.t" });
    const reader = await joinMesh(token(0x71009), { session_id: "status-2", mesh: "status.t" });
    const m = await sent(sender, { to: "status-2", text: "mine to follow" });
    expect((await messageStatus(sender, m.id)).status).toBe(200);
    for (const [tok, id] of [
      [reader, m.id], // the recipient
      [undefined, m.id], // the member, for a session's message
      [sender, SAMPLE_ID], // no such message
      [sender, m.id.toUpperCase()],
      [sender, "not-a-uuid"],
      [sender, "%E2%9C%93"],
    ] as [string | undefined, string][]) {
      const res = await messageStatus(tok, id);
      expect([res.status, errorOf(res).code], id).toEqual([404, "not_found"]);
    }
  });

  it("400 on GET /v1/inbox for a state or wait_ms not listed", async () => {
    const tok = await joinMesh(token(0x7100a), { session_id: "inbox-400" });
    for (const query of ["?state=read", "?state=", "?wait_ms=30001", "?wait_ms=-1", "?wait_ms=1.5", "?wait_ms=1e3"]) {
      const res = await http(socket, "GET", `/v1/inbox${query}`, { headers: authorized(tok) });
      check("GET", "/v1/inbox", res);
      expect([res.status, errorOf(res).code], query).toEqual([400, "invalid_field"]);
    }
    // The longest wait is accepted (and not waited: a message is there).
    const m = await sent(tok, { to: "inbox-400", text: "already here" });
    expect((await readInbox(tok, "?wait_ms=30000&state=all")).map((x) => x.id)).toEqual([m.id]);
  });

  it("400 on POST /v1/inbox/mark: bad_request, invalid_json and invalid_field, each as documented", async () => {
    const tok = await joinMesh(token(0x7100b), { session_id: "mark-400" });
    const cases: [string, string, string?][] = [
      [JSON.stringify({ ids: [SAMPLE_ID], state: "acked" }), "bad_request", "text/plain"],
      ["", "invalid_json"],
      ["{", "invalid_json"],
      ["[]", "invalid_field"],
      [JSON.stringify({ state: "acked" }), "invalid_field"],
      [JSON.stringify({ ids: [], state: "acked" }), "invalid_field"],
      [JSON.stringify({ ids: SAMPLE_ID, state: "acked" }), "invalid_field"],
      [JSON.stringify({ ids: ["nope"], state: "acked" }), "invalid_field"],
      [JSON.stringify({ ids: [SAMPLE_ID.toUpperCase()], state: "acked" }), "invalid_field"],
      [JSON.stringify({ ids: Array.from({ length: 1001 }, () => SAMPLE_ID), state: "acked" }), "invalid_field"],
      [JSON.stringify({ ids: [SAMPLE_ID] }), "invalid_field"],
      [JSON.stringify({ ids: [SAMPLE_ID], state: "read" }), "invalid_field"],
      [JSON.stringify({ ids: [SAMPLE_ID], state: "delivered" }), "invalid_field"],
    ];
    for (const [body, code, contentType] of cases) {
      const res = await markInbox(tok, body, { "content-type": contentType ?? "application/json" });
      expect([res.status, errorOf(res).code], body.slice(0, 60)).toEqual([400, code]);
      if (code === "invalid_field")
        expect(validator(componentSchema("MarkRequest"))(JSON.parse(body)), body).toBe(false);
    }
    // 1000 ids are accepted.
    const most = await markInbox(tok, { ids: Array.from({ length: 1000 }, () => SAMPLE_ID), state: "acked" });
    expect([most.status, most.json()]).toEqual([200, { updated: 0 }]);
  });

  it("401 on the operations that take a session token, for a token that names no live session", async () => {
    const byKey = (o: { method: string; path: string }) => `${o.method} ${o.path}`;
    // Every operation ignores the header (security: []), needs a session, or takes one optionally;
    // exactly those that read a token list 401.
    for (const { method, path } of operations) {
      const schemes = schemesOf(method, path);
      expect(
        schemes.every((scheme) => scheme === "" || scheme === "session"),
        `${method} ${path}`,
      ).toBe(true);
      const has401 = doc.paths[path]?.[method.toLowerCase()]?.responses["401"] !== undefined;
      expect(has401, `${method} ${path} lists 401`).toBe(schemes.includes("session"));
    }
    const required = operations.filter(({ method, path }) => {
      const schemes = schemesOf(method, path);
      return schemes.includes("session") && !schemes.includes("");
    });
    const optional = operations.filter(({ method, path }) => {
      const schemes = schemesOf(method, path);
      return schemes.includes("session") && schemes.includes("");
    });
    expect(required.map(byKey).sort()).toEqual([
      "DELETE /v1/sessions/me",
      "GET /v1/inbox",
      "GET /v1/sessions/me",
      "PATCH /v1/sessions/me",
      "POST /v1/inbox/mark",
    ]);
    expect(optional.map(byKey).sort()).toEqual([
      "GET /v1/events",
      "GET /v1/messages/{id}",
      "GET /v1/peers",
      "POST /v1/messages",
    ]);
    const badTokens = [{ authorization: "Bearer x" }, authorized("not-hex"), authorized(token(0xdead))];
    for (const { method, path } of required) {
      for (const headers of [{}, ...badTokens]) {
        const res = await send(socket, withoutToken(callOf(method, path)), { headers });
        check(method, path, res);
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
      }
    }
    for (const { method, path } of optional) {
      for (const headers of badTokens) {
        const res = await send(socket, withoutToken(callOf(method, path)), { headers });
        check(method, path, res);
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
      }
      // Without the header the call is the member's, never refused as unauthorized. (The event
      // stream never ends: its tokenless answers are checked in "the event stream" below.)
      if (path === "/v1/events") continue;
      const res = await send(socket, callOf(method, path));
      check(method, path, res);
      expect(res.status, `${method} ${path} without a token`).not.toBe(401);
    }
  });

  it("403 on every operation for an Origin or a Referer header", async () => {
    for (const { method, path } of operations) {
      for (const header of ["origin", "referer"]) {
        const res = await send(socket, callOf(method, path), { headers: { [header]: "http://localhost" } });
        check(method, path, res);
        expect(res.status).toBe(403);
      }
    }
  });

  it("404 for paths not in the document", async () => {
    for (const path of [
      "/",
      "/v1",
      "/v1/sessions/",
      "/v1/../v1/version",
      "/v2/version",
      "/v1/sessions/me/x",
      // The {id} of /v1/messages/{id} is exactly one non-empty segment that percent-decodes.
      "/v1/messages/",
      `/v1/messages/${SAMPLE_ID}/x`,
      "/v1/messages/%zz",
      "/v1/inbox/mark/x",
    ]) {
      expect(Object.keys(doc.paths)).not.toContain(path);
      checkOther("NotFound", 404, await http(socket, "GET", path), `GET ${path}`);
    }
    checked404 = true;
  });

  it("405 with Allow naming exactly the documented methods, on every path", async () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const allowed = HTTP_METHODS.filter((m) => item[m] !== undefined).map((m) => m.toUpperCase());
      // HEAD is answered wherever GET is.
      const allow = allowed.includes("GET") ? [...allowed, "HEAD"] : allowed;
      for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"].filter((m) => !allowed.includes(m))) {
        const res = await http(socket, method, concrete(path));
        checkOther("MethodNotAllowed", 405, res, `${method} ${path}`);
        expect(String(res.headers.allow).split(", ").sort(), `Allow on ${path}`).toEqual([...allow].sort());
      }
      checked405.add(path);
    }
  });

  it("408 on every operation when the request does not arrive in time", async () => {
    // All at once: each is answered when the 5 s header deadline passes.
    const answers = await Promise.all(
      operations.map(async ({ method, path }) => ({
        method,
        path,
        answer: parseRaw(
          await rawExchange(socket, `${method} ${concrete(path)} HTTP/1.1\r\nHost: x\r\n`, { timeoutMs: 20_000 }),
        ),
      })),
    );
    for (const { method, path, answer } of answers) {
      check(method, path, answer);
      expect(answer.status).toBe(408);
    }
  });

  it("413 for a body over 64 KiB, declared or streamed, on every operation with a body; exactly 64 KiB is accepted", async () => {
    const withBody = operations.filter(
      ({ method, path }) => doc.paths[path]?.[method.toLowerCase()]?.requestBody !== undefined,
    );
    const with413 = operations.filter(
      ({ method, path }) => doc.paths[path]?.[method.toLowerCase()]?.responses["413"] !== undefined,
    );
    expect(with413).toEqual(withBody);
    const tok = await joinMesh(token(0x72001), { session_id: "big" });
    // A well-formed body of each, padded with an unknown field (ignored) to the size wanted.
    const bodies: Record<string, { fields: Json; headers: Record<string, string>; status: number }> = {
      "POST /v1/sessions/register": { fields: { token: token(6), pid }, headers: {}, status: 200 },
      "PATCH /v1/sessions/me": { fields: { summary: "big" }, headers: authorized(tok), status: 200 },
      "POST /v1/messages": { fields: { to: "big", text: "x" }, headers: authorized(tok), status: 202 },
      "POST /v1/inbox/mark": { fields: { ids: [SAMPLE_ID], state: "surfaced" }, headers: authorized(tok), status: 200 },
      // Read whole and checked: nothing answers at that address.
      "POST /v1/meshes": { fields: { name: "big.mesh", servers: [unreachableNats] }, headers: {}, status: 502 },
    };
    expect(withBody.map(({ method, path }) => `${method} ${path}`).sort()).toEqual(Object.keys(bodies).sort());
    for (const { method, path } of withBody) {
      const { fields, headers, status } = bodies[`${method} ${path}`] as (typeof bodies)[string];
      const sized = (bytes: number) => {
        const head = JSON.stringify({ ...fields, pad: "" });
        return `${head.slice(0, -2)}${"x".repeat(bytes - head.length)}"}`;
      };
      expect(Buffer.byteLength(sized(MAX_BODY_BYTES))).toBe(MAX_BODY_BYTES);
      const fits = await http(socket, method, path, {
        headers: { "content-type": "application/json", ...headers },
        body: sized(MAX_BODY_BYTES),
      });
      check(method, path, fits);
      expect(fits.status, `${method} ${path}: ${fits.text}`).toBe(status);
      for (const framing of [{}, { "transfer-encoding": "chunked" }] as Record<string, string>[]) {
        const res = await http(socket, method, path, {
          headers: { "content-type": "application/json", ...headers, ...framing },
          body: sized(MAX_BODY_BYTES + 1),
        });
        check(method, path, res);
        expect(res.status, `${method} ${path}`).toBe(413);
      }
    }
  });

  it("431 on every operation for headers over 16 KiB", async () => {
    for (const { method, path } of operations) {
      const raw = await rawExchange(
        socket,
        `${method} ${concrete(path)} HTTP/1.1\r\nHost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
      );
      const answer = parseRaw(raw);
      check(method, path, answer);
      expect(answer.status).toBe(431);
    }
  });

  it("500 internal on every operation whose handler can fail, through the real pipeline and routes", async () => {
    // The real server pipeline and route handlers over dependencies that throw on first use.
    const stubDir = tempDir("cmo-");
    const server: Server = createHttpServer(createRoutes(stubDeps()));
    const stubSocket = join(stubDir, "stub.sock");
    await new Promise<void>((resolve) => server.listen(stubSocket, resolve));
    try {
      for (const { method, path } of operations) {
        const res = await send(stubSocket, callOf(method, path));
        const listed = doc.paths[path]?.[method.toLowerCase()]?.responses["500"] !== undefined;
        // Only GET /v1/version touches no dependency: it cannot fail, and the document lists no 500 for it.
        expect(res.status, `${method} ${path}`).toBe(listed ? 500 : 200);
        check(method, path, res);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("the event stream", () => {
  interface Stream {
    raw: () => string;
    messages: SseMessage[];
    answer: Promise<Answer>;
    close: () => void;
  }

  function openStream(headers: Record<string, string> = {}): Stream {
    const parser = new SseParser();
    const messages: SseMessage[] = [];
    let raw = "";
    let req: ReturnType<typeof request> | undefined;
    const answer = new Promise<Answer>((resolve, reject) => {
      req = request({ socketPath: socket, path: "/v1/events", headers, agent: false }, (res) => {
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          raw += chunk;
          messages.push(...parser.feed(chunk));
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: "" });
      });
      req.on("error", reject);
      req.end();
    });
    return { raw: () => raw, messages, answer, close: () => req?.destroy() };
  }

  const eventSchemas = () => doc.paths["/v1/events"]?.get?.["x-claudemesh-events"] as Record<string, Ref>;

  /**
   * Checks each event against the schema the document gives its name. Ids increase by one on a
   * stream that saw every event numbered meanwhile; on a stream scoped to a session (or the
   * member) they increase, with gaps where events were for others.
   */
  function checkEvents(messages: readonly SseMessage[], { consecutive = true } = {}): number[] {
    const ids = messages.map((m) => Number(m.id));
    for (const message of messages) {
      const schema = eventSchemas()[message.event];
      expect(schema, `event name ${message.event} is documented`).toBeDefined();
      if (schema !== undefined) expectValid(deref<Json>(schema), JSON.parse(message.data), `event ${message.event}`);
      expect(message.id).toMatch(/^[0-9]{1,16}$/);
      seenEvents.add(message.event);
    }
    for (let i = 1; i < ids.length; i++) {
      if (consecutive) expect(ids[i]).toBe((ids[i - 1] as number) + 1);
      else expect(ids[i]).toBeGreaterThan(ids[i - 1] as number);
    }
    return ids;
  }

  let lastId = 0;

  it("streams documented events with ids from the start time in µs, and replays from Last-Event-ID", async () => {
    const startedUs = Date.now() * 1000;
    const stream = openStream();
    const answer = await stream.answer;
    check("GET", "/v1/events", { ...answer, text: "" });
    await waitFor(() => stream.raw().startsWith(": claudemesh events\n\n"), "the opening comment");

    const victim = spawnSleeper();
    await register(socket, { token: token(0xe1), pid, session_id: "evt" });
    await register(socket, { token: token(0xe2), pid, session_id: "evt" }); // replaces
    await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(token(0xe2)) });
    await register(socket, { token: token(0xe3), pid: victim.pid as number, session_id: "victim" });
    await killAndWait(victim);
    await waitFor(() => stream.messages.some((m) => m.data.includes('"exited"')), "the reaper's exited event");

    const ids = checkEvents(stream.messages);
    const reasons = stream.messages.map((m) => `${m.event}:${(JSON.parse(m.data) as { reason: string }).reason}`);
    expect(reasons).toEqual([
      "session_registered:registered",
      "session_deregistered:replaced",
      "session_registered:registered",
      "session_deregistered:deregistered",
      "session_registered:registered",
      "session_deregistered:exited",
    ]);
    // The first event of this daemon was numbered from its start time in microseconds (it started before us).
    expect(ids[0]).toBeLessThan(startedUs);
    expect(ids[0]).toBeGreaterThan(startedUs - 600_000_000);
    stream.close();

    const replay = openStream({ "last-event-id": String(ids[1]) });
    await waitFor(() => replay.messages.length >= ids.length - 2, "the replay");
    expect(replay.messages.map((m) => Number(m.id))).toEqual(ids.slice(2));
    checkEvents(replay.messages);
    replay.close();
    lastId = ids.at(-1) as number;
  });

  it(`keeps the last ${DEFAULT_RING_SIZE} events for replay`, async () => {
    const live = openStream();
    await live.answer;
    const pairs = Math.ceil(DEFAULT_RING_SIZE / 2) + 8;
    for (let batch = 0; batch < pairs; batch += 16) {
      await Promise.all(
        Array.from({ length: Math.min(16, pairs - batch) }, async (_, i) => {
          const tok = token(0x10000 + batch + i);
          await register(socket, { token: tok, pid, session_id: `ring-${batch + i}` });
          await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(tok) });
        }),
      );
    }
    await waitFor(() => live.messages.length >= pairs * 2, "every live event");
    live.close();
    const newest = Number(live.messages.at(-1)?.id);

    const all = openStream({ "last-event-id": "0" });
    await waitFor(() => all.messages.length >= DEFAULT_RING_SIZE, "the whole ring");
    await new Promise((r) => setTimeout(r, 200));
    expect(all.messages).toHaveLength(DEFAULT_RING_SIZE);
    const ids = checkEvents(all.messages);
    expect(ids.at(-1)).toBe(newest);
    expect(ids[0]).toBe(newest - DEFAULT_RING_SIZE + 1);
    all.close();
    lastId = newest;
  });

  it("continues its ids across a daemon restart, so a client resumes with the previous daemon's last id", async () => {
    await daemon.shutdown("restart");
    const restartedUs = Date.now() * 1000;
    daemon = await start();
    const readyUs = Date.now() * 1000;
    const resumed = openStream({ "last-event-id": String(lastId) });
    await resumed.answer;
    await register(socket, { token: token(0xaf7e5), pid, session_id: "after-restart" });
    await waitFor(() => resumed.messages.some((m) => m.data.includes("after-restart")), "the new daemon's event");
    const ids = checkEvents(resumed.messages);
    expect(ids[0]).toBeGreaterThan(lastId);
    // Nothing happened before this registration: its id is the new daemon's first, its start time in µs.
    expect(ids[0]).toBeGreaterThanOrEqual(restartedUs);
    expect(ids[0]).toBeLessThanOrEqual(readyUs);
    resumed.close();
  });

  it("sends session_updated to every stream, message to the recipient's, message_status to the sender's", async () => {
    const MESH = "events.t";
    const sender = await joinMesh(token(0x73001), { session_id: "ev-sender", mesh: MESH, display_name: "sender" });
    const recipient = await joinMesh(token(0x73002), { session_id: "ev-recipient", mesh: MESH, display_name: "rcpt" });
    const holder = await joinMesh(token(0x73003), { session_id: "ev-holder", mesh: MESH, inbound: "hold" });
    const streams = {
      sender: openStream(authorized(sender)),
      recipient: openStream(authorized(recipient)),
      holder: openStream(authorized(holder)),
      member: openStream(),
    };
    for (const stream of Object.values(streams)) {
      check("GET", "/v1/events", { ...(await stream.answer), text: "" });
      await waitFor(() => stream.raw().startsWith(": claudemesh events\n\n"), "the opening comment");
    }

    const patched = await http(socket, "PATCH", "/v1/sessions/me", {
      headers: { ...JSON_TYPE, ...authorized(sender) },
      body: JSON.stringify({ status: "working", summary: "sending" }),
    });
    check("PATCH", "/v1/sessions/me", patched);
    const fromSession = await sent(sender, { to: "rcpt", text: "for the recipient" });
    expect((await markInbox(recipient, { ids: [fromSession.id], state: "surfaced" })).status).toBe(200);
    const fromShell = await sent(undefined, { to: "ev-recipient", mesh: MESH, text: "from the shell" });
    expect((await markInbox(recipient, { ids: [fromShell.id], state: "acked" })).status).toBe(200);
    const held = await sent(sender, { to: "ev-holder", text: "held, not pushed" });
    expect(held.recipients[0]?.state).toBe("delivered");

    const names = (stream: { messages: SseMessage[] }) => stream.messages.map((m) => m.event);
    const want = {
      sender: ["session_updated", "message_status", "message_status", "message_status"],
      recipient: ["session_updated", "message", "message"],
      holder: ["session_updated"],
      member: ["session_updated", "message_status", "message_status"],
    };
    await waitFor(
      () =>
        Object.entries(want).every(
          ([who, events]) => streams[who as keyof typeof streams].messages.length >= events.length,
        ),
      "every stream's events",
    );
    await new Promise((r) => setTimeout(r, 100)); // and nothing more
    for (const [who, events] of Object.entries(want))
      expect(names(streams[who as keyof typeof streams]), who).toEqual(events);

    const data = (stream: { messages: SseMessage[] }, event: string) =>
      stream.messages.filter((m) => m.event === event).map((m) => JSON.parse(m.data) as Json);
    expect(data(streams.member, "session_updated")[0]).toMatchObject({
      reason: "updated",
      session: { session_id: "ev-sender", status: "working", summary: "sending" },
    });
    expect(data(streams.recipient, "message").map((d) => (d["message"] as Json)["text"])).toEqual([
      "for the recipient",
      "from the shell",
    ]);
    expect(
      data(streams.sender, "message_status").map((d) => [d["message_id"], (d["recipient"] as Json)["state"]]),
    ).toEqual([
      [fromSession.id, "delivered"],
      [fromSession.id, "surfaced"],
      [held.id, "delivered"],
    ]);
    expect(
      data(streams.member, "message_status").map((d) => [d["message_id"], (d["recipient"] as Json)["state"]]),
    ).toEqual([
      [fromShell.id, "delivered"],
      [fromShell.id, "acked"],
    ]);

    // Each stream's ids increase; together they hold every id numbered meanwhile, one by one.
    const all = Object.values(streams).flatMap((stream) => checkEvents(stream.messages, { consecutive: false }));
    const union = [...new Set(all)].sort((x, y) => x - y);
    for (let i = 1; i < union.length; i++) expect(union[i]).toBe((union[i - 1] as number) + 1);

    // A replay is scoped as the live stream was.
    const from = String((union[0] as number) - 1);
    const replays = {
      recipient: openStream({ ...authorized(recipient), "last-event-id": from }),
      member: openStream({ "last-event-id": from }),
    };
    for (const [who, replay] of Object.entries(replays)) {
      const live = streams[who as keyof typeof streams];
      await waitFor(() => replay.messages.length >= live.messages.length, `the ${who} replay`);
      expect(
        replay.messages.map((m) => m.id),
        who,
      ).toEqual(live.messages.map((m) => m.id));
      checkEvents(replay.messages, { consecutive: false });
      replay.close();
    }
    for (const stream of Object.values(streams)) stream.close();
  });
});

describe("MeshAddRequest holds the same field rules as the daemon's parseMeshAddRequest and parseMeshBinding", () => {
  const base = { name: "team", servers: ["nats://nats.example.com:4222"] };
  const FP = `SHA256:${"A".repeat(43)}`;
  /** Accepted by the daemon's two parsers (the one of the body's types, the one of the binding)? */
  const accepted = (body: unknown): { ok: boolean; why: string } => {
    try {
      const parsed = parseMeshBinding(parseMeshAddRequest(body), 0);
      return { ok: parsed.ok, why: parsed.ok ? "ok" : parsed.error };
    } catch (error) {
      return { ok: false, why: (error as Error).message };
    }
  };
  const cases: [string, unknown][] = [
    ["minimal", base],
    ["every field", { ...base, token_file: "/run/t", tls_ca: "/etc/ca.pem", trust_members: [FP, FP], extra: 1 }],
    ["creds", { ...base, creds: "/c.creds" }],
    ["nkey", { ...base, nkey_seed_file: "/seed" }],
    ["16 servers", { ...base, servers: Array.from({ length: 16 }, (_, i) => `nats://h${i}:4222`) }],
    ["17 servers", { ...base, servers: Array.from({ length: 17 }, (_, i) => `nats://h${i}:4222`) }],
    ["no servers", { ...base, servers: [] }],
    ["servers a string", { ...base, servers: "nats://h:1" }],
    ["server a number", { ...base, servers: [4222] }],
    ["no name", { servers: base.servers }],
    ["name upper", { ...base, name: "Team" }],
    ["name 65", { ...base, name: "a".repeat(65) }],
    ["name number", { ...base, name: 5 }],
    ["creds and token", { ...base, creds: "/a", token_file: "/b" }],
    ["token and nkey", { ...base, token_file: "/a", nkey_seed_file: "/b" }],
    ["relative creds", { ...base, creds: "c.creds" }],
    ["relative tls_ca", { ...base, tls_ca: "ca.pem" }],
    ["token_file a number", { ...base, token_file: 1 }],
    ["token_file null", { ...base, token_file: null }],
    ["trust_members not a fingerprint", { ...base, trust_members: ["SHA256:short"] }],
    ["trust_members a string", { ...base, trust_members: FP }],
    [
      "257 trusted members",
      {
        ...base,
        trust_members: Array.from(
          { length: 257 },
          (_, i) => `SHA256:${"A".repeat(40)}${i.toString(36).padStart(3, "0")}`,
        ),
      },
    ],
    ["array", [base]],
    ["null", null],
  ];

  it.each(cases)("%s: the schema accepts it exactly when the daemon's parsers do", (_, body) => {
    const { ok, why } = accepted(body);
    const validate = validator(componentSchema("MeshAddRequest"));
    const valid = validate(body);
    expect(valid, `schema ${ajv.errorsText(validate.errors)}; parser ${why}`).toBe(ok);
  });

  it("leaves the form of a server address to the daemon, as documented", () => {
    for (const server of ["http://h:1", "nats://user:pw@h:1", "nats://h:1/path", "nats://"]) {
      const body = { ...base, servers: [server] };
      expect(validator(componentSchema("MeshAddRequest"))(body), server).toBe(true);
      expect(accepted(body).ok, server).toBe(false);
    }
    expect(componentSchema("MeshAddRequest")["description"]).toMatch(/server address is checked by the daemon/);
  });
});

describe("meshes bound to NATS answer as documented", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer({ dir: tempDir("cmo-nats-") });
  });
  afterAll(async () => {
    await nats?.stop();
  });

  const post = async (body: string | Json, contentType = "application/json") => {
    const res = await http(socket, "POST", "/v1/meshes", {
      headers: { "content-type": contentType },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    check("POST", "/v1/meshes", res);
    return res;
  };
  const getOne = async (name: string) => {
    const res = await http(socket, "GET", `/v1/meshes/${encodeURIComponent(name)}`);
    check("GET", "/v1/meshes/{name}", res);
    return res;
  };
  const list = async () => {
    const res = await http(socket, "GET", "/v1/meshes");
    check("GET", "/v1/meshes", res);
    expect(res.status, res.text).toBe(200);
    return (res.json() as { meshes: Json[] }).meshes;
  };

  it("201, 200, 409 and 404: bound, listed, shown, refused twice, removed", async () => {
    const FP = `SHA256:${"B".repeat(43)}`;
    expect((await list()).map((m) => m["name"])).not.toContain("team.oa");
    const added = await post({ name: "team.oa", servers: [nats.url.replace("nats://", "")], trust_members: [FP] });
    expect(added.status, added.text).toBe(201);
    expect(added.json()).toMatchObject({
      name: "team.oa",
      servers: [nats.url],
      credentials: null,
      tls_ca: null,
      trust_members: [FP],
      status: { state: expect.stringMatching(/^(connecting|connected)$/) },
    });
    await waitFor(
      async () => ((await getOne("team.oa")).json() as { status: { state: string } }).status.state === "connected",
      "the bound mesh's link to connect",
    );
    const shown = (await getOne("team.oa")).json() as Json;
    expect(shown["status"]).toMatchObject({ state: "connected", server: `127.0.0.1:${nats.port}` });
    expect((await list()).find((m) => m["name"] === "team.oa")).toEqual(shown);

    const again = await post({ name: "team.oa", servers: [nats.url] });
    expect([again.status, errorOf(again).code]).toEqual([409, "mesh_already_bound"]);

    const removed = await http(socket, "DELETE", "/v1/meshes/team.oa");
    check("DELETE", "/v1/meshes/{name}", removed);
    expect([removed.status, removed.json()]).toEqual([200, { removed: "team.oa" }]);
    for (const method of ["GET", "DELETE"]) {
      for (const name of ["team.oa", "never.bound", "Not A Mesh", "%E2%9C%93"]) {
        const res = await http(socket, method, `/v1/meshes/${name.replaceAll(" ", "%20")}`);
        check(method, "/v1/meshes/{name}", res);
        expect([res.status, errorOf(res).code], `${method} ${name}`).toEqual([404, "mesh_not_bound"]);
      }
    }
    expect((await list()).map((m) => m["name"])).not.toContain("team.oa");
  });

  it("400 and 502 on POST /v1/meshes, each as documented, and nothing is bound by a refusal", async () => {
    const empty = join(tempDir("cmo-creds-"), "empty-token");
    writeFileSync(empty, "", { mode: 0o600 });
    const cases: [string, string, string?][] = [
      [JSON.stringify({ name: "x", servers: [nats.url] }), "bad_request", "text/plain"],
      ["", "invalid_json"],
      ["{", "invalid_json"],
      ["[]", "invalid_field"],
      [JSON.stringify({ servers: [nats.url] }), "invalid_field"],
      [JSON.stringify({ name: "Upper", servers: [nats.url] }), "invalid_field"],
      [JSON.stringify({ name: "x", servers: [] }), "invalid_field"],
      [JSON.stringify({ name: "x", servers: [nats.url], creds: "relative" }), "invalid_field"],
      [JSON.stringify({ name: "x", servers: [nats.url], creds: "/a", token_file: "/b" }), "invalid_field"],
      [JSON.stringify({ name: "x", servers: [nats.url], trust_members: ["nope"] }), "invalid_field"],
      [JSON.stringify({ name: "x", servers: ["http://h:1"] }), "invalid_field"],
      [JSON.stringify({ name: "x", servers: [nats.url], token_file: empty }), "credentials_file"],
      [JSON.stringify({ name: "x", servers: [nats.url], token_file: `${empty}.missing` }), "credentials_file"],
      [JSON.stringify({ name: "x", servers: [unreachableNats] }), "nats_unreachable"],
    ];
    for (const [body, code, contentType] of cases) {
      const res = await post(body, contentType);
      expect(errorOf(res).code, body.slice(0, 80)).toBe(code);
      expect(res.status).toBe(code.startsWith("nats_") ? 502 : 400);
    }
    expect((await list()).map((m) => m["name"])).not.toContain("x");
  });
});

describe("coverage of the document", () => {
  it("exercised every path, method and status the document lists, and 404 and 405 on every path", () => {
    const missing = [...documented].filter((key) => !exercised.has(key)).sort();
    expect(missing).toEqual([]);
    expect(checked404).toBe(true);
    expect([...checked405].sort()).toEqual(Object.keys(doc.paths).sort());
  });

  it("received a validated frame of every documented event name", () => {
    const documentedEvents = Object.keys(doc.paths["/v1/events"]?.get?.["x-claudemesh-events"] as Json).sort();
    expect([...seenEvents].sort()).toEqual(documentedEvents);
  });
});

/** RouteDeps whose every member throws when used: enough to build the route table, and to make handlers fail. */
function stubDeps(): RouteDeps {
  const failing = (name: string) =>
    new Proxy(
      {},
      {
        get(_, property) {
          throw new Error(`stub ${name}.${String(property)} used`);
        },
      },
    );
  return {
    registry: failing("registry") as RouteDeps["registry"],
    probe: failing("probe") as RouteDeps["probe"],
    hub: failing("hub") as RouteDeps["hub"],
    metrics: failing("metrics") as RouteDeps["metrics"],
    member: failing("member") as RouteDeps["member"],
    presence: failing("presence") as RouteDeps["presence"],
    messaging: failing("messaging") as RouteDeps["messaging"],
    meshes: failing("meshes") as RouteDeps["meshes"],
    startedAt: Date.now(),
    persisted: failing("persisted") as RouteDeps["persisted"],
  };
}
