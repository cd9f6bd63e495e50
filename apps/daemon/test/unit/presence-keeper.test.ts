// Presences kept by the daemon: minted at registration (or kept across a re-registration),
// minted for restored sessions after start-up, and renewed before they expire, with the same key.
import { attest, checkAttestation, generateSigningKey, memberKeyOf, seedOf } from "@claudemesh/mesh";
import { type Registration, SessionRegistry } from "@claudemesh/registry";
import { describe, expect, it } from "vitest";
import { PresenceKeeper } from "../../src/mesh/presence-keeper.js";
import { RecordingLogger } from "./helpers.js";

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;

function setUp() {
  let now = T0;
  const registry = new SessionRegistry({ now: () => now });
  const member = memberKeyOf(generateSigningKey(), T0);
  const logger = new RecordingLogger();
  const keeper = new PresenceKeeper({ registry, member, logger, now: () => now });
  const registration = (n: number): Registration => ({
    token: n.toString(16).padStart(64, "0"),
    session_id: `s${n}`,
    mesh: "default",
    display_name: `n${n}`,
    pid: 100 + n,
  });
  const register = (n: number, raw?: unknown) => {
    const r = registration(n);
    const presence = keeper.forRegistration(raw, r, registry.resolve(r.token));
    return registry.register(presence === undefined ? r : { ...r, presence }, null).session;
  };
  return {
    registry,
    member,
    keeper,
    logger,
    register,
    registration,
    advance: (ms: number) => (now += ms),
    now: () => now,
  };
}

describe("PresenceKeeper", () => {
  it("mints for a new registration and keeps the presence across a re-registration of the same id", () => {
    const { register } = setUp();
    const first = register(1).presence;
    expect(first?.parent_attestation.expires_at).toBe(T0 + 24 * HOUR);
    expect(register(1).presence).toBe(first);
  });

  it("verifies a supplied presence and refuses a bad one naming its field", () => {
    const { register, member } = setUp();
    const session = generateSigningKey();
    const good = {
      session_pubkey: session.publicKey,
      session_secret_key: seedOf(session),
      parent_attestation: attest(member.key, { mesh: "default", sessionId: "s2" }, session.publicKey, T0 + HOUR),
    };
    expect(register(2, good).presence?.session_pubkey).toBe(session.publicKey);
    expect(() => register(3, good)).toThrow(/^presence\.parent_attestation\.signature: /);
  });

  it("renews attestations with less than 12 h left, keeping the key; leaves the others alone", () => {
    const { register, keeper, registry, member, advance, now } = setUp();
    const before = register(1).presence;
    advance(11 * HOUR);
    expect(keeper.renew()).toBe(0);
    advance(2 * HOUR);
    expect(keeper.renew()).toBe(1);
    const after = registry.get("s1")?.presence;
    expect(after?.session_pubkey).toBe(before?.session_pubkey);
    expect(after?.parent_attestation.expires_at).toBe(now() + 24 * HOUR);
    expect(
      checkAttestation(after?.parent_attestation as never, { mesh: "default", sessionId: "s1" }, now(), {
        memberPublicKey: member.key.publicKey,
      }),
    ).toBeUndefined();
    expect(keeper.renewals).toBe(1);
    // A whole day later, the session is still vouched for: renewal keeps live sessions on.
    for (let h = 0; h < 48; h++) {
      advance(HOUR);
      keeper.renew();
      expect(registry.get("s1")?.presence?.parent_attestation.expires_at).toBeGreaterThan(now());
    }
  });

  it("gives restored sessions a fresh presence after start-up, and at once to one that asks", async () => {
    const { registry, keeper } = setUp();
    const stored = (n: number) => ({
      tokenHash: n.toString(16).padStart(64, "a"),
      session: {
        session_id: `r${n}`,
        mesh: "default",
        display_name: `r${n}`,
        pid: 1,
        start_time: null,
        registered_at: T0,
        token_prefix: "00000000",
      },
    });
    for (let n = 0; n < 50; n++) registry.restore(stored(n));
    const asked = registry.get("r7");
    const ensured = keeper.ensure(asked as never);
    expect(registry.get("r7")?.presence).toBe(ensured);
    expect(await keeper.mintMissing()).toBe(49);
    expect(registry.list().every((s) => s.presence !== undefined)).toBe(true);
    expect(registry.get("r7")?.presence).toBe(ensured); // not minted twice
  });
});
