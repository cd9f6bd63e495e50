// 15. Presence secrets: sessions whose secret keys the test knows (it supplied them in their
// presence) live through messages, peers, lookups, PATCHes, event streams, metrics, a restart and
// a kill -9. No file of the daemon dir, no log line, no response and no event ever holds one of
// those keys, nor the field that would carry a secret.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { daemonPaths } from "@claudemesh/client";
import { attest, generateSigningKey, seedOf, signingKeyFromSeed } from "@claudemesh/mesh";
import { afterAll, expect, it } from "vitest";
import {
  as,
  cleanup,
  daemonDir,
  http,
  killPid,
  record,
  register,
  sendMessage,
  spawnSleeper,
  startDaemon,
  token,
  waitFor,
} from "../harness.js";

afterAll(cleanup);

/** Everything a stream sends until `stop()`. */
function capture(socket: string, tok?: string) {
  let text = "";
  const req = request({ socketPath: socket, path: "/v1/events", headers: tok ? as(tok) : {}, agent: false }, (res) => {
    res.setEncoding("utf8");
    res.on("data", (c: string) => {
      text += c;
    });
  });
  req.on("error", () => {});
  req.end();
  return { text: () => text, stop: () => req.destroy() };
}

it("never writes, logs, returns or streams a session secret key", async () => {
  const dir = daemonDir();
  let daemon = await startDaemon(dir);
  const sleeper = spawnSleeper();
  const member = signingKeyFromSeed(
    (JSON.parse(readFileSync(daemonPaths(dir).memberKey, "utf8")) as { secret_key: string }).secret_key,
  );
  const secrets: string[] = [];
  const tokens = [token(0x5ec1), token(0x5ec2), token(0x5ec3)];
  const seen: string[] = []; // every response body and event stream of the run
  for (const [i, t] of tokens.entries()) {
    const key = generateSigningKey();
    const seed = seedOf(key);
    secrets.push(seed, seed + key.publicKey);
    const presence = {
      session_pubkey: key.publicKey,
      session_secret_key: seed + key.publicKey,
      parent_attestation: attest(
        member,
        { mesh: "default", sessionId: `p${i}` },
        key.publicKey,
        Date.now() + 3_600_000,
      ),
    };
    const res = await register(daemon.socket, { token: t, pid: sleeper.pid, session_id: `p${i}`, presence });
    expect(res.status, res.text).toBe(200);
    seen.push(res.text);
  }
  // A daemon-minted session too, to run every path with both kinds of presence.
  await register(daemon.socket, { token: token(0x5ec4), pid: sleeper.pid, session_id: "minted" });

  const streams = [capture(daemon.socket), ...tokens.map((t) => capture(daemon.socket, t))];
  await new Promise((r) => setTimeout(r, 100));
  const calls = async () => {
    for (const [i, t] of tokens.entries()) {
      seen.push((await sendMessage(daemon.socket, t, { to: `p${(i + 1) % 3}`, text: `hello ${i}` })).text);
      seen.push((await sendMessage(daemon.socket, t, { to: "*", text: "all" })).text);
      seen.push((await http(daemon.socket, "GET", "/v1/sessions/me", { headers: as(t) })).text);
      seen.push((await http(daemon.socket, "GET", "/v1/peers", { headers: as(t) })).text);
      seen.push((await http(daemon.socket, "GET", "/v1/inbox?state=all", { headers: as(t) })).text);
      const patch = { summary: `working ${i}`, status: "working" };
      seen.push(
        (
          await http(daemon.socket, "PATCH", "/v1/sessions/me", {
            headers: { "content-type": "application/json", ...as(t) },
            body: JSON.stringify(patch),
          })
        ).text,
      );
    }
    for (const path of ["/v1/sessions", "/v1/peers", "/v1/health", "/v1/member", "/v1/metrics", "/v1/version"]) {
      seen.push((await http(daemon.socket, "GET", path)).text);
    }
  };
  await calls();
  await waitFor(() => streams[1]?.text().includes("event: message") ?? false, "message events");
  for (const s of streams) {
    seen.push(s.text());
    s.stop();
  }

  // A graceful restart, then a crash: what is on disk is all the daemon knew.
  const logs: string[] = [];
  await http(daemon.socket, "GET", "/v1/health");
  daemon.child.kill("SIGTERM");
  await waitFor(() => daemon.child.exitCode !== null, "graceful stop");
  logs.push(daemon.stderr());
  daemon = await startDaemon(dir);
  await calls();
  await killPid(daemon.pid);
  logs.push(daemon.stderr()); // in the foreground, the log goes to stderr
  expect(logs.join("")).toContain("session registered");

  const files = readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile());
  expect(files).toEqual(expect.arrayContaining(["member.key", "sessions.jsonl", "messages.jsonl"]));
  const texts = [
    ...files.map((f) => [f, readFileSync(join(dir, f), "latin1")] as const),
    ...seen.map((t, i) => [`answer ${i}`, t] as const),
  ];
  for (const [what, text] of texts) {
    for (const secret of secrets) expect(text.includes(secret), `${what} holds a session secret key`).toBe(false);
    if (what !== "member.key") expect(text.includes("secret_key"), `${what} names a secret key`).toBe(false);
  }
  record("presence-secrets", {
    sessions_with_known_keys: tokens.length,
    files_checked: files.length,
    log_lines_checked: logs.join("").split("\n").length - 1,
    answers_and_streams_checked: seen.length,
    secrets_checked: secrets.length,
  });
});
