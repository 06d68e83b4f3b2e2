// Hydra overrides (`optim.lr=0.01`, `+extra.k=1`, `~dropout`) ↔ config values. Pure.
// The form keeps the user's changes as edits (dotted path → value); they leave as
// override strings, and the server resolves them (preset first, then these).
import { formatLiteral, parseLiteral } from "./literal";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Config = Record<string, unknown>;

export type Override =
  | { op: "set" | "add"; path: string; value: unknown }
  | { op: "remove"; path: string };

const KEY = /^[A-Za-z_][\w\-]*(\.[A-Za-z_0-9][\w\-]*)*$/;

/** One override string → what it does, or an error message. */
export function parseOverride(text: string): Override | { error: string } {
  const s = text.trim();
  if (!s) return { error: "empty override" };
  if (s.startsWith("~")) {
    const path = s.slice(1).split("=")[0]!.trim();
    return KEY.test(path) ? { op: "remove", path } : { error: `bad key in ${JSON.stringify(s)}` };
  }
  const add = s.startsWith("+");
  const body = add ? s.slice(1) : s;
  const eq = body.indexOf("=");
  if (eq < 0) return { error: `${JSON.stringify(s)} is not key=value` };
  const path = body.slice(0, eq).trim();
  if (!KEY.test(path)) return { error: `bad key ${JSON.stringify(path)}` };
  return { op: add ? "add" : "set", path, value: parseLiteral(body.slice(eq + 1)) };
}

export function formatOverride(o: Override): string {
  if (o.op === "remove") return `~${o.path}`;
  return `${o.op === "add" ? "+" : ""}${o.path}=${formatLiteral(o.value)}`;
}

const isObject = (v: unknown): v is Config => typeof v === "object" && v !== null && !Array.isArray(v);

/** The value at a dotted path, and whether it is there. */
export function getPath(obj: unknown, path: string): { found: boolean; value: unknown } {
  let cur: unknown = obj;
  for (const k of path.split(".")) {
    if (!isObject(cur) || !(k in cur)) return { found: false, value: undefined };
    cur = cur[k];
  }
  return { found: true, value: cur };
}

/** A copy of `obj` with the value at `path` set (missing mappings created). */
export function setPath(obj: Config, path: string, value: unknown): Config {
  const [head, ...rest] = path.split(".");
  if (head === undefined) return obj;
  if (!rest.length) return { ...obj, [head]: value };
  const child = isObject(obj[head]) ? (obj[head] as Config) : {};
  return { ...obj, [head]: setPath(child, rest.join("."), value) };
}

/** A copy of `obj` without the key at `path`. */
export function removePath(obj: Config, path: string): Config {
  const [head, ...rest] = path.split(".");
  if (head === undefined || !(head in obj)) return obj;
  if (!rest.length) {
    const { [head]: _, ...out } = obj;
    return out;
  }
  const child = obj[head];
  return isObject(child) ? { ...obj, [head]: removePath(child, rest.join(".")) } : obj;
}

/** Apply override strings in order (a local preview; the server's answer is the truth). */
export function applyOverrides(config: Config, overrides: readonly string[]): { config: Config; errors: string[] } {
  let out = config;
  const errors: string[] = [];
  for (const text of overrides) {
    const o = parseOverride(text);
    if ("error" in o) errors.push(o.error);
    else if (o.op === "remove") out = removePath(out, o.path);
    else out = setPath(out, o.path, o.value);
  }
  return { config: out, errors };
}

/** Deep equality of JSON values. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameValue(a[k], b[k]));
  }
  return false;
}

/** The form's changes as overrides against `base` (defaults with the preset applied):
 *  an edit equal to the base value says nothing; a key the base lacks is added (`+`). */
export function editsToOverrides(base: Config, edits: ReadonlyMap<string, unknown>): string[] {
  const out: string[] = [];
  for (const [path, value] of edits) {
    const at = getPath(base, path);
    if (at.found && sameValue(at.value, value)) continue;
    out.push(formatOverride({ op: at.found ? "set" : "add", path, value }));
  }
  return out;
}

/** Override strings (e.g. a cloned launch's) → the form's edits for the plain `k=v` ones,
 *  and the rest (`+k=v`, `~k`, unreadable ones) kept as typed. */
export function overridesToEdits(overrides: readonly string[]): { edits: Map<string, unknown>; extra: string[] } {
  const edits = new Map<string, unknown>();
  const extra: string[] = [];
  for (const text of overrides) {
    const o = parseOverride(text);
    if (!("error" in o) && o.op === "set") edits.set(o.path, o.value);
    else extra.push(text);
  }
  return { edits, extra };
}

/** Every leaf of a config by dotted path (lists and empty mappings are leaves). */
export function leaves(obj: Config, prefix = ""): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (isObject(v) && Object.keys(v).length) for (const [q, x] of leaves(v, p)) out.set(q, x);
    else out.set(p, v);
  }
  return out;
}

/** A run's config against a template's defaults → edits that turn one into the other, for
 *  the keys the defaults have (a clone of a run traindeck did not launch). */
export function editsFromConfig(defaults: Config, config: Config): Map<string, unknown> {
  const edits = new Map<string, unknown>();
  for (const [path, value] of leaves(config)) {
    const at = getPath(defaults, path);
    if (at.found && !sameValue(at.value, value)) edits.set(path, value);
  }
  return edits;
}
