// `mesh host` while it runs: the config written from the host dir, the nats-server started, the
// host's own connection (it answers joins), until stop().
import { credsAuthenticator, type NatsConnection, connect as natsConnect } from "@nats-io/transport-node";
import type { HostConfig, HostDir } from "./host-dir.js";
import type { HostKeys } from "./host-keys.js";
import { hostCreds, localUrl, prepareHost, writeServerConfig } from "./hosted-mesh.js";
import { JoinResponder } from "./join-responder.js";
import { type HostServer, startHostServer } from "./nats-server-process.js";

export interface StartHostOptions {
  readonly dir: string;
  readonly mesh: string;
  readonly listen?: string;
  readonly advertise?: readonly string[];
  readonly leafPort?: number;
  /** The nats-server program; from PATH unless given. */
  readonly natsServer?: string;
  readonly hostMember: string;
  readonly log: (line: string) => void;
  readonly now?: () => number;
}

export interface RunningHost {
  readonly hostDir: HostDir;
  readonly config: HostConfig;
  readonly keys: HostKeys;
  readonly created: boolean;
  readonly server: HostServer;
  readonly url: string;
  readonly responder: JoinResponder;
  stop(): Promise<void>;
}

export async function startHost(o: StartHostOptions): Promise<RunningHost> {
  const now = o.now ?? Date.now;
  const { hostDir, config, keys, created } = prepareHost({
    dir: o.dir,
    mesh: o.mesh,
    ...(o.listen !== undefined && { listen: o.listen }),
    ...(o.advertise !== undefined && { advertise: o.advertise }),
    ...(o.leafPort !== undefined && { leafPort: o.leafPort }),
    now: now(),
  });
  await writeServerConfig(hostDir, keys, config);
  const server = await startHostServer({
    ...(o.natsServer !== undefined && { command: o.natsServer }),
    configPath: hostDir.serverConfigPath,
    logPath: hostDir.serverLogPath,
    dir: hostDir.dir,
    host: config.host,
    port: config.port,
  });
  const url = localUrl(config);
  let nc: NatsConnection;
  try {
    nc = await natsConnect({
      servers: url,
      authenticator: credsAuthenticator(new TextEncoder().encode(await hostCreds(keys, "mesh"))),
      name: `claudemesh host ${config.mesh}`,
      maxReconnectAttempts: -1,
      timeout: 5_000,
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  const responder = new JoinResponder({ hostDir, keys, config, hostMember: o.hostMember, log: o.log, now });
  responder.start(nc);
  await nc.flush();
  return {
    hostDir,
    config,
    keys,
    created,
    server,
    url,
    responder,
    async stop() {
      responder.stop();
      await nc.close().catch(() => undefined);
      await server.stop();
    },
  };
}
