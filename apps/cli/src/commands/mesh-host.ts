// `claudemesh mesh host|invite|join|revoke`: a team's own NATS server in three commands. `host`
// runs a nats-server set up for claudemesh (operator, account and signing keys of its own) and
// binds this machine's daemon to it; `invite` prints a join string; `join` (on another machine)
// redeems it for a member credential scoped to that daemon and binds the mesh; `revoke` takes a
// member or an invite back. The NATS code is loaded only by these commands.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type MeshesResponse, type MeshView, meshPath, ROUTES } from "@claudemesh/client";
import { decodeMemberKey, type MemberKey } from "@claudemesh/mesh";
import { call } from "../api.js";
import { type CliContext, warn } from "../context.js";
import { daemonProgram } from "../daemon-control.js";
import { CliError, EXIT } from "../exit-codes.js";
import {
  type HostServiceSpec,
  hostLaunchdPlist,
  hostServiceName,
  hostServicePath,
  hostSystemdUnit,
} from "../service/host-service.js";
import { runAll } from "../service/manager.js";
import { serviceCommands, serviceManagerFor } from "../service/platform.js";
import { ServiceValueError } from "../service/service-spec.js";
import { MESH_ADD_TIMEOUT_MS } from "./mesh.js";
import { byHand, ciValue, writeAtomically } from "./service.js";

export interface MeshHostOptions {
  listen?: string;
  advertise?: string[];
  dir?: string;
  natsServer?: string;
  /** Write and start a login service running this command instead of running it here. */
  install?: boolean;
  uninstall?: boolean;
  /** With --install: print the service file only. */
  dryRun?: boolean;
  force?: boolean;
}

export interface MeshInviteOptions {
  expires?: string;
  dir?: string;
  json?: boolean;
}

const hostModule = () => import("@claudemesh/host");

/** This user's member key on this machine (the daemon makes it: it is started when it is not running). */
async function memberKey(ctx: CliContext): Promise<MemberKey> {
  await call(ctx, { method: "GET", path: ROUTES.member });
  try {
    return decodeMemberKey(readFileSync(ctx.paths.memberKey, "utf8"));
  } catch (error) {
    throw new CliError(`the member key ${ctx.paths.memberKey} cannot be read: ${(error as Error).message}`);
  }
}

type HostModule = Awaited<ReturnType<typeof hostModule>>;

function hostDirOf(ctx: CliContext, host: HostModule, mesh: string, dir: string | undefined): string {
  return dir === undefined ? host.defaultHostDir(ctx.home, mesh) : resolve(ctx.cwd, dir);
}

/** The host dir of a mesh this machine hosts, its config and keys; exit 4 when there is none. */
function openHosted(ctx: CliContext, host: HostModule, mesh: string, dir: string | undefined) {
  const path = hostDirOf(ctx, host, mesh, dir);
  const hostDir = new host.HostDir(path);
  if (!hostDir.exists()) {
    throw new CliError(
      `no hosted mesh in ${path}: run claudemesh mesh host ${mesh} first (or give --dir)`,
      EXIT.notFound,
    );
  }
  try {
    const config = hostDir.readConfig();
    if (config.mesh !== mesh) throw new CliError(`${path} hosts mesh ${config.mesh}, not ${mesh}`, EXIT.usage);
    return { hostDir, config, keys: hostDir.readKeys() };
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError((error as Error).message);
  }
}

/** The daemon's creds file for a mesh: in the daemon dir (0700), 0600. */
function writeCreds(ctx: CliContext, mesh: string, creds: string): string {
  const dir = join(ctx.paths.dir, "meshes");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${mesh}.creds`);
  writeFileSync(path, creds, { mode: 0o600 });
  return path;
}

/** Binds the mesh with these creds; a mesh already bound is unbound first (the new creds win). */
async function bind(ctx: CliContext, mesh: string, servers: readonly string[], credsPath: string): Promise<MeshView> {
  const { meshes } = await call<MeshesResponse>(ctx, { method: "GET", path: ROUTES.meshes });
  if (meshes.some((m) => m.name === mesh)) await call(ctx, { method: "DELETE", path: meshPath(mesh) });
  return call<MeshView>(ctx, {
    method: "POST",
    path: ROUTES.meshes,
    body: { name: mesh, servers: [...servers], creds: credsPath },
    timeoutMs: MESH_ADD_TIMEOUT_MS,
  });
}

export async function meshHostCommand(ctx: CliContext, mesh: string, options: MeshHostOptions): Promise<number> {
  if (options.install || options.uninstall || options.dryRun) return hostServiceCommand(ctx, mesh, options);
  const host = await hostModule();
  const member = await memberKey(ctx);
  const dir = hostDirOf(ctx, host, mesh, options.dir);
  const say = (line: string) => ctx.stderr.write(`claudemesh: ${line}\n`);
  let running: Awaited<ReturnType<typeof host.startHost>>;
  try {
    running = await host.startHost({
      dir,
      mesh,
      ...(options.listen !== undefined && { listen: options.listen }),
      ...(options.advertise !== undefined && options.advertise.length > 0 && { advertise: options.advertise }),
      ...(options.natsServer !== undefined && { natsServer: options.natsServer }),
      hostMember: member.fingerprint,
      log: say,
    });
  } catch (error) {
    if (error instanceof host.HostDirError || error instanceof host.HostServerError) throw new CliError(error.message);
    if (error instanceof host.ListenError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
  const stopped = new Promise<void>((resolveStop) => {
    const stop = () => void running.stop().then(resolveStop, resolveStop);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    void running.server.ended.then(() => resolveStop());
  });
  try {
    // This machine's daemon is the mesh's first member, and the one allowed to make the stream
    // and the bucket (invited members are not).
    const { publicKeyOf, newUserSeed, credsText, mintMember } = host;
    const seed = newUserSeed();
    const self = { publicKey: member.key.publicKey, fingerprint: member.fingerprint };
    const minted = await mintMember(running.hostDir, running.keys, running.config, self, publicKeyOf(seed), {
      create: true,
      invite: null,
      now: ctx.now(),
    });
    const credsPath = writeCreds(ctx, mesh, credsText(minted.jwt, seed));
    await bind(ctx, mesh, [running.url], credsPath);
  } catch (error) {
    await running.stop();
    throw error;
  }
  ctx.stdout.write(
    `mesh ${mesh} hosted at ${running.config.servers.join(", ")} (nats-server pid ${running.server.pid}, ${dir})\n`,
  );
  say(`this machine's daemon is bound to it; invite another: claudemesh mesh invite ${mesh}`);
  say("stop with Ctrl-C (members keep their credentials; their messages wait until it is back)");
  await stopped;
  return EXIT.ok;
}

export async function meshInviteCommand(ctx: CliContext, mesh: string, options: MeshInviteOptions): Promise<number> {
  const host = await hostModule();
  const duration = host.parseDuration(options.expires ?? "7d");
  if (!duration.ok) throw new CliError(`--expires: ${duration.error}`, EXIT.usage);
  const { hostDir, config, keys } = openHosted(ctx, host, mesh, options.dir);
  const member = await memberKey(ctx);
  const invite = await host.createInvite(hostDir, keys, config, {
    expiresMs: duration.ms,
    now: ctx.now(),
    hostMember: member.fingerprint,
  });
  const expires = new Date(invite.expiresAt).toISOString();
  if (options.json) {
    ctx.stdout.write(`${JSON.stringify({ mesh, id: invite.id, expires_at: expires, join: invite.joinString })}\n`);
  } else {
    ctx.stdout.write(`${invite.joinString}\n`);
    ctx.stderr.write(
      `claudemesh: invite ${invite.id}, good once until ${expires}; on the other machine: claudemesh mesh join <the line above>\n`,
    );
  }
  return EXIT.ok;
}

export async function meshJoinCommand(ctx: CliContext, text: string, options: { json?: boolean }): Promise<number> {
  const host = await hostModule();
  let invite: ReturnType<typeof host.decodeJoinString>;
  try {
    invite = host.decodeJoinString(text);
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
  if (ctx.now() > invite.expiresAt) {
    throw new CliError(`this invite expired at ${new Date(invite.expiresAt).toISOString()}: ask for a new one`);
  }
  const member = await memberKey(ctx);
  let redeemed: { creds: string; hostMember: string };
  try {
    redeemed = await host.redeemInvite(invite, member.key);
  } catch (error) {
    if (error instanceof host.JoinError) throw new CliError(error.message);
    throw error;
  }
  const credsPath = writeCreds(ctx, invite.mesh, redeemed.creds);
  const view = await bind(ctx, invite.mesh, invite.servers, credsPath);
  if (options.json) ctx.stdout.write(`${JSON.stringify(view)}\n`);
  else {
    ctx.stdout.write(`mesh ${invite.mesh} joined: bound to ${invite.servers.join(", ")}\n`);
    ctx.stderr.write(
      `claudemesh: the host's member is ${redeemed.hostMember} (claudemesh peers --mesh ${invite.mesh})\n`,
    );
  }
  return EXIT.ok;
}

export async function meshRevokeCommand(
  ctx: CliContext,
  mesh: string,
  who: string,
  options: { dir?: string },
): Promise<number> {
  const host = await hostModule();
  const { hostDir, config, keys } = openHosted(ctx, host, mesh, options.dir);
  let named: { users: string[]; what: string };
  try {
    named = host.usersNamedBy(hostDir, who);
  } catch (error) {
    throw new CliError((error as Error).message, error instanceof host.RevokeError ? EXIT.notFound : EXIT.failure);
  }
  host.recordRevoked(hostDir, named.users, `revoked: ${who}`, Math.ceil(ctx.now() / 1000));
  try {
    await host.pushAccount(hostDir, keys, config);
  } catch (error) {
    ctx.stdout.write(`revoked ${named.what}\n`);
    ctx.stderr.write(
      `claudemesh: recorded, but the running server did not take it (${(error as Error).message}); it takes effect when mesh host starts\n`,
    );
    return EXIT.failure;
  }
  ctx.stdout.write(`revoked ${named.what}: the server refuses it from now on\n`);
  return EXIT.ok;
}

/** `mesh host NAME --install|--uninstall [--dry-run]`: the host as a login service, as `daemon install` does the daemon. */
export async function hostServiceCommand(
  ctx: CliContext,
  mesh: string,
  options: MeshHostOptions,
  platform: NodeJS.Platform = process.platform,
): Promise<number> {
  if (options.install && options.uninstall) throw new CliError("give --install or --uninstall, not both", EXIT.usage);
  const manager = serviceManagerFor(platform);
  if (manager === undefined) {
    throw new CliError(`no login service on ${platform}: run claudemesh mesh host ${mesh} in the foreground`);
  }
  const file = hostServicePath(manager, ctx.env, ctx.home, mesh);
  const name = hostServiceName(manager, mesh);
  const commands = serviceCommands(manager, file, process.getuid?.() ?? 0, name);
  if (options.uninstall) {
    if (!existsSync(file)) {
      ctx.stdout.write(`nothing to uninstall: no ${file}\n`);
      return EXIT.ok;
    }
    const unloaded = await runAll(commands.unload, ctx.env);
    if (!unloaded.ok)
      warn(ctx, `warning: could not stop ${name} (${unloaded.detail}); run by hand:\n${byHand(commands.unload)}`);
    rmSync(file, { force: true });
    if (unloaded.ok) await runAll(commands.afterRemove, ctx.env);
    ctx.stdout.write(`removed ${file}\n`);
    return EXIT.ok;
  }
  const hostDir = hostDirOf(ctx, await hostModule(), mesh, options.dir);
  const spec: HostServiceSpec = {
    execPath: process.execPath,
    cli: join(dirname(daemonProgram()), "cli.js"),
    mesh,
    hostDir,
    daemonDir: ctx.paths.dir,
    ...(options.listen !== undefined && { listen: options.listen }),
    advertise: options.advertise ?? [],
    log: join(hostDir, "host.log"),
  };
  let text: string;
  try {
    text = manager === "systemd" ? hostSystemdUnit(spec) : hostLaunchdPlist(spec);
  } catch (error) {
    if (error instanceof ServiceValueError) throw new CliError(`cannot write the ${manager} service: ${error.message}`);
    throw error;
  }
  if (options.dryRun) {
    ctx.stdout.write(text);
    return EXIT.ok;
  }
  const ci = ciValue(ctx.env);
  if (ci !== undefined && !options.force) {
    throw new CliError(`refusing to install a login service inside CI (CI=${ci}); pass --force to install it anyway`);
  }
  mkdirSync(hostDir, { recursive: true, mode: 0o700 });
  writeAtomically(file, text);
  ctx.stdout.write(`wrote ${file}\n`);
  const started = await runAll([...commands.unloadOld, ...commands.load, ...commands.enable], ctx.env);
  if (!started.ok) {
    warn(
      ctx,
      `warning: could not reach ${manager} (${started.detail}); the service file is installed but not started. ` +
        `Run:\n${byHand([...commands.load, ...commands.enable])}`,
    );
    return EXIT.ok;
  }
  ctx.stdout.write(`mesh ${mesh} hosted by ${manager} (${name}); its log: ${spec.log}\n`);
  return EXIT.ok;
}
