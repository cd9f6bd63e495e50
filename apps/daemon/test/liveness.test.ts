// Liveness against a real nats-server: the pings one daemon sends stay within its budget however
// many daemons it watches, every watched daemon still gets its turn, and one whose connection is
// gone is reported dead while those that answer never are.
import { pingSubject } from "@claudemesh/mesh";
import { Children, type NatsServer, startNatsServer, waitFor } from "@claudemesh/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Liveness } from "../src/nats/liveness.js";

const MESH = "team";
const SELF = "0000000000000000";
const idOf = (n: number): string => n.toString(16).padStart(16, "0");
const silent = { info() {}, warn() {}, error() {} };

const children = new Children();
let server: NatsServer;
let asker: NatsConnection;
let answerer: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ children });
  asker = await connect({ servers: server.url });
  answerer = await connect({ servers: server.url });
});

afterAll(async () => {
  await asker?.close();
  await answerer?.close();
  await children.stopAll();
});

it("keeps to its ping budget with 40 daemons, asks each in turn, and finds the one that is gone", async () => {
  const alive = Array.from({ length: 39 }, (_, i) => idOf(i + 1));
  const gone = idOf(999);
  const asked = new Map<string, number>();
  for (const daemon of alive) {
    answerer.subscribe(pingSubject(MESH, daemon), {
      callback: (error, msg) => {
        if (error !== null) return;
        asked.set(daemon, (asked.get(daemon) ?? 0) + 1);
        msg.respond();
      },
    });
  }
  await answerer.flush();

  const dead: string[] = [];
  const pingsPerSecond = 40;
  const liveness = new Liveness({
    mesh: MESH,
    self: SELF,
    logger: silent,
    daemons: () => [SELF, ...alive, gone],
    onDead: (daemon) => dead.push(daemon),
    graceMs: 0,
    pingsPerSecond,
  });
  const started = performance.now();
  liveness.attach(asker);
  try {
    await waitFor(() => dead.includes(gone), "the daemon with no connection reported dead", 15_000);
    await waitFor(() => alive.every((d) => (asked.get(d) ?? 0) >= 2), "every live daemon asked twice", 15_000);
  } finally {
    liveness.detach();
  }
  const seconds = (performance.now() - started) / 1000;
  const answered = [...asked.values()].reduce((a, b) => a + b, 0);
  // Everyone asked every 300 ms would be 40 × 3.3 = 133 a second; the budget is 40, plus the
  // confirmations of the one that is gone. A generous margin for timers on a busy machine.
  expect(answered / seconds).toBeLessThan(pingsPerSecond * 1.5);
  expect(dead).toEqual([gone]);
});
