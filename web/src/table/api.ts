// The run table's reads (contract B of issue 12): runs paged, sorted and filtered on the
// server with the chosen columns' values; the column chooser's keys; groups with aggregates.
import { ApiError, queryString, type RunOut } from "../api/client";

/** A run with the values of the columns asked for (`values[column_id]`). */
export type TableRun = RunOut & {
  values?: Record<string, unknown>;
  progress?: number | null;
  eta_s?: number | null;
  steps_per_s?: number | null;
  total_steps?: number | null;
};

export interface RunsPage {
  runs: TableRun[];
  total: number;
}

export interface ColumnKeys {
  metrics: string[];
  config: string[];
}

export interface Aggregate {
  min: number | null;
  max: number | null;
  mean: number | null;
}

export interface Group {
  value: unknown;
  count: number;
  aggregates: Record<string, Aggregate>;
}

export async function getJson<T>(path: string, query: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { credentials: "same-origin", headers: { accept: "application/json" } };
  if (signal) init.signal = signal;
  const res = await fetch(path + queryString(query), init);
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const data = (await res.json()) as { error?: { code?: string; message?: string }; detail?: unknown };
      if (data.error?.code) code = data.error.code;
      if (data.error?.message) message = data.error.message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message);
  }
  return (await res.json()) as T;
}

export interface PageQuery {
  q: string;
  sort: string;
  columns: string;
  offset: number;
  limit: number;
  project?: string | null;
}

export type LoadPage = (p: PageQuery, signal?: AbortSignal) => Promise<RunsPage>;

export const loadRunsPage: LoadPage = (p, signal) =>
  getJson<RunsPage>(
    "/api/runs",
    { q: p.q || undefined, sort: p.sort || undefined, columns: p.columns || undefined, limit: p.limit, offset: p.offset, project: p.project ?? undefined },
    signal,
  );

export const loadColumnKeys = (q: string, signal?: AbortSignal) =>
  getJson<ColumnKeys>("/api/runs/columns", { q: q || undefined }, signal);

export const loadGroups = (by: string, q: string, columns: string, signal?: AbortSignal) =>
  getJson<{ groups: Group[] }>("/api/runs/groups", { by, q: q || undefined, columns: columns || undefined }, signal);
