// The one-shot check `mesh add` runs before it records a binding: connect once (no reconnect),
// make sure JetStream answers for this account, measure the round trip, close. Never throws:
// every failure is a reason and a message that names the server and what to do about it.
import type { MeshBinding } from "@claudemesh/mesh";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BindingConnectOptions, CredentialsFileError, loadConnectOptions, type ReadFile } from "./credentials.js";
import { loadNats } from "./load.js";

export type CheckFailure = "unreachable" | "auth" | "tls" | "no_jetstream" | "credentials_file";

export type CheckResult =
  | { readonly ok: true; readonly server: string; readonly rttMs: number; readonly jetstream: boolean }
  | { readonly ok: false; readonly reason: CheckFailure; readonly message: string };

export interface CheckOptions {
  /** For the connection and for each request after it. */
  readonly timeoutMs?: number;
  /** When false, a server without JetStream passes (with `jetstream: false`); true by default. */
  readonly requireJetStream?: boolean;
  readonly read?: ReadFile;
  /** Where replies go, as the link will have them: the allowlist permits only the daemon's own. */
  readonly inboxPrefix?: string;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const JS_API_INFO = "$JS.API.INFO";

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Which of the reasons a failed connect is, from nats.js's error (or the TLS layer's under it). */
export function classifyConnectError(error: unknown): Exclude<CheckFailure, "no_jetstream"> {
  if (error instanceof CredentialsFileError) return "credentials_file";
  const name = error instanceof Error ? error.name : "";
  const message = messageOf(error);
  const code = String((error as NodeJS.ErrnoException | undefined)?.code ?? "");
  if (
    name === "AuthorizationError" ||
    name === "UserAuthenticationExpiredError" ||
    /authori[sz]ation|authentication/i.test(message)
  ) {
    return "auth";
  }
  if (/CERT|TLS|SSL/.test(code) || /\btls\b|ssl|certificate|self[- ]signed|altname|handshake/i.test(message)) {
    return "tls";
  }
  return "unreachable";
}

function describeServers(binding: MeshBinding): string {
  return binding.servers.length === 1 ? (binding.servers[0] as string) : binding.servers.join(", ");
}

function failureMessage(reason: CheckFailure, binding: MeshBinding, detail: string): string {
  const at = describeServers(binding);
  switch (reason) {
    case "credentials_file":
      return `${detail}: fix the file or give another with --creds, --token-file or --nkey-seed-file`;
    case "auth": {
      const file = binding.credentials?.file;
      return file === undefined
        ? `${at} wants credentials (${detail}): give --creds, --token-file or --nkey-seed-file`
        : `${at} refused the credentials in ${file} (${detail}): check that file, or ask the server's admin`;
    }
    case "tls":
      return binding.tlsCa === undefined
        ? `TLS with ${at} failed (${detail}): give --tls-ca with the CA that signed the server's certificate`
        : `TLS with ${at} failed (${detail}): check that ${binding.tlsCa} is the CA that signed the server's certificate and that the address matches it`;
    case "unreachable":
      return `cannot reach the NATS server at ${at} (${detail}): is it running, and are the address and port right?`;
    case "no_jetstream":
      return `${at} has no JetStream for this account (${detail}): start nats-server with -js, or enable JetStream for the account`;
  }
}

/** Asks the JetStream API for the account's info: undefined when it answers, else why not. */
async function jetStreamProblem(nc: NatsConnection, timeoutMs: number): Promise<string | undefined> {
  if (nc.info?.jetstream !== true) return "the server does not announce JetStream";
  let reply: { error?: { description?: string; code?: number } };
  try {
    const msg = await nc.request(JS_API_INFO, undefined, { timeout: timeoutMs });
    reply = msg.json();
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    if (name === "NoRespondersError" || /no responders/i.test(messageOf(error)))
      return "nothing answers the JetStream API";
    return `the JetStream API did not answer: ${messageOf(error)}`;
  }
  if (reply.error !== undefined) return reply.error.description ?? `error ${reply.error.code ?? "?"}`;
  return undefined;
}

/** `promise`, or a rejection after `ms` (the timer never outlives it). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const fail = (reason: CheckFailure, binding: MeshBinding, detail: string): CheckResult => ({
  ok: false,
  reason,
  message: failureMessage(reason, binding, detail),
});

/** Connects once to the binding's servers and reports whether the mesh can use them. */
export async function checkServer(binding: MeshBinding, options: CheckOptions = {}): Promise<CheckResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const nats = await loadNats();
  let connectOptions: BindingConnectOptions;
  try {
    connectOptions = loadConnectOptions(binding, nats, { ...(options.read && { read: options.read }) });
  } catch (error) {
    if (error instanceof CredentialsFileError) return fail("credentials_file", binding, error.message);
    throw error;
  }
  let nc: NatsConnection;
  try {
    nc = await nats.connect({
      ...connectOptions,
      name: `claudemesh check ${binding.name}`,
      ...(options.inboxPrefix !== undefined && { inboxPrefix: options.inboxPrefix }),
      timeout: timeoutMs,
      reconnect: false,
      maxReconnectAttempts: 0,
      waitOnFirstConnect: false,
      ignoreClusterUpdates: true,
    });
  } catch (error) {
    const reason = classifyConnectError(error);
    return fail(reason, binding, messageOf(error));
  }
  // The connection closes whatever happens below; a failure to close is not the check's.
  const closed = nc.closed().catch(() => undefined);
  try {
    const server = nc.getServer();
    const problem = await jetStreamProblem(nc, timeoutMs);
    if (problem !== undefined && options.requireJetStream !== false) return fail("no_jetstream", binding, problem);
    const rttMs = await within(nc.rtt(), timeoutMs, "the round trip");
    return { ok: true, server, rttMs, jetstream: problem === undefined };
  } catch (error) {
    return fail(classifyConnectError(error), binding, messageOf(error));
  } finally {
    await nc.close().catch(() => undefined);
    await closed;
  }
}
