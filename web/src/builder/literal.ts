// Values ↔ the YAML-ish literals of Hydra overrides (`lr=0.01`, `tags=[a, b]`,
// `name='my run'`). Pure. The server parses overrides itself; this side writes literals
// it reads back as the same value, and reads them to preview a preset locally.

/** Words YAML 1.1 (PyYAML) reads as booleans or null: a string spelled so is quoted. */
const YAML_WORDS = /^(true|false|yes|no|on|off|y|n|null|~)$/i;
const PLAIN = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;
const INT = /^[-+]?(0|[1-9][0-9_]*)$/;
const FLOAT = /^[-+]?(\d[\d_]*)?\.?\d+([eE][-+]?\d+)?$|^[-+]?\d[\d_]*\.(\d*)?([eE][-+]?\d+)?$/;

/** A string as a literal: bare when it cannot be read as anything else, else quoted. */
export function formatString(s: string): string {
  if (PLAIN.test(s) && !YAML_WORDS.test(s)) return s;
  return JSON.stringify(s);
}

/** Any JSON value as a literal: numbers, booleans, null, strings, `[a, b]`, `{k: v}`. */
export function formatLiteral(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return ".nan";
    if (!Number.isFinite(v)) return v > 0 ? ".inf" : "-.inf";
    return String(v);
  }
  if (typeof v === "string") return formatString(v);
  if (Array.isArray(v)) return `[${v.map(formatLiteral).join(", ")}]`;
  if (typeof v === "object") {
    const parts = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${formatString(k)}: ${formatLiteral(x)}`);
    return `{${parts.join(", ")}}`;
  }
  return JSON.stringify(String(v));
}

/** Split `a, [b, c], 'd,e'` at its top-level commas. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      cur += ch;
      if (ch === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "[" || ch === "{") depth++;
    else if (ch === "]" || ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += ch;
  }
  if (cur.trim() || out.length) out.push(cur);
  return out;
}

/** The first top-level `:` of a flow-mapping entry (`k: v`), or -1. */
function colonAt(s: string): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === "\\" && quote === '"') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "[" || ch === "{") depth++;
    else if (ch === "]" || ch === "}") depth--;
    else if (ch === ":" && depth === 0) return i;
  }
  return -1;
}

/** A literal → its value, as PyYAML would read it (scalars, flow lists and mappings). */
export function parseLiteral(text: string): unknown {
  const s = text.trim();
  if (s === "" || /^(null|~)$/i.test(s)) return null;
  if (/^(true|yes|on)$/i.test(s)) return true;
  if (/^(false|no|off)$/i.test(s)) return false;
  if (INT.test(s)) return Number(s.replace(/_/g, ""));
  if (FLOAT.test(s)) return Number(s.replace(/_/g, ""));
  if (/^[-+]?\.inf$/i.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
  if (/^\.nan$/i.test(s)) return NaN;
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) {
    try {
      return JSON.parse(s) as string;
    } catch {
      return s.slice(1, -1);
    }
  }
  if (s.length >= 2 && s.startsWith("'") && s.endsWith("'")) return s.slice(1, -1).replace(/''/g, "'");
  if (s.startsWith("[") && s.endsWith("]")) return splitTop(s.slice(1, -1)).map(parseLiteral);
  if (s.startsWith("{") && s.endsWith("}")) {
    const out: Record<string, unknown> = {};
    for (const part of splitTop(s.slice(1, -1))) {
      const at = colonAt(part);
      if (at < 0) out[String(parseLiteral(part))] = null;
      else out[String(parseLiteral(part.slice(0, at)))] = parseLiteral(part.slice(at + 1));
    }
    return out;
  }
  return s;
}

/** A comma list as typed in a form (`1, 2, 3` or `a, b`) → its items, each read as a literal. */
export function parseCommaList(text: string): unknown[] {
  const t = text.trim();
  if (!t) return [];
  const inner = t.startsWith("[") && t.endsWith("]") ? t.slice(1, -1) : t;
  return splitTop(inner).map(parseLiteral);
}

/** A list's items as a comma list for a text field. */
export function formatCommaList(v: unknown[]): string {
  return v.map(formatLiteral).join(", ");
}
