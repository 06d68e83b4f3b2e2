// System metrics (sys/* series) for the system panel: labels, units, grouping per GPU (and
// per rank for a run of several processes, whose SDK logs `sys/rank{r}/…`), and a small
// history per key merged from REST buckets and live points by step.
import type { BucketColumns } from "../api/client";
import { toNumber } from "../api/client";
import { fmtBytes } from "../format";

export const MAX_POINTS = 240;

export interface SysSeries {
  steps: number[];
  values: Array<number | null>;
}

export interface SysMeta {
  /** "host", "process", "GPU 0", …; "rank 1" for every series of rank 1. */
  group: string;
  /** "cpu", "util"; within a rank the GPU's too ("GPU 0 util"). */
  label: string;
  /** The rank of a `sys/rank{r}/…` series, else null. */
  rank: number | null;
  unit: string;
  /** Fixed sparkline range (percentages). */
  min?: number;
  max?: number;
  order: number;
}

const HOST: Record<string, [string, string, number]> = {
  cpu_percent: ["cpu", "%", 0],
  mem_percent: ["mem", "%", 1],
  mem_used_gb: ["mem used", "GB", 2],
  disk_percent: ["disk", "%", 3],
  disk_read_mbps: ["disk read", "MB/s", 4],
  disk_write_mbps: ["disk write", "MB/s", 5],
  net_recv_mbps: ["net recv", "MB/s", 6],
  net_sent_mbps: ["net sent", "MB/s", 7],
  proc_cpu_percent: ["proc cpu", "%", 8],
  proc_rss_gb: ["proc rss", "GB", 9],
};

const GPU: Record<string, [string, string, number]> = {
  util: ["util", "%", 0],
  mem_percent: ["mem", "%", 1],
  mem_used: ["mem used", "B", 2],
  mem_total: ["mem total", "B", 3],
  temp_c: ["temp", "°C", 4],
  power_w: ["power", "W", 5],
};

function unitOf(name: string): string {
  if (name.endsWith("_percent") || name === "util") return "%";
  if (name.endsWith("_gb")) return "GB";
  if (name.endsWith("_mb")) return "MB";
  if (name.endsWith("_mbps")) return "MB/s";
  if (name.endsWith("_c")) return "°C";
  if (name.endsWith("_w")) return "W";
  return "";
}

/** Series of one rank are ordered after the single-process ones, rank by rank. */
const RANK_ORDER = 10_000;

export function sysMeta(key: string): SysMeta {
  const rest = key.replace(/^sys\//, "");
  const ranked = /^rank(\d+)\/(.+)$/.exec(rest);
  if (ranked) {
    const rank = Number(ranked[1]);
    const inner = processMeta(ranked[2]!);
    return {
      ...inner,
      group: `rank ${rank}`,
      label: inner.group.startsWith("GPU") ? `${inner.group} ${inner.label}` : inner.label,
      rank,
      order: RANK_ORDER * (rank + 1) + inner.order,
    };
  }
  return processMeta(rest);
}

/** The meta of one process's series (the key without `sys/` and the rank). */
function processMeta(rest: string): SysMeta {
  const gpu = /^gpu(\d+)\/(.+)$/.exec(rest);
  if (gpu) {
    const n = Number(gpu[1]);
    const name = gpu[2]!;
    const known = GPU[name];
    const unit = known?.[1] ?? unitOf(name);
    return {
      group: `GPU ${n}`,
      label: known?.[0] ?? name.replace(/_/g, " "),
      rank: null,
      unit,
      ...(unit === "%" ? { min: 0, max: 100 } : {}),
      order: 1000 + n * 100 + (known?.[2] ?? 50),
    };
  }
  const known = HOST[rest];
  const unit = known?.[1] ?? unitOf(rest);
  const group = rest.startsWith("proc_") ? "process" : "host";
  return {
    group,
    label: known?.[0] ?? rest.replace(/_/g, " ").replace(/\//g, " "),
    rank: null,
    unit,
    ...(unit === "%" ? { min: 0, max: 100 } : {}),
    order: (group === "process" ? 500 : 0) + (known?.[2] ?? 50),
  };
}

/** The ranks among a run's sys/* keys, in order (empty: a single-process run). */
export function ranksOf(keys: Iterable<string>): number[] {
  const out = new Set<number>();
  for (const k of keys) {
    const r = sysMeta(k).rank;
    if (r !== null) out.add(r);
  }
  return [...out].sort((a, b) => a - b);
}

/** Keys in display order. */
export function sortSysKeys(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => sysMeta(a).order - sysMeta(b).order || (a < b ? -1 : 1));
}

export function fromBuckets(b: BucketColumns): SysSeries {
  const steps: number[] = [];
  const values: Array<number | null> = [];
  for (let i = 0; i < b.last_step.length; i++) {
    steps.push(b.last_step[i]!);
    const v = toNumber(b.last[i] ?? null);
    values.push(v !== null && Number.isFinite(v) ? v : (b.mean[i] ?? null));
  }
  return trim({ steps, values });
}

function trim(s: SysSeries): SysSeries {
  if (s.steps.length <= MAX_POINTS) return s;
  const k = s.steps.length - MAX_POINTS;
  return { steps: s.steps.slice(k), values: s.values.slice(k) };
}

/** Points after the series' last step are appended (older or repeated steps are dropped). */
export function appendPoints(
  s: SysSeries | undefined,
  pts: Array<[number, number, number | string]>,
): SysSeries {
  const steps = s ? [...s.steps] : [];
  const values = s ? [...s.values] : [];
  let last = steps.length ? steps[steps.length - 1]! : -Infinity;
  for (const [step, , v] of pts) {
    if (step <= last) continue;
    steps.push(step);
    values.push(toNumber(v));
    last = step;
  }
  return trim({ steps, values });
}

/** The last finite value, or null. */
export function lastValue(s: SysSeries | undefined): number | null {
  if (!s) return null;
  for (let i = s.values.length - 1; i >= 0; i--) {
    const v = s.values[i];
    if (v !== null && v !== undefined && Number.isFinite(v)) return v;
  }
  return null;
}

export function fmtSys(v: number | null, unit: string): string {
  if (v === null) return "—";
  if (unit === "B") return fmtBytes(v);
  if (unit === "%") return `${v.toFixed(1)}%`;
  const a = Math.abs(v);
  const s = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  return unit ? `${s} ${unit}` : s;
}

