// Shared pieces of the mesh tests: a member key, sessions with minted presences, a directory of
// live peers, and a service over a real store with a controllable clock.
import type { SessionRecord } from "@claudemesh/registry";
import { generateSigningKey } from "../src/keys.js";
import { type MemberKey, memberKeyOf } from "../src/member-key.js";
import { mintPresence } from "../src/presence.js";
import { RateLimiter } from "../src/rate-limit.js";
import { type MeshPeer, MessageService, type PeerDirectory, type RejectReason } from "../src/service.js";
import { MessageStore, type StoreLimits } from "../src/store.js";
import { uuidV7Generator } from "../src/uuid.js";

export const T0 = 1_800_000_000_000;

export function member(): MemberKey {
  return memberKeyOf(generateSigningKey(), T0);
}

export interface SessionSpec {
  id: string;
  name?: string;
  mesh?: string;
  role?: string;
  groups?: string[];
  registeredAt?: number;
  inbound?: "accept" | "hold" | "refuse";
}

/** A live local session with a presence minted by `owner`. */
export function session(owner: MemberKey, spec: SessionSpec): SessionRecord {
  const mesh = spec.mesh ?? "default";
  return {
    session_id: spec.id,
    mesh,
    display_name: spec.name ?? spec.id,
    pid: 100,
    start_time: null,
    registered_at: spec.registeredAt ?? T0,
    token_prefix: "00000000",
    ...(spec.role !== undefined && { role: spec.role }),
    ...(spec.groups !== undefined && { groups: spec.groups }),
    ...(spec.inbound !== undefined && { inbound: spec.inbound }),
    presence: mintPresence(owner.key, { mesh, sessionId: spec.id }, T0),
  };
}

export function peerOf(s: SessionRecord): MeshPeer {
  return {
    session_id: s.session_id,
    display_name: s.display_name,
    registered_at: s.registered_at,
    mesh: s.mesh,
    inbound: s.inbound ?? "accept",
    origin: "local",
    ...(s.role !== undefined && { role: s.role }),
    ...(s.groups !== undefined && { groups: s.groups }),
  };
}

/** A mutable directory of live sessions. */
export class Directory implements PeerDirectory {
  readonly sessions = new Map<string, SessionRecord>();
  add(...sessions: SessionRecord[]): this {
    for (const s of sessions) this.sessions.set(s.session_id, s);
    return this;
  }
  remove(id: string): void {
    this.sessions.delete(id);
  }
  live(mesh: string): MeshPeer[] {
    return [...this.sessions.values()].filter((s) => s.mesh === mesh).map(peerOf);
  }
  get(id: string): MeshPeer | undefined {
    const s = this.sessions.get(id);
    return s && peerOf(s);
  }
}

export class Clock {
  constructor(public t = T0) {}
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export function world(limits: Partial<StoreLimits> = {}) {
  const owner = member();
  const clock = new Clock();
  const store = new MessageStore(limits);
  const peers = new Directory();
  const rejected: { reason: RejectReason; message_id?: string }[] = [];
  const service = new MessageService({
    store,
    peers,
    member: owner,
    host: "testhost",
    memberName: "alice",
    now: clock.now,
    newId: uuidV7Generator({ now: clock.now }),
    presenceOf: (s) => {
      if (s.presence === undefined) throw new Error("test session without presence");
      return s.presence;
    },
    rateLimiter: new RateLimiter(),
    onRejected: (reason, detail) => rejected.push({ reason, ...detail }),
  });
  const add = (...specs: SessionSpec[]) => {
    const made = specs.map((spec) => session(owner, spec));
    peers.add(...made);
    return made;
  };
  /** One live session, added to the directory. */
  const one = (spec: SessionSpec) => add(spec)[0] as SessionRecord;
  return { owner, clock, store, peers, service, rejected, add, one };
}
