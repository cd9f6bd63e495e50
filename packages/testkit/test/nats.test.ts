// A probe of what the cross-machine mesh will rely on, against a real nats-server (Debian's
// 2.9.10 in CI) and the real nats.js v3 client: KV watches, a limits stream with dedupe and a
// filtered durable consumer, and all of it surviving a server restart under a client that
// reconnects by itself. Also the kit's own server control: stop, kill -9, pause, restart.
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { Kvm, type KvWatchEntry } from "@nats-io/kv";
import { connect, type NatsConnection, type NodeConnectionOptions, nanos } from "@nats-io/transport-node";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import {
  Children,
  NATS_SERVER_MISSING,
  type NatsServer,
  natsGreets,
  processGone,
  startNatsServer,
  TempDirs,
  waitFor,
} from "../src/index.js";

const children = new Children();
const temps = new TempDirs("cmk-nats-");
afterEach(async () => {
  await children.stopAll();
  temps.removeAll();
});

/** A server of the test's own, stopped by pid when the test ends whatever happened. */
async function server(): Promise<NatsServer> {
  const nats = await startNatsServer({ dir: temps.make(), children, monitor: true });
  onTestFinished(() => nats.stop());
  return nats;
}

/** A connection that keeps reconnecting, quickly, closed when the test ends. */
async function client(nats: NatsServer, options: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  const nc = await connect({
    servers: nats.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    reconnectJitter: 0,
    ...options,
  });
  onTestFinished(async () => {
    if (!nc.isClosed()) await nc.close();
  });
  return nc;
}

/** Every status event's type, as they come, until the connection closes. */
function statusTypes(nc: NatsConnection): string[] {
  const types: string[] = [];
  void (async () => {
    for await (const s of nc.status()) types.push(s.type);
  })();
  return types;
}

describe("startNatsServer", () => {
  it("says how to install nats-server when it is missing", async () => {
    await expect(startNatsServer({ command: "/nonexistent/nats-server" })).rejects.toThrow(NATS_SERVER_MISSING);
  });

  it("serves on 127.0.0.1 with JetStream and monitoring, and stops by pid", async () => {
    const nats = await server();
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    const varz = (await (await fetch(`${nats.monitorUrl}/varz`)).json()) as { version: string; port: number };
    expect(varz.port).toBe(nats.port);
    const jsz = (await (await fetch(`${nats.monitorUrl}/jsz`)).json()) as { config?: { store_dir: string } };
    expect(jsz.config?.store_dir).toContain(nats.storeDir);
    const pid = nats.pid;
    await nats.stop();
    expect(processGone(pid)).toBe(true);
    expect(await natsGreets(nats.port)).toBe(false);
    await nats.stop(); // idempotent
  });

  it("pauses and resumes; restarts after kill -9 on the same port", async () => {
    const nats = await server();
    await nats.pause();
    expect(await natsGreets(nats.port, 300)).toBe(false); // the port is open, nobody answers
    await nats.resume();
    expect(await natsGreets(nats.port)).toBe(true);
    const first = nats.pid;
    await nats.kill9();
    expect(processGone(first)).toBe(true);
    await nats.restart();
    expect(nats.pid).not.toBe(first);
    expect(await natsGreets(nats.port)).toBe(true);
  });
});

describe("the nats.js v3 client against it", () => {
  it("connects", async () => {
    const nats = await server();
    const nc = await client(nats);
    expect(nc.getServer()).toBe(`127.0.0.1:${nats.port}`);
    expect(await nc.rtt()).toBeGreaterThanOrEqual(0);
    expect(nc.info?.jetstream).toBe(true);
  });

  it("KV: a watcher on another connection sees a put, then the delete", async () => {
    const nats = await server();
    const writer = await client(nats);
    const reader = await client(nats);
    const kv = await new Kvm(writer).create("presence", { history: 1, ttl: 15_000 });
    const status = await kv.status();
    expect(status.history).toBe(1);
    expect(status.ttl).toBe(15_000);

    const watched = await (await new Kvm(reader).open("presence")).watch({ key: "m1.>" });
    const seen: KvWatchEntry[] = [];
    void (async () => {
      for await (const e of watched) seen.push(e);
    })();
    onTestFinished(() => watched.stop());

    await kv.put("m1.d1", "online");
    await kv.put("m2.d1", "elsewhere"); // outside the watched keys
    const put = await waitFor(() => seen.find((e) => e.key === "m1.d1" && e.operation === "PUT"), "the PUT");
    expect(put.string()).toBe("online");
    await kv.delete("m1.d1");
    const del = await waitFor(() => seen.find((e) => e.key === "m1.d1" && e.operation !== "PUT"), "the delete");
    expect(["DEL", "PURGE"]).toContain(del.operation);
    expect(del.operation).toBe("DEL"); // delete() marks; purge() would say PURGE
    expect(seen.some((e) => e.key.startsWith("m2."))).toBe(false);
    expect((await kv.get("m1.d1"))?.operation).toBe("DEL");
  });

  it("a limits stream dedupes by Nats-Msg-Id; a filtered durable consumer gets only its own", async () => {
    const nats = await server();
    const nc = await client(nats);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "CM",
      subjects: ["cm.*.to.>"],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
    });
    await jsm.consumers.add("CM", {
      durable_name: "m1-d1",
      filter_subject: "cm.m1.to.d1.>",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    const js = jetstream(nc);
    const first = await js.publish("cm.m1.to.d1.s1", "hello", { msgID: "msg-1" });
    const again = await js.publish("cm.m1.to.d1.s1", "hello", { msgID: "msg-1" });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
    await js.publish("cm.m1.to.d2.s1", "not for d1", { msgID: "msg-2" });
    expect((await jsm.streams.info("CM")).state.messages).toBe(2);

    const consumer = await js.consumers.get("CM", "m1-d1");
    const m = await consumer.next({ expires: 5_000 });
    expect(m?.subject).toBe("cm.m1.to.d1.s1");
    expect(m?.string()).toBe("hello");
    expect(m?.headers?.get("Nats-Msg-Id")).toBe("msg-1");
    expect(await m?.ackAck()).toBe(true);
    const info = await consumer.info();
    expect(info.num_pending).toBe(0);
    expect(info.num_ack_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(first.seq);
  });

  it("survives a restart: messages and the consumer's position kept, the client back by itself", async () => {
    const nats = await server();
    const nc = await client(nats);
    const types = statusTypes(nc);
    // One that gives up at the first loss: closed() is how the product learns of it.
    const giveUp = await client(nats, { reconnect: false });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "CM", subjects: ["cm.*.to.>"], storage: StorageType.File });
    await jsm.consumers.add("CM", {
      durable_name: "m1-d1",
      filter_subject: "cm.m1.to.d1.>",
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(2_000),
    });
    const js = jetstream(nc);
    for (const n of [1, 2]) await js.publish("cm.m1.to.d1.s1", `m${n}`, { msgID: `id-${n}` });
    const m1 = await (await js.consumers.get("CM", "m1-d1")).next({ expires: 5_000 });
    expect(m1?.string()).toBe("m1");
    expect(await m1?.ackAck()).toBe(true);

    const before = nats.pid;
    await nats.restart();
    expect(nats.pid).not.toBe(before);
    expect(await giveUp.closed()).toBeUndefined(); // resolves, with no error, once it gives up
    expect(giveUp.isClosed()).toBe(true);
    await waitFor(() => types.includes("reconnect"), "the client to reconnect", 20_000);
    expect(types).toContain("disconnect");
    expect(types.indexOf("disconnect")).toBeLessThan(types.indexOf("reconnect"));
    expect(nc.isClosed()).toBe(false);

    // JetStream answers again (it is up before the listener, but poll: the first calls may race).
    const state = await waitFor(async () => (await jsm.streams.info("CM")).state, "the stream after the restart");
    expect(state.messages).toBe(2);
    const m2 = await waitFor(
      async () => (await js.consumers.get("CM", "m1-d1")).next({ expires: 2_000 }),
      "the second message after the restart",
    );
    expect(m2.string()).toBe("m2");
    expect(m2.redelivered).toBe(false);
    expect(await m2.ackAck()).toBe(true);
    // Dedupe state is persisted too: the window still knows id-2.
    expect((await js.publish("cm.m1.to.d1.s1", "m2", { msgID: "id-2" })).duplicate).toBe(true);

    // A crash, not a clean stop. Wait for the client to see it go and come back: a JetStream
    // request sent across the outage is lost, and times out (5 s by default) instead of failing.
    await nats.kill9();
    await waitFor(() => types.filter((t) => t === "disconnect").length === 2, "the client to see the crash");
    await nats.restart();
    await waitFor(() => types.filter((t) => t === "reconnect").length === 2, "the client to reconnect again");
    expect((await jsm.streams.info("CM")).state.messages).toBe(2);
    // The stream's messages survive kill -9, but the consumer's state is written lazily: 2.9.10
    // may forget confirmed acks (m2's; in CI once m1's too) and delivers those messages again.
    // Delivery is at least once; a receiver dedupes by Nats-Msg-Id.
    const floor = (await jsm.consumers.info("CM", "m1-d1")).ack_floor.stream_seq;
    expect([0, 1, 2]).toContain(floor);
    const consumer = await js.consumers.get("CM", "m1-d1");
    for (let seq = floor + 1; seq <= 2; seq++) {
      const again = await consumer.next({ expires: 10_000 });
      expect(again?.string()).toBe(`m${seq}`);
      expect(again?.headers?.get("Nats-Msg-Id")).toBe(`id-${seq}`);
      // Whether it comes marked redelivered depends on how much consumer state the crash lost.
      expect(await again?.ackAck()).toBe(true);
    }
    expect(await consumer.next({ expires: 1_000 })).toBeNull();

    await nc.close();
    expect(await nc.closed()).toBeUndefined();
    await waitFor(() => types.includes("close"), "the close status");
  });
});
