import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type SseMessage, SseParser } from "../src/sse.js";

function parse(...chunks: string[]): SseMessage[] {
  const parser = new SseParser();
  return chunks.flatMap((chunk) => parser.feed(chunk));
}

describe("SseParser", () => {
  it("parses a complete event with id, type and data", () => {
    expect(parse('id: 7\nevent: session_registered\ndata: {"a":1}\n\n')).toEqual([
      { id: "7", event: "session_registered", data: '{"a":1}' },
    ]);
  });

  it("defaults the event type to message and leaves id out when none was sent", () => {
    expect(parse("data: hi\n\n")).toEqual([{ event: "message", data: "hi" }]);
  });

  it("waits for the blank line before dispatching", () => {
    const parser = new SseParser();
    expect(parser.feed("data: a\n")).toEqual([]);
    expect(parser.feed("\n")).toEqual([{ event: "message", data: "a" }]);
  });

  it.each([
    ["LF", "\n"],
    ["CRLF", "\r\n"],
    ["CR", "\r"],
  ])("understands %s line endings", (_, eol) => {
    const text = ["id: 1", "event: e", "data: x", "", "data: y", "", ""].join(eol);
    expect(parse(text)).toEqual([
      { id: "1", event: "e", data: "x" },
      { id: "1", event: "message", data: "y" },
    ]);
  });

  it("treats a CRLF split across chunks as one line ending", () => {
    expect(parse("data: a\r", "\n\r", "\n")).toEqual([{ event: "message", data: "a" }]);
    // ...but a CR followed by a chunk without LF still ends the line.
    expect(parse("data: a\r", "\r")).toEqual([{ event: "message", data: "a" }]);
  });

  it("ignores empty chunks, also between CR and LF", () => {
    expect(parse("", "data: a\r", "", "\n\n")).toEqual([{ event: "message", data: "a" }]);
  });

  it("ignores comments such as keep-alives", () => {
    expect(parse(": keep-alive\n\n: x\ndata: a\n: y\n\n")).toEqual([{ event: "message", data: "a" }]);
  });

  it("joins multiple data lines with newlines", () => {
    expect(parse("data: one\ndata:two\ndata\ndata:  three\n\n")).toEqual([
      { event: "message", data: "one\ntwo\n\n three" },
    ]);
  });

  it("strips exactly one space after the colon", () => {
    expect(parse("data:  x \n\n")).toEqual([{ event: "message", data: " x " }]);
  });

  it("dispatches an empty data line as empty data", () => {
    expect(parse("data:\n\n")).toEqual([{ event: "message", data: "" }]);
  });

  it("does not dispatch a message without a data line, and forgets its type", () => {
    expect(parse("event: ping\nid: 3\n\ndata: x\n\n")).toEqual([{ id: "3", event: "message", data: "x" }]);
  });

  it("ignores retry and unknown fields", () => {
    expect(parse("retry: 100\nfoo: bar\ndata: x\n\n")).toEqual([{ event: "message", data: "x" }]);
  });

  it("keeps the last event id until another id line, which may reset it", () => {
    expect(parse("id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")).toEqual([
      { id: "5", event: "message", data: "a" },
      { id: "5", event: "message", data: "b" },
      { event: "message", data: "c" },
    ]);
  });

  it("ignores an id containing NUL", () => {
    expect(parse("id: 1\n\nid: 2\0\ndata: a\n\n")).toEqual([{ id: "1", event: "message", data: "a" }]);
  });

  it("drops a leading byte order mark, only at the start of the stream", () => {
    expect(parse("\uFEFFdata: a\n\n", "data: \uFEFFb\n\n")).toEqual([
      { event: "message", data: "a" },
      { event: "message", data: "\uFEFFb" },
    ]);
  });

  it("does not dispatch an unterminated message", () => {
    expect(parse("data: a\n")).toEqual([]);
  });

  it("gives the same messages however the stream is split", () => {
    const line = fc.oneof(
      fc.constantFrom("data: x", "data:y", "data", "event: e", "id: 9", "id", ": comment", "retry: 5", ""),
      fc.string({ maxLength: 8 }).map((s) => `data: ${s.replace(/[\r\n]/g, "")}`),
    );
    const eol = fc.constantFrom("\n", "\r\n", "\r");
    fc.assert(
      fc.property(fc.array(fc.tuple(line, eol), { maxLength: 30 }), fc.array(fc.nat()), (lines, cuts) => {
        const text = lines.map(([l, e]) => l + e).join("");
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(text.slice(last, p));
          last = p;
        }
        chunks.push(text.slice(last));
        expect(parse(...chunks)).toEqual(parse(text));
        expect(parse(...[...text])).toEqual(parse(text));
      }),
    );
  });
});
