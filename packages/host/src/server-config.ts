// The nats-server config `mesh host` writes: operator mode (the operator JWT, the system account,
// a full resolver that keeps account JWTs in a dir and takes signed updates), JetStream, the
// client listen address. Pure: text out. Tested with Debian's nats-server 2.9.10.

export interface ServerConfigInput {
  readonly serverName: string;
  readonly host: string;
  readonly port: number;
  readonly storeDir: string;
  readonly resolverDir: string;
  readonly operatorJwt: string;
  readonly systemAccount: string;
  /** Account public key → its JWT, loaded into the resolver at start. */
  readonly accounts: Readonly<Record<string, string>>;
  /** `host:port` for leaf servers to connect to (off unless given). */
  readonly leafListen?: string;
}

/** A config string value, quoted: the server's parser takes JSON strings. */
const q = (value: string): string => JSON.stringify(value);

export function serverConfigText(c: ServerConfigInput): string {
  const lines = [
    "# Written by `claudemesh mesh host`: it is rewritten on each start.",
    `server_name: ${q(c.serverName)}`,
    `host: ${q(c.host)}`,
    `port: ${c.port}`,
    "max_payload: 1MB",
    "",
    `operator: ${q(c.operatorJwt)}`,
    `system_account: ${q(c.systemAccount)}`,
    "resolver: {",
    "  type: full",
    `  dir: ${q(c.resolverDir)}`,
    "  allow_delete: false",
    '  interval: "2m"',
    "}",
    "resolver_preload: {",
    ...Object.entries(c.accounts).map(([key, jwt]) => `  ${key}: ${q(jwt)}`),
    "}",
    "",
    "jetstream: {",
    `  store_dir: ${q(c.storeDir)}`,
    "}",
  ];
  if (c.leafListen !== undefined) lines.push("", "leafnodes: {", `  listen: ${q(c.leafListen)}`, "}");
  return `${lines.join("\n")}\n`;
}
