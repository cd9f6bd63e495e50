// M3's floor for finding a dead daemon: a bare NATS client that answers requests on one subject,
// as a daemon answers its liveness pings, and prints "ready" once the server has its
// subscription. The benchmark kills it -9 and times how soon the server answers "no responders".
// Usage: node nats-responder.mjs <nats url> <subject>
import { createRequire } from "node:module";

const [url, subject] = process.argv.slice(2);
if (!url || !subject) {
  process.stderr.write("usage: nats-responder.mjs <nats url> <subject>\n");
  process.exit(2);
}
const require = createRequire(new URL("../../apps/daemon/package.json", import.meta.url));
const { connect } = require("@nats-io/transport-node");

const nc = await connect({ servers: url, name: "bench-responder" });
nc.subscribe(subject, {
  callback: (error, msg) => {
    if (error === null) msg.respond();
  },
});
await nc.flush();
process.stdout.write("ready\n");
