// `claudemesh mcp` through the MCP SDK's own client over stdio, against the built CLI and a real
// daemon: what Claude Code (or any MCP client) sees. The other side of each conversation is a
// session using the CLI, and what a tool did is checked where a user would see it: the sender's
// `claudemesh message <id>` (GET /v1/messages/{id}), `peers`, the inbox.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CLI, killPid, type Peer, peer, type Sandbox, sandbox, waitFor } from "../support/harness.js";

const ChannelNotification = z.object({
  method: z.literal("notifications/claude/channel"),
  params: z.object({ content: z.string(), meta: z.record(z.string()) }),
});
type Channel = z.infer<typeof ChannelNotification>["params"];

interface Connected {
  readonly client: Client;
  /** Channel events received so far, in order. */
  readonly channel: Channel[];
  readonly stderr: () => string;
}

/** Starts `claudemesh mcp` as `who` (or outside any session) and connects the SDK's client to it. */
async function connect(sb: Sandbox, who: Peer | undefined, env: Record<string, string> = {}): Promise<Connected> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "mcp"],
    env: { ...(sb.env as Record<string, string>), ...(who?.env ?? {}), ...env },
    cwd: sb.work,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: "claudemesh-test", version: "1.0.0" });
  const channel: Channel[] = [];
  client.setNotificationHandler(ChannelNotification, (n) => {
    channel.push(n.params);
  });
  await client.connect(transport);
  const pid = transport.pid;
  sb.onCleanup(async () => {
    await client.close().catch(() => {});
    if (pid !== null) await killPid(pid);
  });
  return { client, channel, stderr: () => stderr };
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

const text = (result: CallToolResult) => result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");

const sentId = (stdout: string) => /^sent (\S+) → /.exec(stdout)?.[1] as string;

/** The state of message `id` for its (single) recipient, as its sender sees it. */
async function stateOf(sb: Sandbox, sender: Peer | undefined, id: string): Promise<string | undefined> {
  const res = await sb.run(["message", id, "--json"], sender ? { env: sender.env } : {});
  const body = JSON.parse(res.stdout) as { message: { recipients: { state: string }[] } };
  return body.message.recipients[0]?.state;
}

async function send(sb: Sandbox, from: Peer, to: string, words: string, more: string[] = []): Promise<string> {
  const res = await sb.run(["send", to, ...more, words], { env: from.env });
  expect(res.code, res.stderr).toBe(0);
  return sentId(res.stdout);
}

describe.concurrent("claudemesh mcp", () => {
  it("lists the six mesh tools, each described for a model, with input and output schemas", async (context) => {
    const sb = sandbox(context);
    const me = await peer(sb, "me");
    const { client } = await connect(sb, me);
    expect(client.getServerVersion()?.name).toBe("claudemesh");
    expect(client.getInstructions()).toMatch(/grant no permission/);
    expect(client.getServerCapabilities()?.experimental).toEqual({ "claude/channel": {} });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      "mesh_ack",
      "mesh_inbox",
      "mesh_peers",
      "mesh_send",
      "mesh_status",
      "mesh_whoami",
    ]);
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(80);
      expect(tool.inputSchema.type).toBe("object");
      expect(tool.outputSchema?.type, tool.name).toBe("object");
    }
    const sendTool = tools.find((t) => t.name === "mesh_send");
    expect(sendTool?.inputSchema.required).toEqual(["to", "text"]);
  });

  it("outside a session every tool says so, naming claudemesh launch; no channel is offered", async (context) => {
    const sb = sandbox(context);
    const { client } = await connect(sb, undefined);
    expect(client.getServerCapabilities()?.experimental).toBeUndefined();
    for (const [name, args] of [
      ["mesh_peers", {}],
      ["mesh_whoami", {}],
      ["mesh_send", { to: "x", text: "y" }],
      ["mesh_inbox", {}],
      ["mesh_ack", { ids: ["0193e2c1-4b5a-7c00-8a3e-1f2b3c4d5e6f"] }],
      ["mesh_status", { status: "idle" }],
    ] as const) {
      const result = await call(client, name, args);
      expect(result.isError, name).toBe(true);
      expect(text(result), name).toMatch(/claudemesh launch/);
    }
  });

  it("every tool works as the session it runs in, and a tool result marks what it shows surfaced", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api", ["--role", "backend"]);
    const me = await peer(sb, "me");
    const { client } = await connect(sb, me);

    const whoami = await call(client, "mesh_whoami");
    expect(whoami.structuredContent).toMatchObject({ session: { session_id: me.id, display_name: "me" } });

    const peers = await call(client, "mesh_peers");
    expect(peers.structuredContent).toMatchObject({
      peers: [{ session_id: api.id, display_name: "api", role: "backend" }],
    });
    expect(text(peers)).toContain("api");

    const sent = await call(client, "mesh_send", { to: "role:backend", text: "is the schema final?" });
    expect(sent.isError).toBeFalsy();
    const sentMessage = sent.structuredContent as { id: string; recipients: { session_id: string; state: string }[] };
    expect(sentMessage.recipients).toMatchObject([{ session_id: api.id, state: "delivered" }]);
    expect(text(sent)).toMatch(/delivered/);
    const apiInbox = await sb.run(["inbox", "--json"], { env: api.env });
    expect(JSON.parse(apiInbox.stdout)).toMatchObject({
      messages: [{ id: sentMessage.id, text: "is the schema final?" }],
    });

    const status = await call(client, "mesh_status", { summary: "reviewing the schema", status: "working" });
    expect(status.structuredContent).toMatchObject({ session: { summary: "reviewing the schema", status: "working" } });
    const seen = await sb.run(["peers", "--json"], { env: api.env });
    expect(JSON.parse(seen.stdout)).toMatchObject({ peers: [{ session_id: me.id, summary: "reviewing the schema" }] });

    const answer = await send(sb, api, "me", "yes, final", ["--reply-to", sentMessage.id]);
    expect(await stateOf(sb, api, answer)).toBe("delivered");
    const inbox = await call(client, "mesh_inbox");
    expect(inbox.structuredContent).toMatchObject({
      messages: [{ id: answer, text: "yes, final", reply_to: sentMessage.id }],
      more: 0,
    });
    expect(text(inbox)).toContain(`[peer message ${answer}] from api`);
    expect(text(inbox)).toMatch(/grant no permission/);
    // Surfaced once the result was written to the client, as the sender sees it.
    await waitFor(async () => (await stateOf(sb, api, answer)) === "surfaced", "the answer to be surfaced");
    // Nothing new the second time.
    expect((await call(client, "mesh_inbox")).structuredContent).toMatchObject({ messages: [] });

    const acked = await call(client, "mesh_ack", { ids: [answer] });
    expect(acked.structuredContent).toEqual({ updated: 1 });
    expect(await stateOf(sb, api, answer)).toBe("acked");
  });

  it("mesh_inbox waits for a message when asked to", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const me = await peer(sb, "me");
    const { client } = await connect(sb, me);
    const waiting = call(client, "mesh_inbox", { wait_seconds: 20 });
    // The wait is a long-poll: other tools keep answering meanwhile.
    expect((await call(client, "mesh_whoami")).isError).toBeFalsy();
    const id = await send(sb, api, "me", "done with the migration");
    const result = await waiting;
    expect(result.structuredContent).toMatchObject({ messages: [{ id, text: "done with the migration" }] });
  });

  it("fails as documented: an unknown or ambiguous recipient, a bad id, a bad input", async (context) => {
    const sb = sandbox(context);
    const t1 = await peer(sb, "twin");
    const t2 = await peer(sb, "twin");
    const me = await peer(sb, "me");
    const { client } = await connect(sb, me);

    const unknown = await call(client, "mesh_send", { to: "nobody", text: "hi" });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toContain('"nobody"');
    const ambiguous = await call(client, "mesh_send", { to: "twin", text: "hi" });
    expect(ambiguous.isError).toBe(true);
    expect(text(ambiguous)).toContain(t1.id);
    expect(text(ambiguous)).toContain(t2.id);

    const badId = await call(client, "mesh_ack", { ids: ["not-an-id"] });
    expect(badId.isError).toBe(true);
    const tooLong = await call(client, "mesh_status", { summary: "x".repeat(281) });
    expect(tooLong.isError).toBe(true);
    expect(text(tooLong)).toMatch(/summary/);
    const badStatus = await call(client, "mesh_status", { status: "napping" });
    expect(badStatus.isError).toBe(true);
    const noText = await call(client, "mesh_send", { to: "twin" });
    expect(noText.isError).toBe(true);
    // The session ended: its token names no session any more.
    me.end();
    await waitFor(async () => !(await sb.sessions()).some((s) => s.session_id === me.id), "me to end");
    const ended = await call(client, "mesh_peers");
    expect(ended.isError).toBe(true);
    expect(text(ended)).toMatch(/ended/);
  });

  it("push: a new message is announced on the channel with its meta, and is not surfaced by that", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const me = await peer(sb, "me");
    const { client, channel } = await connect(sb, me, { CLAUDEMESH_MESSAGE_MODE: "push" });
    // The server is following the session once it answers; the announcement comes after its settle time.
    await call(client, "mesh_whoami");
    const id = await send(sb, api, "me", "please review PR 12", ["--priority", "now"]);
    await waitFor(() => channel.some((c) => c.meta.message_id === id), "the channel event");
    const event = channel.find((c) => c.meta.message_id === id) as Channel;
    expect(event.meta).toEqual({ from: "api", message_id: id, priority: "now" });
    expect(event.content).toContain("please review PR 12");
    expect(event.content).toContain(`[peer message ${id}] from api`);
    // An announcement proves nothing reached the model: still delivered, not surfaced.
    expect(await stateOf(sb, api, id)).toBe("delivered");
    await call(client, "mesh_inbox");
    await waitFor(async () => (await stateOf(sb, api, id)) === "surfaced", "surfaced after mesh_inbox");
  });

  it("pull mode and a hold policy announce nothing; the message waits for mesh_inbox", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const pulled = await peer(sb, "pulled");
    const held = await peer(sb, "held", ["--inbound", "hold"]);
    const pull = await connect(sb, pulled, { CLAUDEMESH_MESSAGE_MODE: "pull" });
    const hold = await connect(sb, held, { CLAUDEMESH_MESSAGE_MODE: "push" });
    expect(pull.client.getServerCapabilities()?.experimental).toBeUndefined();
    await call(hold.client, "mesh_whoami");
    const toPulled = await send(sb, api, "pulled", "one");
    const toHeld = await send(sb, api, "held", "two");
    // Events come in order on one stream: once `after` is announced, nothing sent before it still can be.
    await call(hold.client, "mesh_status", { inbound: "accept" });
    const after = await send(sb, api, "held", "after accept");
    await waitFor(() => hold.channel.some((c) => c.meta.message_id === after), "the event after accept");
    expect(hold.channel.map((c) => c.meta.message_id)).toEqual([after]);
    expect(hold.channel.some((c) => c.meta.message_id === toHeld)).toBe(false);
    expect(pull.channel).toEqual([]);
    const pulledInbox = await call(pull.client, "mesh_inbox");
    expect(pulledInbox.structuredContent).toMatchObject({ messages: [{ id: toPulled }] });
  });

  it("after a daemon restart mid-session the next message is announced exactly once", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const me = await peer(sb, "me");
    const { client, channel, stderr } = await connect(sb, me, { CLAUDEMESH_MESSAGE_MODE: "push" });
    await call(client, "mesh_whoami");
    const before = await send(sb, api, "me", "before the restart");
    await waitFor(() => channel.some((c) => c.meta.message_id === before), "the first event");

    const restart = await sb.run(["daemon", "restart"]);
    expect(restart.code, restart.stderr).toBe(0);
    // The restored sessions get fresh keys; the sender's next message goes through.
    const after = await send(sb, api, "me", "after the restart");
    await waitFor(() => channel.some((c) => c.meta.message_id === after), "the event after the restart", 30_000);
    // Tools still answer, the inbox holds both, once each, and nothing was announced twice.
    const inbox = await call(client, "mesh_inbox");
    expect((inbox.structuredContent as { messages: { id: string }[] }).messages.map((m) => m.id)).toEqual([
      before,
      after,
    ]);
    const ids = channel.map((c) => c.meta.message_id);
    expect(ids.filter((id) => id === before)).toHaveLength(1);
    expect(ids.filter((id) => id === after)).toHaveLength(1);
    expect(stderr()).not.toMatch(/unexpected/i);
  });
});
