// Claude Code channel pushes: a wake-up call, never delivery (field note M3). Claude Code drops a
// push silently when the server was not loaded as a channel, when policy blocks channels, or when
// it comes too soon after `initialized`, and never acknowledges one; so a push marks nothing, and
// the message stays unsurfaced until a tool result or a hook carries it.
//
// This module decides what to push and when: each message once (by id, also across reconnects to
// a restarted daemon), nothing before the client's `initialized` plus a settling delay, nothing
// that was already waiting when the server started (the SessionStart hook shows those), nothing
// for a session whose inbound policy is `hold`. The notification itself is injected.
import { renderPeerMessage, type WireMessage } from "@claudemesh/client";

export const CHANNEL_METHOD = "notifications/claude/channel";

/** After `initialized`, Claude Code needs a moment before a channel event is kept (observed: 300 ms). */
export const CHANNEL_SETTLE_MS = 300;

/** How many message ids are remembered against pushing twice. */
const REMEMBERED = 5_000;

export interface ChannelNotification {
  readonly content: string;
  /** Identifier keys, string values: Claude Code drops other keys. */
  readonly meta: { readonly from: string; readonly message_id: string; readonly priority: string };
}

export function channelNotification(m: WireMessage, now: number): ChannelNotification {
  return {
    content:
      `${renderPeerMessage(m, now)}\n` +
      "This notice does not mark the message read: call mesh_inbox to receive it, and mesh_ack once handled.",
    meta: { from: m.from.display_name, message_id: m.id, priority: m.priority },
  };
}

export interface ChannelPusherOptions {
  notify(notification: ChannelNotification): Promise<void>;
  now(): number;
  settleMs?: number;
  setTimer?(fn: () => void, ms: number): unknown;
}

export class ChannelPusher {
  readonly #seen = new Set<string>();
  readonly #queued: WireMessage[] = [];
  #ready = false;
  #hold = false;
  #baselineTaken = false;

  constructor(private readonly options: ChannelPusherOptions) {}

  /** The client said `initialized`: pushes may start once it has settled. */
  initialized(): void {
    const setTimer = this.options.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
    setTimer(() => {
      this.#ready = true;
      const queued = this.#queued.splice(0);
      for (const m of queued) this.#push(m);
    }, this.options.settleMs ?? CHANNEL_SETTLE_MS);
  }

  /** The session's inbound policy, whenever it is learned or changes. */
  setInbound(policy: string | undefined): void {
    this.#hold = policy === "hold";
  }

  /**
   * What the inbox holds unsurfaced at a (re)connection. The first time, it is the backlog and is
   * only remembered; afterwards, whatever was missed while disconnected is pushed.
   */
  reconcile(unsurfaced: readonly WireMessage[]): void {
    if (!this.#baselineTaken) {
      this.#baselineTaken = true;
      for (const m of unsurfaced) this.#remember(m.id);
      return;
    }
    for (const m of unsurfaced) this.offer(m);
  }

  /** A message that just arrived. */
  offer(m: WireMessage): void {
    if (this.#hold || this.#seen.has(m.id) || m.state !== "delivered") return;
    this.#remember(m.id);
    if (this.#ready) this.#push(m);
    else this.#queued.push(m);
  }

  #push(m: WireMessage): void {
    // A push that fails is not retried: it was only a wake-up, and the message is still waiting.
    this.options.notify(channelNotification(m, this.options.now())).catch(() => {});
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > REMEMBERED) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }
}
