// The dashboard layout as plain data: a 3×3 grid of cells, each holding an ordered list of
// panels shown as tabs (one active), plus column and row fractions. Pure functions only;
// layoutStore.ts keeps the current value and persists it.
import type { PanelId } from "../panels/types";

export const ALL_PANELS: PanelId[] = [
  "runs",
  "system",
  "events",
  "chartA",
  "chartB",
  "config",
  "checkpoints",
  "actions",
  "console",
  "images",
  "artifacts",
  "builder",
  "table",
  "alerts",
  "metrics",
];

export interface Cell {
  panels: PanelId[];
  /** The panel shown; null only when the cell is empty. */
  active: PanelId | null;
}

export interface LayoutState {
  cells: Cell[]; // always 9, row-major
  cols: number[]; // 3 fractions summing to 1
  rows: number[]; // 3 fractions summing to 1
}

export const STORAGE_KEY = "traindeck.layout.v1";
export const MIN_FRACTION = 0.1;
const N = 3;

export function defaultLayout(): LayoutState {
  const order: PanelId[][] = [
    ["runs"],
    ["system"],
    ["events", "alerts"],
    ["chartA", "metrics"],
    ["chartB"],
    ["config"],
    ["checkpoints", "table"],
    ["actions", "builder"],
    ["console", "images", "artifacts"],
  ];
  return {
    cells: order.map((panels) => ({ panels, active: panels[0] ?? null })),
    cols: [1 / 3, 1 / 3, 1 / 3],
    rows: [1 / 3, 1 / 3, 1 / 3],
  };
}

/** The index of the cell holding a panel, or -1. */
export function cellOf(s: LayoutState, id: PanelId): number {
  return s.cells.findIndex((c) => c.panels.includes(id));
}

function withoutPanel(c: Cell, id: PanelId): Cell {
  const i = c.panels.indexOf(id);
  if (i < 0) return c;
  const panels = c.panels.filter((p) => p !== id);
  let active = c.active;
  if (active === id) active = panels[Math.min(i, panels.length - 1)] ?? null;
  return { panels, active };
}

/** Drop a panel onto a cell's tab strip: it joins that cell as the last tab, shown. */
export function joinTab(s: LayoutState, id: PanelId, target: number): LayoutState {
  const from = cellOf(s, id);
  if (from < 0 || target < 0 || target >= s.cells.length) return s;
  if (from === target) return showPanel(s, id);
  const cells = s.cells.map((c, i) => {
    if (i === from) return withoutPanel(c, id);
    if (i === target) return { panels: [...c.panels, id], active: id };
    return c;
  });
  return { ...s, cells };
}

/**
 * Drop a panel onto a cell's body: it moves there. When the target shows another panel,
 * that one takes the dragged panel's place in the source cell (a swap), so no cell is
 * left empty by a move between two single-panel cells.
 */
export function movePanel(s: LayoutState, id: PanelId, target: number): LayoutState {
  const from = cellOf(s, id);
  if (from < 0 || target < 0 || target >= s.cells.length) return s;
  if (from === target) return showPanel(s, id);
  const other = s.cells[target]!.active;
  if (!other) return joinTab(s, id, target);
  const cells = s.cells.map((c, i) => {
    if (i === from) {
      const panels = c.panels.map((p) => (p === id ? other : p));
      return { panels, active: c.active === id ? other : c.active };
    }
    if (i === target) {
      const panels = c.panels.map((p) => (p === other ? id : p));
      return { panels, active: id };
    }
    return c;
  });
  return { ...s, cells };
}

/** Bring a panel to the front of its cell. */
export function showPanel(s: LayoutState, id: PanelId): LayoutState {
  const at = cellOf(s, id);
  if (at < 0 || s.cells[at]!.active === id) return s;
  const cells = s.cells.map((c, i) => (i === at ? { ...c, active: id } : c));
  return { ...s, cells };
}

/**
 * Move the gutter after column/row `index` (0 or 1) by `delta` (a fraction of the whole):
 * the two neighbours trade size, neither going under MIN_FRACTION.
 */
export function resize(s: LayoutState, axis: "cols" | "rows", index: number, delta: number): LayoutState {
  const fr = [...s[axis]];
  if (index < 0 || index >= fr.length - 1 || !Number.isFinite(delta)) return s;
  const a = fr[index]!;
  const b = fr[index + 1]!;
  const d = Math.max(MIN_FRACTION - a, Math.min(b - MIN_FRACTION, delta));
  fr[index] = a + d;
  fr[index + 1] = b - d;
  return { ...s, [axis]: fr };
}

function validFractions(v: unknown): number[] | null {
  if (!Array.isArray(v) || v.length !== N) return null;
  if (!v.every((x) => typeof x === "number" && Number.isFinite(x) && x >= MIN_FRACTION * 0.99)) return null;
  const sum = (v as number[]).reduce((a, b) => a + b, 0);
  if (sum <= 0) return null;
  return (v as number[]).map((x) => x / sum);
}

/**
 * A stored value → a layout, or null when it is not one. Unknown panels are dropped,
 * duplicates kept once, panels it lacks (added in a newer version) join the last cell.
 */
export function validateLayout(v: unknown): LayoutState | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  const cols = validFractions(o.cols);
  const rows = validFractions(o.rows);
  if (!cols || !rows || !Array.isArray(o.cells) || o.cells.length !== N * N) return null;
  const seen = new Set<PanelId>();
  const known = new Set<string>(ALL_PANELS);
  const cells: Cell[] = [];
  for (const raw of o.cells) {
    if (!raw || typeof raw !== "object") return null;
    const c = raw as Record<string, unknown>;
    if (!Array.isArray(c.panels)) return null;
    const panels: PanelId[] = [];
    for (const p of c.panels) {
      if (typeof p === "string" && known.has(p) && !seen.has(p as PanelId)) {
        seen.add(p as PanelId);
        panels.push(p as PanelId);
      }
    }
    const active = typeof c.active === "string" && panels.includes(c.active as PanelId) ? (c.active as PanelId) : (panels[0] ?? null);
    cells.push({ panels, active });
  }
  for (const p of ALL_PANELS) {
    if (!seen.has(p)) {
      const last = cells[cells.length - 1]!;
      cells[cells.length - 1] = { panels: [...last.panels, p], active: last.active ?? p };
    }
  }
  return { cells, cols, rows };
}

export function loadLayout(storage: Pick<Storage, "getItem"> | null): LayoutState {
  try {
    const raw = storage?.getItem(STORAGE_KEY);
    if (raw) return validateLayout(JSON.parse(raw)) ?? defaultLayout();
  } catch {
    /* corrupt or unreadable: the default */
  }
  return defaultLayout();
}

export function saveLayout(storage: Pick<Storage, "setItem"> | null, s: LayoutState): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(s));
  } catch {
    /* full or blocked: not remembered */
  }
}

/** CSS grid-template value for fractions. */
export function template(fr: number[]): string {
  return fr.map((f) => `${(f * 100).toFixed(3)}fr`).join(" ");
}
