// Receipts back to the daemons that sent us messages: each state a local recipient reaches
// (delivered, surfaced, acked, refused, expired) goes to `cm.<mesh>.to.<sender daemon>.r`, signed
// by our member key, so the sender sees the true state of its message on this machine. Sent
// after the state is journaled (the store's change comes after it), retried until the server
// confirms, and sent again for everything on each new connection: a receipt is idempotent (a
// state the sender has already is ignored there) and dedupes by Nats-Msg-Id.
import {
  daemonIdOfFingerprint,
  type MemberKey,
  type MessageStore,
  type Receipt,
  receiptSubject,
  type StoreChange,
  signReceipt,
} from "@claudemesh/mesh";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { LinkLogger } from "./link.js";
import { RetryTimer } from "./retry-timer.js";

export interface ReceiptSenderOptions {
  readonly mesh: string;
  readonly self: string;
  readonly member: MemberKey;
  readonly store: MessageStore;
  readonly logger: LinkLogger;
  /** Resolves once every store change so far is journaled: no receipt says more than disk holds. */
  readonly persisted: () => Promise<void>;
  readonly retryMs?: number;
}

interface Pending {
  readonly daemon: string;
  readonly receipt: Receipt;
}

export class ReceiptSender {
  readonly #o: ReceiptSenderOptions;
  readonly #pending = new Map<string, Pending>();
  readonly #inFlight = new Set<string>();
  #js: JetStreamClient | undefined;
  readonly #retry: RetryTimer;
  #sent = 0;

  constructor(options: ReceiptSenderOptions) {
    this.#o = options;
    this.#retry = new RetryTimer(() => this.#pump(), options.retryMs ?? 1_000);
  }

  get depth(): number {
    return this.#pending.size;
  }

  get sent(): number {
    return this.#sent;
  }

  /** The daemon that sent a message, when it is another one. */
  #senderOf(fingerprint: string): string | undefined {
    const daemon = daemonIdOfFingerprint(fingerprint);
    return daemon === undefined || daemon === this.#o.self ? undefined : daemon;
  }

  /** Connected: every state of every message from other daemons goes (again), then what comes. */
  attach(js: JetStreamClient): void {
    this.#js = js;
    for (const message of this.#o.store.snapshot().messages) {
      const { envelope } = message;
      if (envelope.mesh !== this.#o.mesh) continue;
      for (const r of message.recipients) {
        if (r.state !== "accepted") this.queue(envelope.id, envelope.from.member_fingerprint, r);
      }
    }
    this.#pump();
  }

  detach(): void {
    this.#js = undefined;
    this.#retry.cancel();
  }

  onStoreChange(change: StoreChange): void {
    if (change.kind !== "state" || change.envelope.mesh !== this.#o.mesh) return;
    this.queue(change.envelope.id, change.envelope.from.member_fingerprint, change.recipient);
    this.#o.persisted().then(
      () => this.#pump(),
      () => this.#retryLater(),
    );
  }

  /** A recipient's current state, for a message another daemon sent (for a copy received again, too). */
  queue(
    messageId: string,
    senderFingerprint: string,
    r: { session_id: string; state: Receipt["state"]; updated_at: number; reason?: Receipt["reason"] },
  ): void {
    const daemon = this.#senderOf(senderFingerprint);
    if (daemon === undefined || r.state === "accepted") return;
    const receipt = signReceipt(
      {
        mesh: this.#o.mesh,
        message_id: messageId,
        session_id: r.session_id,
        state: r.state,
        updated_at: r.updated_at,
        reason: r.reason ?? null,
      },
      this.#o.member.key,
    );
    // One per recipient: a later state replaces an earlier one not yet sent.
    this.#pending.set(`${messageId}\u0000${r.session_id}`, { daemon, receipt });
  }

  flush(): void {
    this.#pump();
  }

  #pump(): void {
    const js = this.#js;
    if (js === undefined) return;
    for (const [key, { daemon, receipt }] of this.#pending) {
      if (this.#inFlight.has(key)) continue;
      if (this.#inFlight.size >= 64) return;
      this.#inFlight.add(key);
      js.publish(receiptSubject(this.#o.mesh, daemon), JSON.stringify(receipt), {
        msgID: `r:${receipt.message_id}:${receipt.session_id}:${receipt.state}`,
        timeout: 5_000,
      }).then(
        () => {
          this.#inFlight.delete(key);
          this.#sent++;
          // Unless a newer state was queued meanwhile.
          if (this.#pending.get(key)?.receipt === receipt) this.#pending.delete(key);
          this.#pump();
        },
        (error: unknown) => {
          this.#inFlight.delete(key);
          this.#o.logger.warn("receipt publish failed; retrying", {
            mesh: this.#o.mesh,
            error: error instanceof Error ? error.message : String(error),
          });
          this.#retryLater();
        },
      );
    }
  }

  #retryLater(): void {
    if (this.#js !== undefined) this.#retry.schedule();
  }
}
