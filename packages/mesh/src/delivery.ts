// Delivery states of one message for one recipient, and the only moves between them. Pure.
//
//   accepted ──→ delivered ──→ surfaced ──→ acked
//      │  └──────────┴──→ expired  (not surfaced within 7 days)
//      └──→ refused  (the recipient's policy or a full inbox, decided on delivery)
//
// States only move forward, and never claim more than happened: `delivered` means the message is
// in the recipient's inbox on the recipient's machine, `surfaced` that its text was handed to the
// agent in a form it reads (a tool result, hook output, CLI output; a push alone is not), `acked`
// that the recipient acknowledged it. acked, refused and expired are final.

export type DeliveryState = "accepted" | "delivered" | "surfaced" | "acked" | "refused" | "expired";
export const DELIVERY_STATES: readonly DeliveryState[] = [
  "accepted",
  "delivered",
  "surfaced",
  "acked",
  "refused",
  "expired",
];

/** Why a message was refused for a recipient. */
export type RefusalReason = "policy" | "inbox_full";

const RANK: Readonly<Record<DeliveryState, number>> = {
  accepted: 0,
  delivered: 1,
  surfaced: 2,
  acked: 3,
  refused: 4,
  expired: 4,
};

export function isFinal(state: DeliveryState): boolean {
  return state === "acked" || state === "refused" || state === "expired";
}

/** May a recipient's state move from `from` to `to`? Forward only; skipping ahead is forward. */
export function canAdvance(from: DeliveryState, to: DeliveryState): boolean {
  if (isFinal(from)) return false;
  if (to === "refused") return from === "accepted";
  if (to === "expired") return from === "accepted" || from === "delivered";
  return RANK[to] > RANK[from];
}

/** Has a recipient reached `wanted` (for `send --wait`), or a final state that means it never will? */
export function hasReached(state: DeliveryState, wanted: "delivered" | "surfaced" | "acked"): boolean {
  return state !== "refused" && state !== "expired" && RANK[state] >= RANK[wanted];
}

export const MESSAGE_EXPIRY_MS = 7 * 24 * 60 * 60 * 1000;
