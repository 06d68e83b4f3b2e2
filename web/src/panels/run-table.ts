// The run list as a CSV file: the rows shown (filtered, in their order) with what each
// row shows — id, name, project, status, tags, created and started time, duration, and
// the last logged value of the metric column with its step — exact, not as displayed.
import type { RunOut } from "../api/client";
import { csvText, type CsvValue } from "../download/csv";
import { READ_CHUNK, type LastValue, type ReadLast } from "./last-values";
import { duration } from "./RunListModel";

/** A Unix time in seconds as ISO 8601 UTC (empty when unknown). */
export function isoTime(t: number | null | undefined): string {
  if (t === null || t === undefined || !Number.isFinite(t)) return "";
  return new Date(t * 1000).toISOString();
}

export function runTableHeader(metric: string): string[] {
  return ["id", "name", "project", "status", "tags", "created", "started", "duration_s", "step", metric];
}

/** One row per run; `last(id)`: the metric's last point (null/undefined: none). */
export function runTableRows(
  runs: readonly RunOut[],
  last: (runId: string) => LastValue | null | undefined,
  now: number,
): CsvValue[][] {
  return runs.map((r) => {
    const v = last(r.id);
    return [
      r.id,
      r.name,
      r.project,
      r.status,
      r.tags.join(";"),
      isoTime(r.created_at),
      isoTime(r.started_at),
      Math.round(duration(r, now) * 1000) / 1000,
      v ? v.step : null,
      v ? v.value : null,
    ];
  });
}

export function runTableCsv(
  runs: readonly RunOut[],
  metric: string,
  last: (runId: string) => LastValue | null | undefined,
  now: number,
): string {
  return csvText(runTableHeader(metric), runTableRows(runs, last, now));
}

/** The last values of `ids`: those held, the others read (READ_CHUNK runs per read). */
export async function lastValuesOf(
  ids: readonly string[],
  held: (runId: string) => LastValue | null | undefined,
  read: ReadLast,
  key: string,
): Promise<Map<string, LastValue | null>> {
  const out = new Map<string, LastValue | null>();
  const missing: string[] = [];
  for (const id of ids) {
    const v = held(id);
    if (v === undefined) missing.push(id);
    else out.set(id, v);
  }
  for (let i = 0; i < missing.length; i += READ_CHUNK) {
    const chunk = missing.slice(i, i + READ_CHUNK);
    const got = await read(key, chunk);
    for (const id of chunk) out.set(id, got.get(id) ?? null);
  }
  return out;
}

/** `runs-20250101-120304.csv` (local time). */
export function runTableFileName(at: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const d = `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}`;
  return `runs-${d}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}.csv`;
}
