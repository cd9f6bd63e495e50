import { describe, expect, it } from "vitest";
import { RemoteDirectory } from "../src/remote-directory.js";
import type { RemotePresence } from "../src/remote-presence.js";
import { T0 } from "./fixtures.js";

const D1 = "00000000000000d1";
const D2 = "00000000000000d2";

/** Only the fields the directory reads: it is handed presences that were verified already. */
function presence(session_id: string, daemon: string, published_at = T0, more: Partial<RemotePresence> = {}) {
  return {
    v: 1,
    mesh: "team",
    session_id,
    daemon,
    host: "h",
    display_name: session_id,
    role: null,
    groups: [],
    status: null,
    summary: null,
    inbound: "accept",
    registered_at: T0 - (session_id === "old" ? 1000 : 0),
    published_at,
    session_pubkey: "sk",
    sealing_pubkey: "x",
    parent_attestation: {
      session_pubkey: "sk",
      parent_member_pubkey: `m${daemon}`,
      expires_at: T0 + 3600_000,
      signature: "",
    },
    ...more,
  } as unknown as RemotePresence;
}

describe("RemoteDirectory", () => {
  it("keeps the newest copy of each session and never goes back to an older one", () => {
    const dir = new RemoteDirectory();
    expect(dir.apply(presence("a", D1, T0), T0)).toBe("added");
    expect(dir.apply(presence("a", D1, T0 + 5, { status: "working" }), T0 + 5)).toBe("updated");
    expect(dir.apply(presence("a", D1, T0 + 1), T0 + 6)).toBe("stale");
    expect(dir.get("a")?.presence.status).toBe("working");
    expect(dir.get("a")?.peer).toMatchObject({ origin: "remote", mesh: "team", inbound: "accept" });
  });

  it("lists oldest registration first and drops a dead daemon's sessions only", () => {
    const dir = new RemoteDirectory();
    dir.apply(presence("new", D1), T0);
    dir.apply(presence("old", D1), T0);
    dir.apply(presence("b", D2), T0);
    expect(dir.list().map((p) => p.peer.session_id)).toEqual(["old", "new", "b"]);
    expect(dir.daemons()).toEqual(new Set([D1, D2]));
    expect(
      dir
        .removeDaemon(D1)
        .map((p) => p.session_id)
        .sort(),
    ).toEqual(["new", "old"]);
    expect(dir.list().map((p) => p.peer.session_id)).toEqual(["b"]);
    // Remembered after it went, for receipts; back when a new presence comes.
    expect(dir.lastPresence("old")?.daemon).toBe(D1);
    expect(dir.get("old")).toBeUndefined();
  });

  it("a delete from another daemon than the holder's does not remove a session that moved", () => {
    const dir = new RemoteDirectory();
    dir.apply(presence("a", D1, T0), T0);
    dir.apply(presence("a", D2, T0 + 1), T0 + 1); // re-launched on D2
    expect(dir.remove("a", D1)).toBeUndefined();
    expect(dir.get("a")?.presence.daemon).toBe(D2);
  });

  it("names what was not refreshed by its deadline; extend pushes it on", () => {
    const dir = new RemoteDirectory({ staleAfterMs: 100 });
    dir.apply(presence("a", D1), T0);
    dir.apply(presence("b", D1), T0 + 50);
    expect(dir.overdue(T0 + 99)).toEqual([]);
    expect(dir.overdue(T0 + 100).map((p) => p.session_id)).toEqual(["a"]);
    dir.extend("a", T0 + 100);
    expect(dir.overdue(T0 + 150).map((p) => p.session_id)).toEqual(["b"]);
  });

  it("remembers a bounded number of departed sessions", () => {
    const dir = new RemoteDirectory({ rememberMax: 2 });
    for (const id of ["a", "b", "c"]) dir.apply(presence(id, D1), T0);
    dir.clear();
    expect(dir.size).toBe(0);
    expect(["a", "b", "c"].map((id) => dir.lastPresence(id) !== undefined)).toEqual([false, true, true]);
  });
});

describe("RemoteDirectory against a flood", () => {
  it("a newer copy showing the same is a refresh: the deadline moves, nothing changed to tell", () => {
    const dir = new RemoteDirectory({ staleAfterMs: 100 });
    dir.apply(presence("a", D1, T0), T0);
    expect(dir.apply(presence("a", D1, T0 + 5), T0 + 5)).toBe("refreshed");
    expect(dir.overdue(T0 + 100)).toEqual([]);
    expect(dir.get("a")?.presence.published_at).toBe(T0 + 5);
    expect(dir.apply(presence("a", D1, T0 + 6, { sealing_pubkey: "y" }), T0 + 6)).toBe("updated");
    expect(dir.apply(presence("a", D1, T0 + 7, { groups: ["g"] }), T0 + 7)).toBe("updated");
  });

  it("holds at most maxPerDaemon sessions of one daemon, and maxPeers in all; the held ones stay", () => {
    const dir = new RemoteDirectory({ maxPerDaemon: 3, maxPeers: 5 });
    for (const id of ["a1", "a2", "a3"]) expect(dir.apply(presence(id, D1), T0)).toBe("added");
    expect(dir.apply(presence("a4", D1), T0)).toBe("too_many_sessions");
    expect(dir.apply(presence("a1", D1, T0 + 1, { status: "idle" }), T0 + 1)).toBe("updated");
    expect(dir.sessionsOf(D1)).toBe(3);
    for (const id of ["b1", "b2"]) expect(dir.apply(presence(id, D2), T0)).toBe("added");
    expect(dir.apply(presence("c1", "00000000000000c1"), T0)).toBe("too_many_peers");
    // A session moving to a full daemon is refused too; one that left frees its place.
    expect(dir.apply(presence("b1", D1, T0 + 2), T0 + 2)).toBe("too_many_sessions");
    dir.remove("a2");
    expect(dir.sessionsOf(D1)).toBe(2);
    expect(dir.apply(presence("b1", D1, T0 + 3), T0 + 3)).toBe("updated");
    expect([dir.sessionsOf(D1), dir.sessionsOf(D2), dir.size]).toEqual([3, 1, 4]);
    expect(dir.daemons()).toEqual(new Set([D1, D2]));
    dir.removeDaemon(D1);
    expect([dir.sessionsOf(D1), dir.size, dir.daemons()]).toEqual([0, 1, new Set([D2])]);
  });
});
