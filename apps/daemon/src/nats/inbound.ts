// What the message stream holds for this daemon in one mesh, read through its durable consumer
// (nats-layout.ts): sealed messages for its sessions and receipts for messages it sent. A frame
// is acknowledged to JetStream only once what it brought is journaled (and, for a message, its
// receipt queued): a daemon killed in between gets it again, and the store dedupes by message
// id. Frames that can never be taken (forged, tampered, sealed to a key long gone) are
// acknowledged too, and counted: redelivering them would change nothing.
import { createHash } from "node:crypto";
import {
  consumerName,
  type FrameRefusal,
  inboundFilter,
  MESSAGE_STREAM,
  MESSAGE_STREAM_SUBJECTS,
  type MessageService,
  type MessageStore,
  openMessageFrame,
  type PresenceTrust,
  parseStreamSubject,
  type RemoteDirectory,
  readReceipt,
  readWireJson,
  trusts,
  WIRE_LIMITS,
} from "@claudemesh/mesh";
import { forAwaitSliced, type SessionRegistry } from "@claudemesh/registry";
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { LinkLogger } from "./link.js";
import { type JetStreamModule, loadJetStream, loadNats } from "./load.js";
import type { ReceiptSender } from "./receipts.js";
import { RefusalLog } from "./refusal-log.js";
import type { SealingKeys } from "./sealing-keys.js";

export const STREAM_LIMITS = {
  maxAgeMs: 7 * 24 * 60 * 60 * 1000,
  duplicateWindowMs: 2 * 60 * 1000,
  ackWaitMs: 30_000,
  maxAckPending: 1_000,
} as const;

/**
 * Why a frame changed nothing. `duplicate` is a new copy on the stream (not a redelivery) of a
 * message the recipient holds already: a replay, or a sender's re-publish after the stream's
 * two-minute dedupe window.
 */
export type InboundRefusal = FrameRefusal | "unknown_recipient" | "bad_receipt" | "foreign_receipt" | "duplicate";

export interface InboundOptions {
  readonly mesh: string;
  readonly self: string;
  readonly store: MessageStore;
  readonly service: MessageService;
  readonly registry: SessionRegistry;
  readonly sealing: SealingKeys;
  readonly directory: RemoteDirectory;
  readonly trust: PresenceTrust;
  readonly receipts: ReceiptSender;
  readonly persisted: () => Promise<void>;
  readonly logger: LinkLogger;
  readonly onRefused: (reason: InboundRefusal) => void;
  readonly now?: () => number;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Replicas for what a daemon makes (the stream here, the bucket in presence-sync.ts): 3 on a
 * cluster, so that a majority outlives any one node; a single server refuses more than 1
 * ("replicas > 1 not supported in non-clustered mode", 10074) and gets 1. A cluster that cannot
 * place 3 (fewer nodes up, or a 2-node cluster) refuses the create: the daemon retries on its next
 * attach rather than settle for less, since what it makes stays as made. Only STREAM.CREATE is
 * used, so the allowlist of docs/teams.md suffices.
 */
export const REPLICAS = 3;

const isNonClustered = (error: unknown): boolean => /non-clustered/i.test(messageOf(error));

/** `create(REPLICAS)`, or `create(1)` when the server is not a cluster. */
export async function withReplicas<T>(create: (replicas: number) => Promise<T>): Promise<T> {
  try {
    return await create(REPLICAS);
  } catch (error) {
    if (!isNonClustered(error)) throw error;
    return create(1);
  }
}

/** Makes the stream when it is missing (an operator may have made it, with other limits: kept). */
export async function ensureStream(jsm: JetStreamManager, js: JetStreamModule): Promise<void> {
  try {
    await jsm.streams.info(MESSAGE_STREAM);
    return;
  } catch (error) {
    if (!/not found/i.test(messageOf(error))) throw error;
  }
  const { nanos } = await loadNats();
  try {
    await withReplicas((replicas) =>
      jsm.streams.add({
        name: MESSAGE_STREAM,
        subjects: [MESSAGE_STREAM_SUBJECTS],
        retention: js.RetentionPolicy.Limits,
        storage: js.StorageType.File,
        num_replicas: replicas,
        max_age: nanos(STREAM_LIMITS.maxAgeMs),
        duplicate_window: nanos(STREAM_LIMITS.duplicateWindowMs),
      }),
    );
  } catch (error) {
    // Another daemon made it first.
    if (!/already in use/i.test(messageOf(error))) throw error;
  }
}

/**
 * How the consumer is read. nats.js's defaults (30 s pulls, a heartbeat every 15 s, two missed
 * before it acts, then a consumer info retried every 30 s) left a daemon deaf for ~38 s after the
 * node leading its consumer died, and `expires` alone for 8-11 s. Here: pulls of 2 s with a
 * heartbeat every 500 ms, so a dead leader is noticed after ~1 s; `bind` makes nats.js re-pull at
 * once on missed heartbeats and on reconnect (no consumer info first, which waits for a new leader
 * and is retried only every `expires`): a pull that finds no leader yet gets "no responders" and
 * is made again ~1 s later, so the first pull after the election is served (bench R3: median
 * 5.5 s, max 8.0 s over 5 kills of the consumer's leader, against 44 s with nats.js's defaults;
 * pulls of 5 s and heartbeats of 1 s gave a max of 11 s). Idle, that is a pull every 2 s and two
 * heartbeats a second per daemon and mesh.
 */
export const CONSUME_OPTIONS = { max_messages: 256, expires: 2_000, idle_heartbeat: 500, bind: true } as const;
/** `bind` hides a consumer that is gone: after this many missed-heartbeat notices in a row, ask. */
const CHECK_AFTER_MISSED = 10;

/** The longest the consumer loop (and the presence watch) runs before the rest of the daemon has a turn. */
export const SLICE_MS = 4;

/** How many frames taken in are remembered by their bytes (to refuse exact replays unopened). */
const TAKEN_FRAMES = 20_000;

const digestOf = (data: Uint8Array): string => createHash("sha256").update(data).digest("base64");

export class Inbound {
  readonly #o: InboundOptions;
  readonly #now: () => number;
  #messages: ConsumerMessages | undefined;
  #closed = false;
  #received = 0;
  readonly #refusals: RefusalLog;
  /**
   * Digests of the message frames taken in lately, oldest first. A new copy of exactly those bytes
   * (a replay: nobody without the keys can make other bytes that open) is refused as `duplicate`
   * before it is opened: ~5 µs instead of ~0.5 ms of opening and verifying, so that a replay flood
   * cannot keep honest frames waiting behind it. Other bytes go the whole way (and a tampered copy
   * is still told as `tampered`).
   */
  readonly #taken = new Set<string>();

  constructor(options: InboundOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#refusals = new RefusalLog(options.logger, { now: this.#now });
  }

  get received(): number {
    return this.#received;
  }

  /** A new connection: the stream and this daemon's consumer (made when missing), then read. */
  async attach(js: JetStreamClient, jsm: JetStreamManager): Promise<void> {
    this.detach();
    const mod = await loadJetStream();
    await ensureStream(jsm, mod);
    const { nanos } = await loadNats();
    const name = consumerName(this.#o.mesh, this.#o.self);
    await jsm.consumers.add(MESSAGE_STREAM, {
      durable_name: name,
      filter_subject: inboundFilter(this.#o.mesh, this.#o.self),
      ack_policy: mod.AckPolicy.Explicit,
      deliver_policy: mod.DeliverPolicy.All,
      ack_wait: nanos(STREAM_LIMITS.ackWaitMs),
      max_ack_pending: STREAM_LIMITS.maxAckPending,
    });
    if (this.#closed) return;
    const consumer = await js.consumers.get(MESSAGE_STREAM, name);
    const messages = await consumer.consume({ ...CONSUME_OPTIONS });
    this.#messages = messages;
    this.#watchStatus(messages, jsm, name);
    // Each frame is taken synchronously, in stream order; its ack waits for the journal, and the
    // next frame does not: one journal write covers everything taken meanwhile. A burst of frames
    // (a replay flood, a backlog after a reconnect) gives way every few ms, so that requests and
    // the presence watch are not held behind it.
    void forAwaitSliced(messages, (m) => this.#handle(m), { budgetMs: SLICE_MS })
      .catch((error: unknown) => {
        if (!this.#closed)
          this.#o.logger.warn("message consumer failed", { mesh: this.#o.mesh, error: messageOf(error) });
      })
      .finally(() => {
        // Ended without us closing it (the consumer was deleted, the stream purged): start over.
        if (this.#closed || this.#messages !== messages) return;
        this.#o.logger.warn("message consumer ended; attaching again", { mesh: this.#o.mesh });
        this.#messages = undefined;
        setTimeout(() => {
          if (!this.#closed && this.#messages === undefined) {
            this.attach(js, jsm).catch((error: unknown) =>
              this.#o.logger.warn("message consumer re-attach failed", { mesh: this.#o.mesh, error: messageOf(error) }),
            );
          }
        }, 2_000).unref();
      });
  }

  /**
   * A consumer deleted under us (the server says so on a pull) or found missing after heartbeats
   * stopped: end this read, and the iterator's end attaches again, which makes the consumer anew.
   * Missed heartbeats alone are nats.js's to mend (it re-pulls).
   */
  #watchStatus(messages: ConsumerMessages, jsm: JetStreamManager, name: string): void {
    const restart = (why: string) => {
      if (this.#closed || this.#messages !== messages) return;
      this.#o.logger.warn("message consumer lost; attaching again", { mesh: this.#o.mesh, why });
      void Promise.resolve(messages.close()).catch(() => undefined);
    };
    void (async () => {
      let missed = 0;
      for await (const s of messages.status()) {
        if (s.type === "consumer_deleted") restart(s.description);
        else if (s.type !== "heartbeats_missed") missed = 0;
        else if (++missed % CHECK_AFTER_MISSED === 0) {
          jsm.consumers.info(MESSAGE_STREAM, name).then(
            () => undefined,
            (error: unknown) => {
              if (/not found/i.test(messageOf(error))) restart(messageOf(error));
            },
          );
        }
      }
    })().catch(() => undefined);
  }

  /** Acks once what this frame brought is on disk (then runs `after`); a failed write leaves it for redelivery. */
  #ackWhenPersisted(m: JsMsg, after?: () => void): void {
    this.#o.persisted().then(
      () => {
        m.ack();
        after?.();
      },
      (error: unknown) => {
        this.#o.logger.warn("journal write failed; the frame will be redelivered", { error: messageOf(error) });
        m.nak(5_000);
      },
    );
  }

  #handle(m: JsMsg): void {
    try {
      const routed = parseStreamSubject(m.subject);
      if (routed === undefined || routed.mesh !== this.#o.mesh || routed.daemon !== this.#o.self) {
        this.#refuse(m, "misrouted", `subject ${m.subject}`);
        return;
      }
      // Weighed before it is parsed: a frame larger than any a daemon sends is never read.
      const max = routed.kind === "message" ? WIRE_LIMITS.maxFrameBytes : WIRE_LIMITS.maxReceiptBytes;
      const read = readWireJson(m.data, max);
      if (!read.ok) {
        this.#refuse(m, read.reason, `${m.subject}: ${read.detail}`);
        return;
      }
      if (routed.kind === "message") {
        const digest = digestOf(m.data);
        if (!m.redelivered && this.#taken.has(digest)) {
          this.#refuse(m, "duplicate", `${m.subject}: the bytes of a frame taken in already`);
          return;
        }
        if (this.#message(m, read.value, routed.session)) this.#remember(digest);
      } else this.#receipt(m, read.value);
    } catch (error) {
      // Not ours to judge (a store error, a full disk): it comes back after ack_wait.
      this.#o.logger.warn("inbound frame failed; it will be redelivered", {
        mesh: this.#o.mesh,
        error: messageOf(error),
      });
      m.nak(5_000);
    }
  }

  /** Counted every time; logged a few times a minute per reason (a flood must not fill daemon.log). */
  #refuse(m: JsMsg, reason: InboundRefusal, detail: string): void {
    this.#o.onRefused(reason);
    this.#refusals.warn("inbound frame refused", reason, { mesh: this.#o.mesh, detail: detail.slice(0, 300) });
    m.term();
  }

  #remember(digest: string): void {
    this.#taken.delete(digest);
    this.#taken.add(digest);
    if (this.#taken.size > TAKEN_FRAMES) this.#taken.delete(this.#taken.values().next().value as string);
  }

  /** True when the frame was opened and its message is held for the recipient (new or a redelivery). */
  #message(m: JsMsg, raw: unknown, recipient: string): boolean {
    const keys = this.#o.sealing.all(recipient);
    if (keys.length === 0) {
      // Sealed to a session of a previous run of this daemon: its sender re-seals for the new key.
      this.#refuse(m, "stale_key", `no key for ${recipient}`);
      return false;
    }
    const opened = openMessageFrame(raw, { mesh: this.#o.mesh, recipient }, keys, this.#now(), this.#o.trust);
    if (!opened.ok) {
      this.#refuse(m, opened.reason, opened.detail);
      return false;
    }
    const { envelope } = opened;
    // A new copy on the stream of a message this recipient holds (a replay, whole and authentic):
    // nothing to store and no receipt to send again. A redelivery of the same copy still goes the
    // whole way, for its receipt (the first may be lost).
    if (!m.redelivered && this.#holds(envelope.id, recipient)) {
      this.#refuse(m, "duplicate", `message ${envelope.id} to ${recipient} is held already`);
      return true;
    }
    const display = this.#o.registry.get(recipient)?.display_name ?? recipient;
    try {
      this.#o.service.receive(envelope, { session_id: recipient, display_name: display });
    } catch (error) {
      this.#refuse(m, "bad_signature", messageOf(error));
      return false;
    }
    // A copy seen before brings no store change: its receipt goes again (the first may be lost).
    const stored = this.#o.store.get(envelope.id)?.recipients.find((r) => r.session_id === recipient);
    if (stored !== undefined) this.#o.receipts.queue(envelope.id, envelope.from.member_fingerprint, stored);
    this.#received++;
    this.#ackWhenPersisted(m, () => this.#o.receipts.flush());
    return true;
  }

  #holds(id: string, recipient: string): boolean {
    return this.#o.store.get(id)?.recipients.some((r) => r.session_id === recipient) === true;
  }

  #receipt(m: JsMsg, raw: unknown): void {
    const read = readReceipt(raw, this.#o.mesh);
    if (!read.ok) {
      this.#refuse(m, "bad_receipt", read.detail);
      return;
    }
    const { receipt } = read;
    // Only the daemon holding the recipient may speak for it.
    const holder = this.#o.directory.lastPresence(receipt.session_id);
    const trusted =
      holder === undefined
        ? trusts(this.#o.trust, this.#o.mesh, receipt.member_pubkey)
        : holder.parent_attestation.parent_member_pubkey === receipt.member_pubkey;
    if (!trusted) {
      this.#refuse(m, "foreign_receipt", `receipt for ${receipt.session_id} signed by another member`);
      return;
    }
    this.#o.store.advance(
      receipt.message_id,
      receipt.session_id,
      receipt.state,
      receipt.updated_at,
      receipt.reason ?? undefined,
    );
    this.#ackWhenPersisted(m);
  }

  detach(): void {
    const messages = this.#messages;
    this.#messages = undefined;
    if (messages !== undefined) void Promise.resolve(messages.close()).catch(() => undefined);
  }

  close(): void {
    this.#closed = true;
    this.detach();
  }
}
