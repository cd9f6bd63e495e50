// A strict reader for the small XML subset a plist uses: it throws on anything not well formed
// (unbalanced or misnested tags, a raw `<` or `&` in text, an unknown entity, a bad attribute),
// then turns the plist into plain values. Enough to check the generator; plutil does more on macOS.

export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

const NAME = "[A-Za-z_][A-Za-z0-9_.-]*";
const ENTITY = /^&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/;
const NAMED: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeText(raw: string, at: number): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === "<") throw new Error(`raw < in text near offset ${at + i}`);
    if (c !== "&") {
      out += c;
      continue;
    }
    const m = ENTITY.exec(raw.slice(i));
    if (!m) throw new Error(`bad entity near offset ${at + i}: ${raw.slice(i, i + 10)}`);
    const ref = m[1] as string;
    out += ref.startsWith("#x")
      ? String.fromCodePoint(Number.parseInt(ref.slice(2), 16))
      : ref.startsWith("#")
        ? String.fromCodePoint(Number(ref.slice(1)))
        : NAMED[ref];
    i += m[0].length - 1;
  }
  return out;
}

/** Parses a whole document; returns its root element. */
export function parseXml(xml: string): XmlElement {
  let i = 0;
  const prolog = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(xml);
  if (!prolog) throw new Error("missing or unexpected XML declaration");
  i = prolog[0].length;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = lt < 0 ? xml.slice(i) : xml.slice(i, lt);
    if (stack.length === 0) {
      if (text.trim() !== "") throw new Error(`text outside the root element: ${text.trim().slice(0, 20)}`);
    } else (stack.at(-1) as XmlElement).text += decodeText(text, i);
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith("<!--", i)) {
      const end = xml.indexOf("-->", i + 4);
      if (end < 0 || xml.slice(i + 4, end).includes("--")) throw new Error("bad comment");
      i = end + 3;
      continue;
    }
    if (xml.startsWith("<!DOCTYPE", i)) {
      if (root !== undefined || stack.length > 0) throw new Error("DOCTYPE after the root element");
      const end = xml.indexOf(">", i);
      i = end + 1;
      continue;
    }
    const close = new RegExp(`^</(${NAME})\\s*>`).exec(xml.slice(i));
    if (close) {
      const open = stack.pop();
      if (open?.name !== close[1]) throw new Error(`</${close[1]}> closes <${open?.name ?? "nothing"}>`);
      i += close[0].length;
      continue;
    }
    const tag = new RegExp(`^<(${NAME})((?:\\s+${NAME}="[^"<&]*")*)\\s*(/?)>`).exec(xml.slice(i));
    if (!tag) throw new Error(`malformed tag near offset ${i}: ${xml.slice(i, i + 30)}`);
    const element: XmlElement = { name: tag[1] as string, children: [], text: "" };
    if (stack.length > 0) (stack.at(-1) as XmlElement).children.push(element);
    else if (root === undefined) root = element;
    else throw new Error("a second root element");
    if (tag[3] !== "/") stack.push(element);
    i += tag[0].length;
  }
  if (stack.length > 0) throw new Error(`unclosed <${(stack.at(-1) as XmlElement).name}>`);
  if (root === undefined) throw new Error("no root element");
  return root;
}

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

function value(element: XmlElement): PlistValue {
  switch (element.name) {
    case "string":
      return element.text;
    case "integer":
      if (!/^-?\d+$/.test(element.text)) throw new Error(`bad integer ${element.text}`);
      return Number(element.text);
    case "true":
    case "false":
      if (element.children.length > 0 || element.text !== "") throw new Error(`<${element.name}/> must be empty`);
      return element.name === "true";
    case "array":
      return element.children.map(value);
    case "dict": {
      const out: { [key: string]: PlistValue } = {};
      const children = element.children;
      if (children.length % 2 !== 0) throw new Error("a dict needs key/value pairs");
      for (let k = 0; k < children.length; k += 2) {
        const key = children[k] as XmlElement;
        if (key.name !== "key") throw new Error(`expected <key>, got <${key.name}>`);
        if (key.text in out) throw new Error(`duplicate key ${key.text}`);
        out[key.text] = value(children[k + 1] as XmlElement);
      }
      return out;
    }
    default:
      throw new Error(`unexpected <${element.name}> in a plist`);
  }
}

/** The plist's top-level value (checks `<plist version="1.0">` with exactly one child). */
export function parsePlist(xml: string): PlistValue {
  const root = parseXml(xml);
  if (root.name !== "plist" || root.children.length !== 1) throw new Error("expected <plist> with one value");
  return value(root.children[0] as XmlElement);
}
