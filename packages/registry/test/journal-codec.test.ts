// Journal replay rebuilds what the registry held from the last state file plus the changes
// appended since, following the registry's own rules, and survives a damaged journal.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeJournalDelete, encodeJournalPut, replayJournal } from "../src/journal-codec.js";
import { type RegistryEntry, type RegistryEvent, SessionRegistry } from "../src/registry.js";
import { hashToken } from "../src/token.js";
import { registration, token } from "./fixtures.js";

/** A registry whose every change is also written to a journal, as the daemon does. */
function journaled(registry = new SessionRegistry({ now: () => 1_700_000_000_000 })) {
  const lines: string[] = [];
  registry.subscribe((event: RegistryEvent) => {
    lines.push(
      event.type === "session_registered"
        ? encodeJournalPut({ tokenHash: event.tokenHash, session: event.session })
        : encodeJournalDelete(event.tokenHash),
    );
  });
  return { registry, text: () => lines.map((l) => `${l}\n`).join(""), lines };
}

const ids = (entries: readonly RegistryEntry[]) => entries.map((e) => e.session.session_id);

describe("journal replay", () => {
  it("replays registrations, in-place updates, replacements and removals to the registry's state", () => {
    const { registry, text } = journaled();
    registry.register(registration(1), "a:1");
    registry.register(registration(2), "a:2");
    registry.register(registration(3), "a:3");
    registry.register(registration(1, { display_name: "renamed" }), "a:1"); // same token: in place
    registry.register(registration(4, { session_id: "s2" }), "a:4"); // s2 taken over by token 4
    registry.deregister(token(3));
    const replayed = replayJournal([], [text()]);
    expect(replayed.entries).toEqual(registry.entries());
    expect(ids(replayed.entries)).toEqual(["s1", "s2"]);
    expect(replayed.entries[0]?.session.display_name).toBe("renamed");
    expect(replayed.skipped).toEqual([]);
  });

  it("applies over the state file's entries, and replaying changes already in them changes nothing", () => {
    const { registry, text } = journaled();
    registry.register(registration(1), null);
    const base = registry.entries();
    registry.register(registration(2), null);
    registry.deregister(token(1));
    const once = replayJournal(base, [text()]);
    expect(once.entries).toEqual(registry.entries());
    expect(replayJournal(once.entries, [text()]).entries).toEqual(registry.entries());
  });

  it("applies several journals in the order given", () => {
    const first = journaled();
    first.registry.register(registration(1), null);
    const older = first.text();
    first.lines.length = 0;
    first.registry.deregister(token(1));
    expect(replayJournal([], [older, first.text()]).entries).toEqual([]);
    expect(ids(replayJournal([], [first.text(), older]).entries)).toEqual(["s1"]);
  });

  it("skips and reports damaged lines and a last line cut short, keeping every other change", () => {
    const { registry, text } = journaled();
    registry.register(registration(1), null);
    registry.register(registration(2), null);
    const [one, two] = text().split("\n");
    const journal = [
      one,
      "garbage",
      JSON.stringify({ op: "put", token_hash: "x" }),
      JSON.stringify({ op: "put", token_hash: hashToken(token(9)), session_id: "" }),
      JSON.stringify({ op: "zap", token_hash: hashToken(token(9)) }),
      "null",
      `${two}`,
      encodeJournalDelete(hashToken(token(1))).slice(0, 20),
    ].join("\n");
    const replayed = replayJournal([], [journal]);
    expect(ids(replayed.entries)).toEqual(["s1", "s2"]);
    expect(replayed.applied).toBe(2);
    expect(replayed.skipped.map((s) => [s.journal, s.line])).toEqual([
      [0, 8],
      [0, 2],
      [0, 3],
      [0, 4],
      [0, 5],
      [0, 6],
    ]);
    expect(replayed.skipped[0]?.reason).toBe("cut short (no final newline)");
    expect(replayed.skipped[1]?.reason).toBe("not valid JSON");
    expect(replayed.skipped[4]?.reason).toBe('unknown op "zap"');
  });

  it("never writes a token, only its hash", () => {
    const { registry, text } = journaled();
    registry.register(registration(1), null);
    registry.deregister(token(1));
    expect(text()).not.toContain(token(1));
    expect(text()).toContain(hashToken(token(1)));
  });

  it("matches the registry for any sequence of registrations and removals, cut into journals anywhere", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("register" as const),
        t: fc.integer({ min: 1, max: 6 }),
        s: fc.integer({ min: 1, max: 6 }),
      }),
      fc.record({ kind: fc.constant("deregister" as const), t: fc.integer({ min: 1, max: 6 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 0, max: 40 }), (ops, snapshotAt) => {
        const { registry, lines } = journaled();
        let base: RegistryEntry[] = [];
        let from = 0;
        ops.forEach((o, i) => {
          if (i === snapshotAt) {
            base = registry.entries();
            from = lines.length;
          }
          if (o.kind === "register") registry.register(registration(o.t, { session_id: `s${o.s}` }), null);
          else registry.deregister(token(o.t));
        });
        const after = lines
          .slice(from)
          .map((l) => `${l}\n`)
          .join("");
        expect(replayJournal(base, [after]).entries).toEqual(registry.entries());
      }),
    );
  });
});
