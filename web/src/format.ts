// How the dashboard writes times, sizes, durations and metric values: one way each, so
// the same number reads the same in every panel.
import { toNumber } from "./api/client";

const pad = (n: number) => String(n).padStart(2, "0");

/** Wall-clock time of a Unix time in seconds, local: 14:03:07. */
export function fmtClock(t: number): string {
  const d = new Date(t * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Bytes with binary units: 512 B, 1.5 KiB, 300 MiB; "?" when unknown. */
export function fmtBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "?";
  if (Math.abs(bytes) < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes / 1024;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A duration in seconds, two units at most: 42s, 3m12s, 2h05m, 3d04h; "—" when unknown. */
export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "—";
  const s = Math.floor(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** An age in its largest unit only: 30s, 5m, 2h, 3d. */
export function fmtAge(sec: number): string {
  return fmtDuration(Math.max(0, sec)).replace(/^(\d+[a-z]).*/, "$1");
}

/**
 * A metric value, compactly (5 significant digits, exponent for the very large or small).
 * Non-finite values as the chart marks them, whether they come as numbers or spelled by
 * the server ("NaN", "Infinity", "-Infinity"): NaN, +Inf, -Inf. Other strings as they are.
 */
export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "string") {
    if (v !== "NaN" && v !== "Infinity" && v !== "-Infinity") return v;
    v = toNumber(v);
  }
  if (typeof v === "boolean") return String(v);
  if (typeof v !== "number") return JSON.stringify(v) ?? "";
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(3);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(5)));
}
