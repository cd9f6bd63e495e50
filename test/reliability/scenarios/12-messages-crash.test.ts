// 12. Messages survive kill -9: 100 accepted messages, 50 of them surfaced (25 of those acked),
// then the daemon is killed the moment the last answer arrives. After the restart all 100 are
// there, in the recipient's inbox and in their senders' views, each with the state it had.
import { readFileSync } from "node:fs";
import { daemonPaths } from "@claudemesh/client";
import { afterAll, expect, it } from "vitest";
import {
  as,
  cleanup,
  daemonDir,
  http,
  inboxOf,
  killPid,
  record,
  register,
  sendMessage,
  spawnSleeper,
  startDaemon,
  token,
} from "../harness.js";

afterAll(cleanup);

it("keeps every accepted message and its state through kill -9", async () => {
  const dir = daemonDir();
  let daemon = await startDaemon(dir);
  const sleeper = spawnSleeper();
  const senders = [token(0x5e1), token(0x5e2)];
  const recipient = token(0x7ec);
  for (const [i, t] of [...senders, recipient].entries()) {
    const res = await register(daemon.socket, { token: t, pid: sleeper.pid, session_id: `s${i}` });
    expect(res.status).toBe(200);
  }
  const sent: { id: string; sender: string }[] = [];
  for (let i = 0; i < 100; i++) {
    const sender = senders[i % 2] as string;
    const res = await sendMessage(daemon.socket, sender, { to: "s2", text: `message ${i}` });
    expect(res.status).toBe(202);
    sent.push({ id: (JSON.parse(res.text) as { message: { id: string } }).message.id, sender });
  }
  const mark = (ids: string[], state: string) =>
    http(daemon.socket, "POST", "/v1/inbox/mark", {
      headers: { "content-type": "application/json", ...as(recipient) },
      body: JSON.stringify({ ids, state }),
    });
  expect(
    (
      await mark(
        sent.slice(0, 50).map((m) => m.id),
        "surfaced",
      )
    ).status,
  ).toBe(200);
  expect(
    (
      await mark(
        sent.slice(0, 25).map((m) => m.id),
        "acked",
      )
    ).status,
  ).toBe(200);
  const expected = new Map(sent.map((m, i) => [m.id, i < 25 ? "acked" : i < 50 ? "surfaced" : "delivered"]));

  // Crash with the last change only milliseconds old: the checkpoint most likely lacks it.
  await killPid(daemon.pid);
  let inCheckpoint = 0;
  try {
    inCheckpoint = readFileSync(daemonPaths(dir).messages, "utf8").split('"kind":"message"').length - 1;
  } catch {
    // no checkpoint yet: everything is in the journal
  }

  daemon = await startDaemon(dir);
  const inbox = await inboxOf(daemon.socket, recipient);
  expect(inbox).toHaveLength(100);
  expect(new Map(inbox.map((m) => [m.id, m.state]))).toEqual(expected);
  expect(inbox.map((m) => m.text)).toEqual(sent.map((_, i) => `message ${i}`));
  for (const { id, sender } of sent) {
    const res = await http(daemon.socket, "GET", `/v1/messages/${id}`, { headers: as(sender) });
    expect(res.status).toBe(200);
    expect(
      (JSON.parse(res.text) as { message: { recipients: { state: string }[] } }).message.recipients[0]?.state,
    ).toBe(expected.get(id));
  }
  record("messages-crash", {
    accepted: 100,
    surfaced: 25,
    acked: 25,
    in_checkpoint_at_crash: inCheckpoint,
    restored: inbox.length,
  });
});
