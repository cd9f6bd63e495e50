// Messages handed to the agent but not yet marked so at the daemon. Marking follows the surface
// (never precedes it), and a daemon away at that moment must not lose the mark: what the daemon
// did not take stays pending for the next flush. Used by `inbox`, the MCP server and the hooks.
import type { WireMessage } from "@claudemesh/client";

export type MarkState = "surfaced" | "acked";

/** Sends one mark request; throws when the daemon did not take it. */
export type SendMarks = (ids: readonly string[], state: MarkState) => Promise<void>;

const FINAL = new Set(["acked", "refused", "expired"]);

export class PendingMarks {
  readonly surfaced = new Set<string>();
  readonly acked = new Set<string>();

  constructor(private readonly send: SendMarks) {}

  /** Messages just surfaced; with `ack`, acknowledged too. Those already further along are skipped. */
  add(messages: readonly WireMessage[], ack = false): void {
    for (const m of messages) {
      if (m.state === "delivered") this.surfaced.add(m.id);
      if (ack && !FINAL.has(m.state)) this.acked.add(m.id);
    }
  }

  get size(): number {
    return this.surfaced.size + this.acked.size;
  }

  /** Sends what is pending, surfaced before acked. Throws the sender's error; the rest stays pending. */
  async flush(): Promise<void> {
    for (const [state, ids] of [
      ["surfaced", this.surfaced],
      ["acked", this.acked],
    ] as const) {
      if (ids.size === 0) continue;
      const batch = [...ids];
      await this.send(batch, state);
      for (const id of batch) ids.delete(id);
    }
  }
}
