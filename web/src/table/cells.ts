// What a table cell shows: built-in fields from the live run (kept current by the run_update
// pushes), everything else from the values the server sent with the row.
import type { RunOut } from "../api/client";
import { fmtEta, fmtPercent, fmtSpeed } from "../components/progress-format";
import { fmtDuration, fmtValue } from "../format";
import { duration } from "../panels/RunListModel";
import type { TableRun } from "./api";
import type { ColumnSpec } from "./columns";

const LIVE_FIELDS = new Set(["status", "name", "project", "tags", "created_at", "heartbeat_at", "ended_at", "progress", "eta_s", "steps_per_s"]);

/** The raw value of column `id` for a row; `live` is the same run as pushed since. */
export function cellValue(row: TableRun, live: RunOut | undefined, id: string, now: number): unknown {
  const run = (live ?? row) as TableRun;
  if (id === "duration") return duration(run, now);
  if (LIVE_FIELDS.has(id)) {
    const v = (run as unknown as Record<string, unknown>)[id];
    if (v !== undefined) return v;
  }
  return row.values?.[id] ?? null;
}

function fmtTime(t: unknown): string {
  if (typeof t !== "number" || !Number.isFinite(t)) return "—";
  const d = new Date(t * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A cell's text as shown. */
export function cellText(spec: ColumnSpec, v: unknown): string {
  if (v === null || v === undefined) return "";
  switch (spec.kind) {
    case "tags":
      return Array.isArray(v) ? v.join(" ") : String(v);
    case "time":
      return fmtTime(v);
    case "duration":
      if (spec.id === "eta_s") return typeof v === "number" ? fmtEta(v) : "";
      return typeof v === "number" ? fmtDuration(v) : fmtValue(v);
    default:
      if (spec.id === "progress" && typeof v === "number") return fmtPercent(v);
      if (spec.id === "steps_per_s" && typeof v === "number") return fmtSpeed(v);
      return fmtValue(v);
  }
}

/** A cell's value in a CSV file: exact, not as shown. */
export function cellCsv(spec: ColumnSpec, v: unknown): string | number | boolean | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.join(";");
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
  void spec;
  return JSON.stringify(v);
}

/** The table as CSV: `id`, then one column per column id, values exact. */
export function tableCsvRows(specs: readonly ColumnSpec[], rows: readonly TableRun[], now: number): Array<Array<string | number | boolean | null>> {
  return rows.map((r) => [r.id, ...specs.map((s) => cellCsv(s, cellValue(r, undefined, s.id, now)))]);
}
