// Progress, speed and ETA of a run (issue 12 §3): the server keeps `total_steps`,
// `progress` (0–1), `steps_per_s` (smoothed) and `eta_s` on the run and pushes them with
// run_update; these turn them into the short texts the top bar, run list and headers show.
import type { RunOut } from "../api/client";

/** The progress fields of a run (null or absent: unknown). */
export interface RunProgressFields {
  total_steps?: number | null;
  progress?: number | null;
  steps_per_s?: number | null;
  eta_s?: number | null;
}

export type ProgressRun = Pick<RunOut, "status"> & RunProgressFields;

export interface ProgressInfo {
  /** 0–1, or null when the run has no total. */
  fraction: number | null;
  /** "42%" / "" */
  percent: string;
  /** "12.3 it/s" / "" */
  speed: string;
  /** "ETA 3m12s" / "" */
  eta: string;
  /** true while the run is live (running/paused). */
  live: boolean;
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Steps per second, 3 significant digits: 1234 it/s, 12.3 it/s, 0.42 it/s, 2.1 s/it under 0.1. */
export function fmtSpeed(v: number | null | undefined): string {
  if (!finite(v) || v <= 0) return "";
  if (v < 0.1) {
    const per = 1 / v;
    return `${per >= 100 ? Math.round(per) : Number(per.toPrecision(2))} s/it`;
  }
  if (v >= 100) return `${Math.round(v)} it/s`;
  return `${Number(v.toPrecision(3))} it/s`;
}

/** Seconds left: 45s, 3m12s, 2h05m, 3d04h; "<1s" under a second; "" when unknown. */
export function fmtEta(sec: number | null | undefined): string {
  if (!finite(sec) || sec < 0) return "";
  if (sec < 1) return "<1s";
  const s = Math.round(sec);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** 0.421 → "42%", 0.999 → "99%" (100% only when done), 0.004 → "0%". */
export function fmtPercent(f: number | null | undefined): string {
  if (!finite(f)) return "";
  const c = Math.max(0, Math.min(1, f));
  const p = c >= 1 ? 100 : Math.min(99, Math.floor(c * 100));
  return `${p}%`;
}

export function progressInfo(run: ProgressRun): ProgressInfo {
  const live = run.status === "running" || run.status === "paused";
  const fraction = finite(run.progress) ? Math.max(0, Math.min(1, run.progress)) : null;
  const eta = live && finite(run.eta_s) ? fmtEta(run.eta_s) : "";
  return {
    fraction,
    percent: fmtPercent(fraction),
    speed: live ? fmtSpeed(run.steps_per_s) : "",
    eta: eta ? `ETA ${eta}` : "",
    live,
  };
}

/** A text bar of `width` cells: ███▌░░░░ (eighths for the last cell). */
export function textBar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, fraction));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = eighths % 8;
  const PARTS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
  const head = "█".repeat(full) + (part ? PARTS[part]! : "");
  return head + "░".repeat(Math.max(0, width - full - (part ? 1 : 0)));
}

/** The longest ETA among live runs (when all of them will be done), or null. */
export function lastEta(runs: Iterable<ProgressRun>): number | null {
  let best: number | null = null;
  for (const r of runs) {
    if (r.status !== "running") continue;
    if (finite(r.eta_s) && (best === null || r.eta_s > best)) best = r.eta_s;
  }
  return best;
}
