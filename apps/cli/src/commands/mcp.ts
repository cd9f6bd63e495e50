// `claudemesh mcp`: the stdio MCP server (mcp/server.ts). Loaded only by this command: the SDK
// stays out of every other command's start-up.
import type { CliContext } from "../context.js";
import { EXIT } from "../exit-codes.js";

export async function mcpCommand(ctx: CliContext): Promise<number> {
  const { serveMcp } = await import("../mcp/server.js");
  await serveMcp(ctx, { input: process.stdin, output: process.stdout });
  return EXIT.ok;
}
