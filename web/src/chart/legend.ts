// The legend's values: per run the value at the cursor's x (the bucket's mean, with its
// NaN/±Inf counts) or, without a cursor, the last value. Written into the DOM directly
// (it changes per mouse move); shared by the chart panels and the metrics grid.
import { fmtClock, fmtValue } from "../format";
import type { Axis, BucketSeries } from "./model";

export function fmtX(axis: Axis, x: number): string {
  if (axis === "step") return `step ${Math.round(x)}`;
  return fmtClock(x);
}

/**
 * Fill `legendEl`: its `[data-legend-x]` gets x, each `[data-legend-run="<id>"]
 * [data-legend-value]` the run's value (class `bad` when it is not finite).
 */
export function fillLegend(
  legendEl: HTMLElement,
  runs: string[],
  axis: Axis,
  x: number | null,
  series: (runId: string) => BucketSeries | undefined,
): void {
  const xEl = find(legendEl, "", "[data-legend-x]");
  if (xEl) setText(xEl, x === null ? "" : fmtX(axis, x));
  for (const r of runs) {
    const el = find(legendEl, r, () => `[data-legend-run="${CSS.escape(r)}"] [data-legend-value]`);
    if (!el) continue;
    const s = series(r);
    if (!s || !s.length) {
      setText(el, "—");
      continue;
    }
    const i = x === null ? s.length - 1 : s.nearest(x);
    const nonFinite = s.nan[i]! + s.pinf[i]! + s.ninf[i]!;
    let text = x === null ? fmtValue(s.last[i]) : fmtValue(s.finiteCount(i) ? s.mean[i] : s.last[i]);
    if (x !== null && nonFinite) {
      const parts: string[] = [];
      if (s.nan[i]) parts.push(`NaN×${s.nan[i]}`);
      if (s.pinf[i]) parts.push(`+Inf×${s.pinf[i]}`);
      if (s.ninf[i]) parts.push(`-Inf×${s.ninf[i]}`);
      text += ` (${parts.join(" ")})`;
    }
    setText(el, text);
    el.classList.toggle("bad", x === null ? !Number.isFinite(s.last[i]!) : nonFinite > 0);
  }
}

/** Per legend, its elements as last found (by run id; "" for x). */
const found = new WeakMap<HTMLElement, Map<string, HTMLElement>>();

/**
 * The element of `legendEl` that `selector` names, as found before while it is still
 * there (a chart redrawn at every live step looked its legend's six elements up again
 * each time; React may have replaced them since, so a kept one is checked).
 */
function find(legendEl: HTMLElement, id: string, selector: string | (() => string)): HTMLElement | null {
  let kept = found.get(legendEl);
  const el = kept?.get(id);
  if (el && el.isConnected && legendEl.contains(el)) return el;
  const fresh = legendEl.querySelector<HTMLElement>(typeof selector === "string" ? selector : selector());
  if (fresh) {
    if (!kept) found.set(legendEl, (kept = new Map()));
    kept.set(id, fresh);
  }
  return fresh;
}

/**
 * Set an element's text unless it already reads so: a chart redrawn at every live step
 * whose values read the same (rounded to what `fmtValue` shows) leaves its legend's text
 * nodes alone, and the page is not laid out again for it.
 */
function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
