// A template's JSON Schema (and its defaults) → the builder's form fields. Pure.
// Numbers with their range, enums as choices, booleans, strings, nested objects as
// groups, lists of scalars as comma lists; anything else is a YAML-literal text field.
import type { Config } from "./overrides";

export type Schema = Record<string, unknown>;

interface FieldBase {
  /** Dotted path (`optim.lr`); the server's error paths are `$.` + this. */
  path: string;
  key: string;
  label: string;
  description: string;
  required: boolean;
  nullable: boolean;
}

export type Field =
  | (FieldBase & { kind: "number"; integer: boolean; min: number | null; max: number | null; exclusiveMin: boolean; exclusiveMax: boolean })
  | (FieldBase & { kind: "enum"; options: unknown[] })
  | (FieldBase & { kind: "boolean" })
  | (FieldBase & { kind: "string"; minLength: number | null; maxLength: number | null; pattern: string | null })
  | (FieldBase & { kind: "list"; item: "number" | "integer" | "string" | "boolean" | "any"; minItems: number | null; maxItems: number | null })
  | (FieldBase & { kind: "object"; fields: Field[] })
  | (FieldBase & { kind: "literal" });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Follow a local `$ref` (`#/$defs/X`, `#/definitions/X`) against the root schema. */
function deref(s: Schema, root: Schema, depth = 0): Schema {
  const ref = s.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/") || depth > 16) return s;
  let cur: unknown = root;
  for (const part of ref.slice(2).split("/")) cur = isObject(cur) ? cur[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
  if (!isObject(cur)) return s;
  const { $ref: _, ...rest } = s;
  return { ...deref(cur, root, depth + 1), ...rest };
}

/** The one non-null type of a schema (`["number", "null"]`, `anyOf: [{…}, {type: null}]`). */
function unwrap(s: Schema, root: Schema): { schema: Schema; nullable: boolean } {
  let schema = deref(s, root);
  let nullable = false;
  const alts = (schema.anyOf ?? schema.oneOf) as unknown;
  if (Array.isArray(alts)) {
    const real = alts.filter((a) => isObject(a) && a.type !== "null").map((a) => deref(a as Schema, root));
    nullable = real.length < alts.length;
    if (real.length === 1) {
      const { anyOf: _a, oneOf: _o, ...rest } = schema;
      schema = { ...real[0], ...rest };
    }
  }
  if (Array.isArray(schema.type)) {
    const types = (schema.type as unknown[]).filter((t) => t !== "null");
    nullable = nullable || types.length < (schema.type as unknown[]).length;
    schema = { ...schema, type: types.length === 1 ? types[0] : types };
  }
  if (Array.isArray(schema.enum) && schema.enum.includes(null)) nullable = true;
  return { schema, nullable };
}

/** A schema for a default value, when the template's schema says nothing of a key. */
export function inferSchema(v: unknown): Schema {
  if (typeof v === "boolean") return { type: "boolean" };
  if (typeof v === "number") return { type: Number.isInteger(v) ? "integer" : "number" };
  if (typeof v === "string") return { type: "string" };
  if (Array.isArray(v)) {
    const first = v[0];
    return { type: "array", items: first === undefined || typeof first === "object" ? {} : inferSchema(first) };
  }
  if (isObject(v)) return { type: "object", properties: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, inferSchema(x)])) };
  return {};
}

function label(key: string, s: Schema): string {
  return typeof s.title === "string" && s.title ? s.title : key;
}

function fieldOf(key: string, path: string, raw: Schema, root: Schema, required: boolean, defaults: unknown): Field {
  const { schema: s, nullable } = unwrap(raw, root);
  const base: FieldBase = {
    path,
    key,
    label: label(key, s),
    description: typeof s.description === "string" ? s.description : "",
    required,
    nullable,
  };
  if (Array.isArray(s.enum)) return { ...base, kind: "enum", options: s.enum.filter((x) => x !== null) };
  if ("const" in s) return { ...base, kind: "enum", options: [s.const] };
  const t = s.type;
  if (t === "number" || t === "integer") {
    const exMin = num(s.exclusiveMinimum);
    const exMax = num(s.exclusiveMaximum);
    return {
      ...base,
      kind: "number",
      integer: t === "integer",
      min: exMin ?? num(s.minimum),
      max: exMax ?? num(s.maximum),
      exclusiveMin: exMin !== null,
      exclusiveMax: exMax !== null,
    };
  }
  if (t === "boolean") return { ...base, kind: "boolean" };
  if (t === "string") {
    return { ...base, kind: "string", minLength: num(s.minLength), maxLength: num(s.maxLength), pattern: typeof s.pattern === "string" ? s.pattern : null };
  }
  if (t === "array") {
    const items = isObject(s.items) ? unwrap(s.items, root).schema : {};
    const it = items.type;
    const item = it === "number" || it === "integer" || it === "string" || it === "boolean" ? it : "any";
    if (item !== "any" || (Array.isArray(defaults) && defaults.every((x) => x === null || typeof x !== "object"))) {
      return { ...base, kind: "list", item, minItems: num(s.minItems), maxItems: num(s.maxItems) };
    }
    return { ...base, kind: "literal" };
  }
  if (t === "object" || isObject(s.properties)) {
    return { ...base, kind: "object", fields: fieldsOf(s, root, path, isObject(defaults) ? defaults : {}) };
  }
  return { ...base, kind: "literal" };
}

function fieldsOf(s: Schema, root: Schema, prefix: string, defaults: Config): Field[] {
  const props = isObject(s.properties) ? (s.properties as Record<string, Schema>) : {};
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const out: Field[] = [];
  const seen = new Set<string>();
  for (const [k, sub] of Object.entries(props)) {
    seen.add(k);
    out.push(fieldOf(k, prefix ? `${prefix}.${k}` : k, isObject(sub) ? sub : {}, root, required.has(k), defaults[k]));
  }
  // Keys the defaults have and the schema does not name: inferred from their value.
  for (const [k, v] of Object.entries(defaults)) {
    if (!seen.has(k)) out.push(fieldOf(k, prefix ? `${prefix}.${k}` : k, inferSchema(v), root, false, v));
  }
  return out;
}

/** The form for a template: one field per top-level key, nested ones inside object fields. */
export function formFields(schema: Schema, defaults: Config): Field[] {
  const root = isObject(schema) ? schema : {};
  return fieldsOf(deref(root, root), root, "", defaults);
}

/** Every field's path, nested ones included (for placing errors). */
export function fieldPaths(fields: readonly Field[]): string[] {
  return fields.flatMap((f) => (f.kind === "object" ? [f.path, ...fieldPaths(f.fields)] : [f.path]));
}

/** A short hint of a number field's range: `0 ≤ x ≤ 1`, `> 0`, `int`. */
export function rangeHint(f: Extract<Field, { kind: "number" }>): string {
  const lo = f.min === null ? "" : `${f.min} ${f.exclusiveMin ? "<" : "≤"} `;
  const hi = f.max === null ? "" : ` ${f.exclusiveMax ? "<" : "≤"} ${f.max}`;
  const core = lo || hi ? `${lo}x${hi}` : "";
  return [f.integer ? "int" : "", core].filter(Boolean).join(" ");
}

export interface PlacedErrors {
  /** Errors by the dotted path of the field they belong to. */
  byField: Map<string, string[]>;
  /** Errors no field shows (the root, unknown keys): listed above the form. */
  general: Array<{ path: string; message: string }>;
}

/** `$.optim.lr` → `optim.lr`; `$.layers[2]` / `$.layers.2` → `layers.2`; `$` → "". */
export function dottedPath(jsonPath: string): string {
  return jsonPath
    .replace(/^\$\.?/, "")
    .replace(/\[(\d+)\]/g, ".$1")
    .replace(/\['([^']*)'\]|\["([^"]*)"\]/g, (_, a: string | undefined, b: string | undefined) => `.${a ?? b}`)
    .replace(/^\./, "");
}

/** Put each server error next to the field at its path, or the nearest enclosing one;
 *  an error under no field (or at an object's own key, as "required" is) is shown there. */
export function placeErrors(errors: ReadonlyArray<{ path: string; message: string }>, paths: readonly string[]): PlacedErrors {
  const known = new Set(paths);
  const byField = new Map<string, string[]>();
  const general: Array<{ path: string; message: string }> = [];
  for (const e of errors) {
    let p = dottedPath(e.path);
    while (p && !known.has(p)) p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "";
    if (!p) general.push(e);
    else byField.set(p, [...(byField.get(p) ?? []), e.message]);
  }
  return { byField, general };
}
