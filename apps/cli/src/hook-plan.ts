// What `claudemesh hook <Event>` decides before it says anything, without I/O: which daemon
// calls an event makes and which pending messages it may show. A hook runs on every prompt and
// tool call, so each event asks for the least it needs, and this module stays small: the text of
// an answer (hook-output.ts) is loaded only when there is something to say.
import type { WireMessage } from "@claudemesh/client";
import type { Session } from "@claudemesh/registry";
import { HOOK_EVENTS, MCP_SERVER_NAME } from "./launch-wiring.js";

export type HookEvent = (typeof HOOK_EVENTS)[number];
export type Priority = WireMessage["priority"];

/** Its result already carried the messages: surfacing them again next to it would say them twice. */
export const INBOX_TOOL = `mcp__${MCP_SERVER_NAME}__mesh_inbox`;

export function isHookEvent(name: string): name is HookEvent {
  return (HOOK_EVENTS as readonly string[]).includes(name);
}

/** The fields of Claude Code's hook input that change what a hook does. */
export interface HookInput {
  readonly toolName?: string;
}

/** Claude Code's JSON on stdin. Missing, empty or broken input is not an error: it only tells less. */
export function parseHookInput(text: string): HookInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
  const toolName = (parsed as Record<string, unknown>)["tool_name"];
  return typeof toolName === "string" ? { toolName } : {};
}

/** The daemon calls an event makes up front, all in parallel. */
export interface HookPlan {
  /** PATCH /v1/sessions/me with this status. */
  readonly status?: "working" | "idle";
  /** GET /v1/sessions/me. */
  readonly me: boolean;
  /** GET /v1/peers. */
  readonly peers: boolean;
  /** GET /v1/inbox. */
  readonly inbox: boolean;
  /** The priorities this event may surface. */
  readonly priorities: readonly Priority[];
  /** Whether the answer starts with the orientation (needs `me` and `peers`). */
  readonly orientation: boolean;
}

const ALL: readonly Priority[] = ["now", "next", "low"];

/** What an event does; undefined when it does nothing at all (not even a call). */
export function planHook(event: HookEvent, input: HookInput): HookPlan | undefined {
  switch (event) {
    case "SessionStart":
      return { me: true, peers: true, inbox: true, priorities: ALL, orientation: true };
    case "UserPromptSubmit":
      return { status: "working", me: false, peers: false, inbox: true, priorities: ALL, orientation: false };
    case "PostToolUse":
      if (input.toolName === INBOX_TOOL) return undefined;
      // Between tool calls only what should not wait; `low` waits for the next prompt or start.
      return { me: false, peers: false, inbox: true, priorities: ["now", "next"], orientation: false };
    case "Stop":
      return { status: "idle", me: false, peers: false, inbox: false, priorities: [], orientation: false };
  }
}

/** The messages of the inbox this event may show: not yet surfaced, of a priority it surfaces. */
export function pendingMessages(plan: HookPlan, messages: readonly WireMessage[]): WireMessage[] {
  return messages.filter((m) => m.state === "delivered" && plan.priorities.includes(m.priority));
}

/**
 * Whether the session's inbound policy must still be asked (GET me): only when something could
 * be shown and no answer so far carried the session.
 */
export function needsPolicy(session: Session | undefined, pending: readonly WireMessage[]): boolean {
  return session === undefined && pending.length > 0;
}

/** `hold` means pull-only: messages wait until the session reads its inbox itself. */
export function holds(session: Session | undefined): boolean {
  return session?.inbound === "hold";
}
