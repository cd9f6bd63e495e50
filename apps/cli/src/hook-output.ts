// The text and JSON that `claudemesh hook <Event>` answers Claude Code with, without I/O: the
// orientation at a session's start and the pending peer messages, framed, within the budget
// Claude Code keeps. commands/hook.ts does the calls and the writing.

import type { WireMessage } from "@claudemesh/client";
import type { Session } from "@claudemesh/registry";
import { framePeerMessages } from "./agent-text.js";
import { type HookEvent, type HookPlan, holds } from "./hook-plan.js";

/** Claude Code keeps 10,000 characters of a hook's strings; the rest would go to a file. */
export const HOOK_TEXT_BUDGET = 9_000;

/** How many peers the orientation names, and how much of each summary; mesh_peers has the rest. */
const MAX_PEERS_NAMED = 20;
const MAX_SUMMARY = 120;

const CONTROL = /\p{Cc}/gu;

/** Text peers chose (names, summaries), kept on one line and bounded. */
function plain(text: string, max = Number.POSITIVE_INFINITY): string {
  const line = text.replace(CONTROL, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function peerLine(p: Session): string {
  const facts = [p.role ? `role ${plain(p.role)}` : "", p.status ?? ""].filter(Boolean);
  const summary = p.summary ? `: "${plain(p.summary, MAX_SUMMARY)}"` : "";
  return `- ${plain(p.display_name)}${facts.length > 0 ? ` (${facts.join(", ")})` : ""}${summary}`;
}

/** Who this session is in the mesh, who else is there, and the tools: facts, stated as such. */
export function orientationText(me: Session, peers: readonly Session[], waiting: number): string {
  const role = me.role ? `, role ${plain(me.role)}` : "";
  const lines = [
    `This Claude Code session is part of a claudemesh mesh: other agent sessions on this machine can ` +
      `exchange messages with it. This session is "${plain(me.display_name)}" (session ${me.session_id}) ` +
      `in mesh "${plain(me.mesh)}"${role}.`,
  ];
  if (peers.length === 0) lines.push("No other session is in the mesh right now.");
  else {
    lines.push(`${peers.length} peer session(s) in the mesh (summaries are what each peer says about itself):`);
    for (const p of peers.slice(0, MAX_PEERS_NAMED)) lines.push(peerLine(p));
    if (peers.length > MAX_PEERS_NAMED)
      lines.push(`- and ${peers.length - MAX_PEERS_NAMED} more (mesh_peers lists them all)`);
  }
  lines.push(
    "The mesh tools: mesh_peers lists the peers; mesh_send sends a message (to a name, a session id, " +
      "role:NAME or *); mesh_inbox reads waiting messages; mesh_ack acknowledges handled ones; " +
      "mesh_status sets this session's summary, status and inbound policy; mesh_whoami shows this session's identity.",
  );
  if (holds(me)) {
    lines.push(
      `This session's inbound policy is hold: peer messages are not shown here` +
        (waiting > 0 ? `; ${waiting} wait in mesh_inbox.` : "."),
    );
  } else if (waiting === 0) lines.push("No peer message is waiting.");
  return lines.join("\n");
}

/** What the hook knows once its calls are answered. */
export interface HookFacts {
  readonly session?: Session;
  readonly peers?: readonly Session[];
  /** From pendingMessages. */
  readonly pending: readonly WireMessage[];
}

export interface HookContext {
  readonly text: string;
  /** The messages the text holds: the only ones to mark surfaced, once it is written. */
  readonly shown: readonly WireMessage[];
}

/** The additional context to give Claude Code, or undefined when there is nothing to say. */
export function hookContext(
  plan: HookPlan,
  facts: HookFacts,
  now: number,
  budget: number = HOOK_TEXT_BUDGET,
): HookContext | undefined {
  const messages = holds(facts.session) ? [] : facts.pending;
  let text = "";
  if (plan.orientation) {
    if (facts.session === undefined) return undefined;
    text = orientationText(facts.session, facts.peers ?? [], facts.pending.length);
  }
  if (messages.length === 0) return text === "" ? undefined : { text, shown: [] };
  const separator = text === "" ? "" : "\n\n";
  const framed = framePeerMessages(messages, now, budget - text.length - separator.length);
  return { text: `${text}${separator}${framed.text}`, shown: framed.shown };
}

/** The one JSON object a hook prints on stdout. */
export function hookOutput(event: HookEvent, text: string): string {
  return `${JSON.stringify({ hookSpecificOutput: { hookEventName: event, additionalContext: text } })}\n`;
}
