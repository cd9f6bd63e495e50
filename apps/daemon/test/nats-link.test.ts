// The daemon's side of a NATS server, against a real nats-server: the one-shot check `mesh add`
// runs (ok with JetStream, and each reason it can fail for), and the long-lived link following a
// server that goes away and comes back, closing without leaving a timer or socket behind.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MeshBinding } from "@claudemesh/mesh";
import {
  Children,
  findExecutable,
  freePort,
  killAndWait,
  type NatsServer,
  natsGreets,
  startNatsServer,
  TempDirs,
  waitFor,
} from "@claudemesh/testkit";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { checkServer } from "../src/nats/check.js";
import { type LinkClock, type LinkState, NatsLink } from "../src/nats/link.js";
import { RecordingLogger } from "./unit/helpers.js";

const children = new Children();
const temps = new TempDirs("cmd-nats-");
afterEach(async () => {
  await children.stopAll();
  temps.removeAll();
});

async function server(args: readonly string[] = []): Promise<NatsServer> {
  const nats = await startNatsServer({ dir: temps.make(), children, args });
  onTestFinished(() => nats.stop());
  return nats;
}

/** A nats-server without JetStream: the kit's always has `-js`, so this one is spawned here. */
async function serverWithoutJetStream(): Promise<string> {
  const port = await freePort();
  const child: ChildProcess = children.track(
    spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" }),
  );
  onTestFinished(() => killAndWait(child, "SIGTERM"));
  await waitFor(() => natsGreets(port), "nats-server without JetStream to greet");
  return `nats://127.0.0.1:${port}`;
}

const binding = (servers: string[], extra: Partial<MeshBinding> = {}): MeshBinding => ({
  name: "team",
  servers,
  trustMembers: [],
  addedAt: 0,
  ...extra,
});

function tokenFile(token: string): string {
  const path = join(temps.make(), "token");
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return path;
}

describe("checkServer", () => {
  it("passes a JetStream server, with its address and a round trip", async () => {
    const nats = await server();
    const result = await checkServer(binding([nats.url]), { timeoutMs: 5_000 });
    expect(result).toMatchObject({ ok: true, server: `127.0.0.1:${nats.port}`, jetstream: true });
    expect(result.ok && typeof result.rttMs === "number" && result.rttMs >= 0).toBe(true);
  });

  it("says unreachable, quickly, when nothing listens", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const result = await checkServer(binding([url]), { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(result).toMatchObject({ ok: false, reason: "unreachable" });
    expect(!result.ok && result.message).toContain(url);
  });

  it("tells a wrong token (auth) from the right one (ok)", async () => {
    const nats = await server(["--auth", "s3cret"]);
    const wrong = tokenFile("nope");
    const refused = await checkServer(binding([nats.url], { credentials: { kind: "token", file: wrong } }));
    expect(refused).toMatchObject({ ok: false, reason: "auth" });
    expect(!refused.ok && refused.message).toContain(wrong);
    expect(!refused.ok && refused.message).not.toContain("nope");
    const none = await checkServer(binding([nats.url]));
    expect(none).toMatchObject({ ok: false, reason: "auth" });
    const right = tokenFile("s3cret");
    const passed = await checkServer(binding([nats.url], { credentials: { kind: "token", file: right } }));
    expect(passed).toMatchObject({ ok: true, jetstream: true });
  });

  it("says credentials_file when the token file is missing, before connecting", async () => {
    const nats = await server(["--auth", "s3cret"]);
    const missing = join(temps.make(), "absent");
    const result = await checkServer(binding([nats.url], { credentials: { kind: "token", file: missing } }));
    expect(result).toMatchObject({ ok: false, reason: "credentials_file" });
    expect(!result.ok && result.message).toContain(`cannot read the token file ${missing}: ENOENT`);
  });

  it("says no_jetstream for a server without -js (and passes it when JetStream is not required)", async () => {
    const url = await serverWithoutJetStream();
    const result = await checkServer(binding([url]));
    expect(result).toMatchObject({ ok: false, reason: "no_jetstream" });
    expect(!result.ok && result.message).toMatch(/-js/);
    expect(await checkServer(binding([url]), { requireJetStream: false })).toMatchObject({
      ok: true,
      jetstream: false,
    });
  });

  it.skipIf(findExecutable("openssl") === undefined)("says tls for a certificate it cannot verify", async () => {
    const dir = temps.make();
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        "/CN=claudemesh-test",
      ]),
      { stdio: "ignore" },
    );
    const nats = await server(["--tls", "--tlscert", cert, "--tlskey", key]);
    const result = await checkServer(binding([`tls://127.0.0.1:${nats.port}`]));
    expect(result).toMatchObject({ ok: false, reason: "tls" });
    expect(!result.ok && result.message).toContain("--tls-ca");
  });
});

/** Real timers, counted: how many of the link's are pending. */
function countingClock(): LinkClock & { pending(): number } {
  const live = new Set<NodeJS.Timeout>();
  return {
    setTimeout(fn, ms) {
      const handle = setTimeout(() => {
        live.delete(handle);
        fn();
      }, ms);
      live.add(handle);
      return handle;
    },
    clearTimeout(handle) {
      clearTimeout(handle as NodeJS.Timeout);
      live.delete(handle as NodeJS.Timeout);
    },
    pending: () => live.size,
  };
}

const resources = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;

describe("NatsLink", () => {
  it("follows the server away and back, then closes leaving no timer or socket", async () => {
    const nats = await server();
    const sockets = resources("TCPSocketWrap");
    const clock = countingClock();
    const logger = new RecordingLogger();
    const link = new NatsLink({ binding: binding([nats.url]), logger, clock });
    onTestFinished(() => link.close());
    const states: LinkState[] = [];
    link.onState((state) => states.push(state));
    expect(link.state).toBe("connecting");

    await waitFor(() => link.state === "connected", "the link to connect");
    expect(link.server).toBe(`127.0.0.1:${nats.port}`);
    await waitFor(() => link.lastRttMs !== undefined, "a first round trip");
    expect(typeof link.lastRttMs).toBe("number");

    await nats.stop();
    await waitFor(() => link.state === "reconnecting", "the link to notice the server is gone");
    await nats.restart();
    await waitFor(() => link.state === "connected", "the link to reconnect", 30_000);
    expect(states).toEqual(["connected", "reconnecting", "connected"]);
    expect(logger.records.some((r) => r.msg === "nats reconnected")).toBe(true);

    await link.close();
    expect(link.state).toBe("closed");
    expect(states.at(-1)).toBe("closed");
    expect(clock.pending()).toBe(0);
    await waitFor(() => resources("TCPSocketWrap") <= sockets, "the link's socket to go");
  });

  it("keeps trying a server that is not there yet, and connects once it is", async () => {
    const port = await freePort();
    const logger = new RecordingLogger();
    const link = new NatsLink({ binding: binding([`nats://127.0.0.1:${port}`]), logger, retryMs: 100 });
    onTestFinished(() => link.close());
    await waitFor(() => logger.records.some((r) => r.msg === "nats connect failed"), "a first failed connect");
    expect(link.state).toBe("connecting");
    const nats = await startNatsServer({ dir: temps.make(), children, port });
    onTestFinished(() => nats.stop());
    await waitFor(() => link.state === "connected", "the link to connect once the server is up");
    await link.close();
    expect(link.state).toBe("closed");
  });

  it("closes at once while still connecting, with no timer left", async () => {
    const timers = resources("Timeout");
    const link = new NatsLink({
      binding: binding([`nats://127.0.0.1:${await freePort()}`]),
      logger: new RecordingLogger(),
      retryMs: 50,
    });
    await waitFor(() => true, "a tick");
    await link.close();
    expect(link.state).toBe("closed");
    await waitFor(() => resources("Timeout") <= timers, "every timer to go");
  });
});
