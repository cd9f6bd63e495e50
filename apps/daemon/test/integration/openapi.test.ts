// docs/openapi.json against the real daemon. Every operation of the document is called, every
// status it lists for that operation is provoked, and every answer (status, headers, body) is
// validated against the document's schema for that path, method and status with a JSON Schema
// 2020-12 validator. The document and the code's route table must list the same operations, so
// a route added without documentation, or documentation left behind by a removed route, fails.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { request, type Server } from "node:http";
import { join } from "node:path";
import { ERROR_CODES, ERROR_STATUS, type SseMessage, SseParser } from "@claudemesh/client";
import { parseRegistration } from "@claudemesh/registry";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../src/daemon.js";
import { KEEPALIVE_MS } from "../../src/events/event-hub.js";
import { DEFAULT_RING_SIZE } from "../../src/events/event-log.js";
import { MAX_BODY_BYTES } from "../../src/http/body.js";
import { createRoutes, type RouteDeps } from "../../src/http/routes.js";
import { createHttpServer } from "../../src/http/server.js";
import { createLogger } from "../../src/logger.js";
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

interface Call {
  method: string;
  path: string;
  /** Headers a well-formed call sends (a token for the secured operations). */
  headers?: Record<string, string>;
  body?: string;
}

/** A well-formed call of every documented operation; `path` may gain a query. */
function callOf(method: string, path: string): Call {
  const json = { "content-type": "application/json" };
  switch (`${method} ${path}`) {
    case "POST /v1/sessions/register":
      return { method, path, headers: json, body: JSON.stringify({ token: token(0xbeef), pid, session_id: "probe" }) };
    case "GET /v1/sessions/me":
    case "DELETE /v1/sessions/me":
      return { method, path, headers: authorized(OWNER) };
    default:
      return { method, path };
  }
}

const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  HTTP_METHODS.filter((m) => item[m] !== undefined).map((m) => ({ method: m.toUpperCase(), path })),
);

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
    const inCode = Object.entries(routes)
      .flatMap(([path, table]) => Object.keys(table).map((method) => `${method} ${path}`))
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
    for (const code of ERROR_CODES) {
      const body = { error: { code, message: "m" } };
      const statuses = new Set(errorResponses.filter((r) => validator(r.schema)(body)).map((r) => r.status));
      expect([...statuses], code).toEqual([ERROR_STATUS[code]]);
    }
  });

  it("lets /v1/health carry managed_by or not, as daemons with and without service-manager support answer", () => {
    const health = { ok: true, pid: 1, uptime_ms: 0, sessions: 0 };
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
      [deadPidBody, "invalid_field"],
    ];
    for (const [body, code, contentType] of cases) {
      const res = await post(body, contentType);
      check("POST", "/v1/sessions/register", res);
      expect((res.json() as { error: { code: string } }).error.code, String(body)).toBe(code);
      // A JSON object refused as invalid_field (other than for a dead pid) breaks the documented schema too.
      if (code === "invalid_field" && typeof body === "string" && body !== deadPidBody) {
        expect(validator(componentSchema("RegisterRequest"))(JSON.parse(body)), body).toBe(false);
      }
    }
  });

  it("400 invalid_field on /v1/sessions for an invalid mesh", async () => {
    for (const query of ["?mesh=Bad", "?mesh=", `?mesh=${"a".repeat(65)}`]) {
      const res = await http(socket, "GET", `/v1/sessions${query}`);
      check("GET", "/v1/sessions", res);
      expect((res.json() as { error: { code: string } }).error.code).toBe("invalid_field");
    }
  });

  it("401 on the secured operations without a live token, and only there", async () => {
    const secured = operations.filter(
      ({ method, path }) => (doc.paths[path]?.[method.toLowerCase()]?.security ?? []).length > 0,
    );
    expect(secured.map((o) => `${o.method} ${o.path}`).sort()).toEqual([
      "DELETE /v1/sessions/me",
      "GET /v1/sessions/me",
    ]);
    for (const { method, path } of secured) {
      for (const headers of [{}, { authorization: "Bearer x" }, authorized("not-hex"), authorized(token(0xdead))]) {
        const res = await http(socket, method, path, { headers });
        check(method, path, res);
        expect(res.status).toBe(401);
      }
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
    for (const path of ["/", "/v1", "/v1/sessions/", "/v1/../v1/version", "/v2/version", "/v1/sessions/me/x"]) {
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
        const res = await http(socket, method, path);
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
        answer: parseRaw(await rawExchange(socket, `${method} ${path} HTTP/1.1\r\nHost: x\r\n`, { timeoutMs: 20_000 })),
      })),
    );
    for (const { method, path, answer } of answers) {
      check(method, path, answer);
      expect(answer.status).toBe(408);
    }
  });

  it("413 on register for a body over 64 KiB, declared or streamed; exactly 64 KiB is accepted", async () => {
    const sized = (bytes: number) => {
      const head = JSON.stringify({ token: token(6), pid, pad: "" });
      return `${head.slice(0, -2)}${"x".repeat(bytes - head.length)}"}`;
    };
    expect(Buffer.byteLength(sized(MAX_BODY_BYTES))).toBe(MAX_BODY_BYTES);
    const fits = await http(socket, "POST", "/v1/sessions/register", {
      headers: { "content-type": "application/json" },
      body: sized(MAX_BODY_BYTES),
    });
    check("POST", "/v1/sessions/register", fits);
    expect(fits.status).toBe(200);
    for (const headers of [{}, { "transfer-encoding": "chunked" }] as Record<string, string>[]) {
      const res = await http(socket, "POST", "/v1/sessions/register", {
        headers: { "content-type": "application/json", ...headers },
        body: sized(MAX_BODY_BYTES + 1),
      });
      check("POST", "/v1/sessions/register", res);
      expect(res.status).toBe(413);
    }
  });

  it("431 on every operation for headers over 16 KiB", async () => {
    for (const { method, path } of operations) {
      const raw = await rawExchange(
        socket,
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
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

  /** Checks each event against the schema the document gives its name; ids increase by one. */
  function checkEvents(messages: readonly SseMessage[]): number[] {
    const ids = messages.map((m) => Number(m.id));
    for (const message of messages) {
      const schema = eventSchemas()[message.event];
      expect(schema, `event name ${message.event} is documented`).toBeDefined();
      if (schema !== undefined) expectValid(deref<Json>(schema), JSON.parse(message.data), `event ${message.event}`);
      expect(message.id).toMatch(/^[0-9]{1,16}$/);
    }
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe((ids[i - 1] as number) + 1);
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
});

describe("coverage of the document", () => {
  it("exercised every path, method and status the document lists, and 404 and 405 on every path", () => {
    const missing = [...documented].filter((key) => !exercised.has(key)).sort();
    expect(missing).toEqual([]);
    expect(checked404).toBe(true);
    expect([...checked405].sort()).toEqual(Object.keys(doc.paths).sort());
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
    startedAt: Date.now(),
    persisted: failing("persisted") as RouteDeps["persisted"],
  };
}
