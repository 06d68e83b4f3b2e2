// The effective config as YAML lines, each marked against the defaults: changed, added,
// or (listed at the end as comments) removed. Pure.
import { formatLiteral, formatString } from "./literal";
import { getPath, leaves, sameValue, type Config } from "./overrides";

export type Mark = "same" | "changed" | "added" | "removed";

export interface YamlLine {
  text: string;
  /** The dotted path of the key on this line ("" for list items and comments). */
  path: string;
  mark: Mark;
}

export interface ConfigDiff {
  changed: string[];
  added: string[];
  removed: string[];
}

/** Which leaf paths differ between the defaults and the effective config. */
export function diffConfig(defaults: Config, effective: Config): ConfigDiff {
  const a = leaves(defaults);
  const b = leaves(effective);
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [p, v] of b) {
    if (!a.has(p)) {
      // A mapping that replaced a leaf (or grew keys) shows as added keys.
      added.push(p);
    } else if (!sameValue(a.get(p), v)) changed.push(p);
  }
  for (const p of a.keys()) if (!b.has(p) && !getPath(effective, p).found) removed.push(p);
  return { changed, added, removed };
}

const isObject = (v: unknown): v is Config => typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || typeof v !== "object";

/** The config as YAML lines (block mappings, flow lists of scalars, `- ` lists of the rest). */
export function toYaml(config: Config, defaults: Config = config): YamlLine[] {
  const d = diffConfig(defaults, config);
  const marks = new Map<string, Mark>();
  for (const p of d.changed) marks.set(p, "changed");
  for (const p of d.added) marks.set(p, "added");
  // A mapping key is marked when anything under it is.
  const under = (path: string): Mark => {
    const own = marks.get(path);
    if (own) return own;
    for (const [p, m] of marks) if (p.startsWith(`${path}.`)) return m === "added" && !getPath(defaults, path).found ? "added" : "changed";
    for (const p of d.removed) if (p.startsWith(`${path}.`)) return "changed";
    return "same";
  };
  const lines: YamlLine[] = [];
  const walk = (obj: Config, prefix: string, indent: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const path = prefix ? `${prefix}.${k}` : k;
      const key = `${indent}${formatString(k)}:`;
      const mark = under(path);
      if (isObject(v) && Object.keys(v).length) {
        lines.push({ text: key, path, mark });
        walk(v, path, `${indent}  `);
      } else if (Array.isArray(v) && v.length && !v.every(isScalar)) {
        lines.push({ text: key, path, mark });
        for (const item of v) lines.push({ text: `${indent}  - ${formatLiteral(item)}`, path: "", mark });
      } else {
        lines.push({ text: `${key} ${formatLiteral(v)}`, path, mark });
      }
    }
  };
  walk(config, "", "");
  for (const p of d.removed) lines.push({ text: `# removed: ${p}`, path: p, mark: "removed" });
  return lines;
}

/** The YAML as one string (for copying). */
export function yamlText(lines: readonly YamlLine[]): string {
  return lines.map((l) => l.text).join("\n");
}
