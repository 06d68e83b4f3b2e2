// The run table's UI state, shared by the table panel and its wide view: columns (chosen
// and remembered in localStorage), sort, the filter box, column filters, grouping, the
// parallel-coordinates metric, and whether the table fills the window.
import { Store, useStore } from "../state/store";
import { DEFAULT_COLUMNS, columnSpec, validColumns } from "./columns";
import { composeQuery, sortParam, type SortTerm } from "./query";

export interface TableState {
  columns: string[];
  sort: SortTerm[];
  /** The filter box: the query language. */
  query: string;
  /** Column id → its filter text. */
  filters: Record<string, string>;
  /** `config:KEY`, `status`, `project`, `tag`, or null (no grouping). */
  groupBy: string | null;
  /** The parallel-coordinates chart: shown, and the metric column it colours by. */
  pcOpen: boolean;
  pcMetric: string | null;
  /** The table fills the window (the run list widened). */
  wide: boolean;
}

export const TABLE_STORAGE_KEY = "traindeck.table.v1";
const REMEMBERED = ["columns", "sort", "groupBy", "pcMetric"] as const;

export function defaultTableState(): TableState {
  return {
    columns: [...DEFAULT_COLUMNS],
    sort: [{ col: "created_at", desc: true }],
    query: "",
    filters: {},
    groupBy: null,
    pcOpen: false,
    pcMetric: null,
    wide: false,
  };
}

/** A stored value → the remembered part of the state (anything unknown is dropped). */
export function validateStored(v: unknown): Partial<TableState> {
  if (!v || typeof v !== "object") return {};
  const o = v as Record<string, unknown>;
  const out: Partial<TableState> = {};
  if (Array.isArray(o.columns)) out.columns = validColumns(o.columns);
  if (Array.isArray(o.sort)) {
    const sort: SortTerm[] = [];
    for (const s of o.sort) {
      if (!s || typeof s !== "object") continue;
      const { col, desc } = s as Record<string, unknown>;
      if (typeof col === "string" && columnSpec(col)?.sortable && !sort.some((x) => x.col === col)) sort.push({ col, desc: desc === true });
    }
    if (sort.length) out.sort = sort;
  }
  if (o.groupBy === null || (typeof o.groupBy === "string" && validGroupBy(o.groupBy))) out.groupBy = o.groupBy;
  if (o.pcMetric === null || (typeof o.pcMetric === "string" && columnSpec(o.pcMetric))) out.pcMetric = o.pcMetric;
  return out;
}

export function validGroupBy(by: string): boolean {
  return by === "status" || by === "project" || by === "tag" || (by.startsWith("config:") && by.length > 7);
}

export function loadTableState(storage: Pick<Storage, "getItem"> | null): TableState {
  const base = defaultTableState();
  try {
    const raw = storage?.getItem(TABLE_STORAGE_KEY);
    if (raw) return { ...base, ...validateStored(JSON.parse(raw)) };
  } catch {
    /* corrupt or unreadable: the default */
  }
  return base;
}

export function saveTableState(storage: Pick<Storage, "setItem"> | null, s: TableState): void {
  const keep: Record<string, unknown> = {};
  for (const k of REMEMBERED) keep[k] = s[k];
  try {
    storage?.setItem(TABLE_STORAGE_KEY, JSON.stringify(keep));
  } catch {
    /* full or blocked: not remembered */
  }
}

/** What the server is asked for: `q`, `sort`, `columns`, and what it could not take. */
export interface TableRequest {
  q: string;
  sort: string;
  columns: string;
  errors: string[];
}

export function tableRequest(s: Pick<TableState, "columns" | "sort" | "query" | "filters">): TableRequest {
  const { q, errors } = composeQuery(s.query, s.filters, columnSpec);
  // the sorted columns are read too, so a sort by a hidden column still has its values
  const cols = [...s.columns];
  for (const t of s.sort) if (!cols.includes(t.col)) cols.push(t.col);
  return { q, sort: sortParam(s.sort), columns: cols.join(","), errors };
}

const storage = typeof localStorage !== "undefined" ? localStorage : null;

export function createTableStore(from: Pick<Storage, "getItem" | "setItem"> | null): Store<TableState> {
  const store = new Store<TableState>(loadTableState(from));
  let last = store.get();
  store.subscribe(() => {
    const s = store.get();
    if (REMEMBERED.some((k) => s[k] !== last[k])) saveTableState(from, s);
    last = s;
  });
  return store;
}

export const tableUi = createTableStore(storage);

export function useTable<T>(select: (s: TableState) => T): T {
  return useStore(tableUi, select);
}
