// Axis titles: what x is (step or time) and what y is (the key, with a unit when the key
// says one). Pure, tested.
import type { Axis } from "./model";

// Suffixes (after `_`, `-`, `.` or `/`) that name a unit, checked in order.
const SUFFIX_UNITS: Array<[RegExp, string]> = [
  [/(?:^|[_\-./])(ms|millis(?:econds)?)$/i, "ms"],
  [/(?:^|[_\-./])(us|micros(?:econds)?)$/i, "µs"],
  [/(?:^|[_\-./])(s|sec|secs|seconds)$/i, "s"],
  [/(?:^|[_\-./])(pct|percent)$/i, "%"],
  [/%$/, "%"],
  [/(?:^|[_\-./])(bytes)$/i, "B"],
  [/(?:^|[_\-./])(kb|kib)$/i, "KiB"],
  [/(?:^|[_\-./])(mb|mib)$/i, "MiB"],
  [/(?:^|[_\-./])(gb|gib)$/i, "GiB"],
  [/(?:^|[_\-./])(w|watts?)$/i, "W"],
  [/(?:^|[_\-./])(c|celsius|temp_c)$/i, "°C"],
  [/(?:^|[_\-./])(per_s|per_sec|ps)$/i, "/s"],
];

// Whole last segments that say what they are (the unit is the quantity's own).
const NAMED: Array<[RegExp, string]> = [
  [/^(lr|learning_rate)$/i, "lr"],
  [/(^|_)(util|utilization)$/i, "%"],
  [/(^|_)(tokens_per_s|samples_per_s|steps_per_s|it_per_s|throughput)$/i, "/s"],
];

/**
 * The unit a key names, or null: an explicit `[unit]` or `(unit)` at its end wins, then a
 * unit suffix (`step_time_ms` → ms, `gpu0/mem_gb` → GiB), then a few well-known names
 * (`lr`, `…/util` → %).
 */
export function unitOf(key: string): string | null {
  const explicit = /[[(]\s*([^\])]{1,12}?)\s*[\])]\s*$/.exec(key);
  if (explicit) return explicit[1]!;
  const last = key.slice(key.lastIndexOf("/") + 1);
  for (const [re, u] of SUFFIX_UNITS) if (re.test(last)) return u;
  for (const [re, u] of NAMED) if (re.test(last)) return u;
  return null;
}

/** The x title. */
export function xTitle(axis: Axis): string {
  return axis === "step" ? "step" : "time";
}

/** The y title: the key, and its unit unless the key already ends with it in brackets. */
export function yTitle(key: string): string {
  const unit = unitOf(key);
  if (!unit || /[\])]\s*$/.test(key) || unit === key.slice(key.lastIndexOf("/") + 1)) return key;
  return `${key} (${unit})`;
}

/** Both titles of a chart of `key` on `axis`. */
export function axisTitles(axis: Axis, key: string): { x: string; y: string } {
  return { x: xTitle(axis), y: yTitle(key) };
}
