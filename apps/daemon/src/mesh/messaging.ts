// The daemon's messaging: the pure MessageService and MessageStore wired to the registry, the
// message state file and its journal, the event stream, the log and the metrics.
//
// Order of a send, as the contract wants it: the message is verified and stored, its journal
// line written, and only then is the sender answered (202) and the recipient told (`message`
// event). Logs carry ids and counts, never text.
import {
  decodeMessages,
  encodeMessageChange,
  encodeMessageItem,
  encodeMessagesHeader,
  itemsOf,
  type MemberKey,
  type MessageItem,
  MessageService,
  MessageStore,
  type PeerDirectory,
  replayMessageJournal,
  type Sender,
  type SenderIdentity,
  type StoreChange,
  type StoreLimits,
  splitItems,
  toWireMessage,
  toWireRecipient,
  uuidV7Generator,
} from "@claudemesh/mesh";
import type { RegistryEvent, SessionRecord, SessionRegistry } from "@claudemesh/registry";
import type { EventHub } from "../events/event-hub.js";
import type { Audience, EventLog } from "../events/event-log.js";
import { Journal, journalPrefixFor } from "../journal.js";
import type { Logger } from "../logger.js";
import type { DaemonMetrics } from "../metrics.js";
import { type StateCodec, StateStore } from "../state-store.js";
import type { PresenceKeeper } from "./presence-keeper.js";

/** Least time between two writes of `messages.jsonl`. */
export const MESSAGE_CHECKPOINT_SPACING_MS = 2_000;

const MESSAGE_STATE_CODEC: StateCodec<MessageItem> = {
  header: encodeMessagesHeader,
  item: encodeMessageItem,
  decode: decodeMessages,
  replay: replayMessageJournal,
};

export interface MessagingOptions {
  registry: SessionRegistry;
  member: MemberKey;
  presence: PresenceKeeper;
  host: string;
  /** The name a plain shell sends as. */
  memberName: string;
  logger: Logger;
  log: EventLog;
  hub: EventHub;
  metrics: DaemonMetrics;
  /** `messages.jsonl` in the daemon dir. */
  path: string;
  now?: () => number;
  limits?: Partial<StoreLimits>;
  /** The live sessions on other machines (meshes bound to NATS); none when absent. */
  remote?: PeerDirectory;
}

/** Local sessions first-class, remote ones after them: a session id live here is never shadowed. */
function combined(local: PeerDirectory, remote: PeerDirectory | undefined): PeerDirectory {
  if (remote === undefined) return local;
  return {
    live: (mesh) => {
      const far = remote.live(mesh);
      if (far.length === 0) return local.live(mesh);
      const here = local.live(mesh);
      const ids = new Set(here.map((p) => p.session_id));
      return [...here, ...far.filter((p) => !ids.has(p.session_id))].sort((a, b) => a.registered_at - b.registered_at);
    },
    get: (id) => local.get(id) ?? remote.get(id),
  };
}

/** The live local sessions, as addressing and delivery see them. */
function registryDirectory(registry: SessionRegistry): PeerDirectory {
  const peer = (s: SessionRecord) => ({
    session_id: s.session_id,
    display_name: s.display_name,
    registered_at: s.registered_at,
    mesh: s.mesh,
    inbound: s.inbound ?? "accept",
    origin: "local" as const,
    ...(s.role !== undefined && { role: s.role }),
    ...(s.groups !== undefined && { groups: s.groups }),
  });
  return {
    live: (mesh) => registry.list({ mesh }).map(peer),
    get: (id) => {
      const s = registry.get(id);
      return s === undefined ? undefined : peer(s);
    },
  };
}

const senderAudience = (identity: SenderIdentity): Audience =>
  identity === null ? { kind: "member" } : { kind: "session", sessionId: identity };

export class Messaging {
  readonly store: MessageStore;
  readonly service: MessageService;
  readonly persistence: StateStore<MessageItem>;
  readonly #journal: Journal;
  readonly #o: MessagingOptions;
  readonly #now: () => number;
  /** Recipient session id → long-polls waiting for its inbox. */
  readonly #waiters = new Map<string, Set<() => void>>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(options: MessagingOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const { logger, registry, member, presence } = options;
    this.store = new MessageStore(options.limits);
    this.#journal = new Journal({ prefix: journalPrefixFor(options.path), logger });
    this.persistence = new StateStore<MessageItem>({
      path: options.path,
      logger,
      journal: this.#journal,
      codec: MESSAGE_STATE_CODEC,
      snapshot: () => itemsOf(this.store.snapshot()),
      // Every change is in the journal before anyone hears of it; the checkpoint only bounds the
      // journal. Thousands of kept messages make it large, and messages change often: rewrite it
      // at most every 2 s, so that under load its cost per message stays small.
      coalesceMs: MESSAGE_CHECKPOINT_SPACING_MS,
    });
    this.service = new MessageService({
      store: this.store,
      peers: combined(registryDirectory(registry), options.remote),
      member,
      host: options.host,
      memberName: options.memberName,
      now: this.#now,
      newId: uuidV7Generator({ now: this.#now }),
      presenceOf: (session) => presence.ensure(session),
      onRejected: (reason, detail) => {
        options.metrics.countMessageRejection(reason);
        if (reason !== "rate_limited") {
          logger.warn("message refused", { reason, message_id: detail.message_id, from: detail.sender });
        }
      },
    });
  }

  /**
   * Reads the message state back (at start, before the sessions are restored: sessions dropped
   * then become known ids), and from then on journals and publishes every change of the store.
   */
  load(): void {
    this.store.subscribe((change) => this.#onChange(change));
    const loaded = this.persistence.load();
    if (loaded.kind === "missing") return;
    const { messages, known } = splitItems(loaded.entries);
    this.store.restore(messages, known); // tells no listener: this is what disk already holds
    this.#o.logger.info("messages restored", { messages: messages.length, known_sessions: known.length });
    if (loaded.replayed.generations > 0 || loaded.kind === "corrupt") this.persistence.markDirty();
  }

  /** Starts following the registry and the store; expiry and compaction every `maintenanceMs`. */
  start(maintenanceMs: number): void {
    this.#unsubscribe = this.#o.registry.subscribe((event) => this.#onRegistry(event));
    // Sessions restored at start may have messages waiting for them.
    for (const session of this.#o.registry.list()) this.service.deliverWaiting(session.session_id, session.mesh);
    this.#timer = setInterval(() => this.maintain(), maintenanceMs);
    this.#timer.unref();
  }

  /** Remembers a session that is no longer live (removed, or dropped at restore): messages to its id wait for it. */
  forget(session: { session_id: string; mesh: string; display_name: string }): void {
    this.store.remember({
      session_id: session.session_id,
      mesh: session.mesh,
      display_name: session.display_name,
      seen_at: this.#now(),
    });
  }

  maintain(): void {
    try {
      const { expired, dropped } = this.service.maintain();
      if (expired > 0 || dropped > 0) this.#o.logger.info("messages maintained", { expired, dropped });
    } catch (error) {
      this.#o.logger.error("message maintenance failed", { error: error as Error });
    }
  }

  #onRegistry(event: RegistryEvent): void {
    const { session } = event;
    // A live session is addressed through the registry; it becomes "known" (messages to it wait)
    // when it goes. Remembering it only then keeps registrations to one journal line.
    if (event.type === "session_deregistered") this.forget(session);
    if (event.type === "session_registered") this.service.deliverWaiting(session.session_id, session.mesh);
  }

  #onChange(change: StoreChange): void {
    const { logger, metrics, log, hub, registry } = this.#o;
    this.persistence.record(encodeMessageChange(change));
    if (change.kind === "accepted") {
      const m = change.message;
      metrics.countMessage();
      logger.info("message accepted", {
        message_id: m.envelope.id,
        mesh: m.envelope.mesh,
        from: m.envelope.from.session_id ?? "member",
        recipients: m.recipients.length,
      });
      return;
    }
    if (change.kind !== "state") return;
    const { envelope, recipient } = change;
    metrics.countMessageState(recipient.state);
    if (recipient.state === "refused") {
      logger.info("message refused for a recipient", {
        message_id: envelope.id,
        recipient: recipient.session_id,
        reason: recipient.reason,
      });
    }
    hub.publish(
      log.append({
        type: "message_status",
        data: { message_id: envelope.id, recipient: toWireRecipient(recipient) },
        audience: senderAudience(envelope.from.session_id),
      }),
    );
    if (recipient.state !== "delivered") return;
    // A held inbox is pull only: its messages are never pushed. A remote recipient's delivery
    // (told by its daemon's receipt) is pushed there, not here.
    const local = registry.get(recipient.session_id);
    if (local !== undefined && local.inbound !== "hold") {
      hub.publish(
        log.append({
          type: "message",
          data: { message: toWireMessage({ envelope, recipient }) },
          audience: { kind: "session", sessionId: recipient.session_id },
        }),
      );
    }
    for (const wake of this.#waiters.get(recipient.session_id) ?? []) wake();
  }

  /** Resolves once every change so far is in the message journal: then a sender may hear of it. */
  persisted(): Promise<void> {
    return this.persistence.recorded();
  }

  send(sender: Sender, body: unknown) {
    return this.service.send(sender, body);
  }

  /**
   * Waits until the recipient's inbox has a message not yet surfaced, `ms` passes or `signal`
   * aborts (the client went away). Never changes anything.
   */
  waitForInbox(sessionId: string, ms: number, signal: AbortSignal): Promise<void> {
    if (this.store.inbox(sessionId).length > 0 || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const set = this.#waiters.get(sessionId) ?? new Set<() => void>();
      this.#waiters.set(sessionId, set);
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0) this.#waiters.delete(sessionId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      set.add(done);
    });
  }

  get waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /** Writes what is pending (shutdown). */
  flush(): Promise<void> {
    return this.persistence.flush();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#unsubscribe?.();
    for (const set of this.#waiters.values()) for (const wake of [...set]) wake();
    await this.persistence.stop();
  }
}
