// Axis helpers of the chart (pure, tested).

/** Ticks for a log axis: the decades in range, or 1-2-5 steps when fewer than two fit. */
export function logSplits(min: number, max: number): number[] {
  if (!(min > 0) || !(max > min)) return [];
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const out: number[] = [];
  for (const mult of hi - lo >= 3 ? [1] : [1, 2, 5]) {
    for (let e = lo; e <= hi; e++) {
      const v = mult * 10 ** e;
      if (v >= min && v <= max) out.push(v);
    }
  }
  return out.sort((a, b) => a - b);
}
