// What the mesh tools answer besides messages (those are framed by agent-text.ts): peers, the
// session itself, recipients' states, as readable text for the model. Pure.
import { formatAge, type WireRecipient } from "@claudemesh/client";
import type { Session } from "@claudemesh/registry";

export const STATE_MEANINGS =
  "States: accepted (the sender's daemon has it), delivered (in the recipient's inbox), surfaced " +
  "(its text was handed to the recipient agent), acked (the recipient acknowledged it), refused " +
  "(the recipient's policy or a full inbox), expired (not read within 7 days).";

export function peerSummary(p: Session, now: number) {
  return {
    session_id: p.session_id,
    display_name: p.display_name,
    role: p.role ?? null,
    groups: p.groups ?? [],
    status: p.status ?? null,
    summary: p.summary ?? null,
    origin: p.origin ?? "local",
    host: p.host ?? null,
    age: formatAge(now - p.registered_at),
  };
}

export function peersText(peers: readonly ReturnType<typeof peerSummary>[]): string {
  if (peers.length === 0) return "No other session is in your mesh right now.";
  const lines = peers.map((p) => {
    const parts = [`${p.display_name} (session ${p.session_id})`];
    if (p.role) parts.push(`role ${p.role}`);
    if (p.groups.length > 0) parts.push(`groups ${p.groups.map((g) => `@${g}`).join(" ")}`);
    parts.push(p.status ?? "no status");
    if (p.origin === "remote") parts.push(`on ${p.host ?? "another machine"}`);
    parts.push(`up ${p.age}`);
    return `- ${parts.join(", ")}${p.summary ? `: "${p.summary}"` : ""}`;
  });
  return `${peers.length} peer(s) in your mesh:\n${lines.join("\n")}`;
}

export function recipientsText(recipients: readonly WireRecipient[]): string {
  return recipients
    .map((r) => `- ${r.display_name} (session ${r.session_id}): ${r.state}${r.reason ? ` (${r.reason})` : ""}`)
    .join("\n");
}

/** The session as it presents itself to peers, for whoami and status. */
export function sessionText(s: Session, now: number): string {
  const lines = [
    `You are ${s.display_name} (session ${s.session_id}) in mesh ${s.mesh}, up ${formatAge(now - s.registered_at)}.`,
    `Role: ${s.role ?? "none"}. Groups: ${s.groups && s.groups.length > 0 ? s.groups.map((g) => `@${g}`).join(" ") : "none"}.`,
    `Status: ${s.status ?? "none"}. Summary: ${s.summary ? `"${s.summary}"` : "none"}. Inbound messages: ${s.inbound ?? "accept"}.`,
  ];
  if (s.member_fingerprint) lines.push(`Member key (the user's): ${s.member_fingerprint}.`);
  if (s.session_pubkey) lines.push(`Session key: ${s.session_pubkey}.`);
  lines.push(`Peers address you as ${s.display_name} or ${s.session_id}${s.role ? ` or role:${s.role}` : ""}.`);
  return lines.join("\n");
}
