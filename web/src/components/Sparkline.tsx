// A tiny canvas line chart: values over their index, scaled to their own min/max (or a
// fixed range, e.g. 0–100 for percentages). Redraws on data and size changes only.
import { useEffect, useRef } from "react";

export interface SparklineProps {
  values: ArrayLike<number | null>;
  /** Fixed y-range; default the data's own. */
  min?: number;
  max?: number;
  /** A CSS colour or var(--x) name; default var(--fg). */
  color?: string;
  height?: number;
  className?: string;
}

function resolveColor(el: Element, c: string): string {
  const m = /^var\((--[\w-]+)\)$/.exec(c);
  if (!m) return c;
  return getComputedStyle(el).getPropertyValue(m[1]!).trim() || "#ffb000";
}

export function Sparkline({ values, min, max, color = "var(--fg)", height = 18, className }: SparklineProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  const draw = useRef<() => void>(() => {});

  draw.current = () => {
    const cv = ref.current;
    if (!cv) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, cv.clientWidth);
    const h = Math.max(1, cv.clientHeight);
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(h * dpr);
    }
    const ctx = cv.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const n = values.length;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (min !== undefined) lo = Math.min(min, lo);
    if (max !== undefined) hi = Math.max(max, hi);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return;
    if (hi === lo) {
      hi += 1;
      lo -= 1;
    }
    const col = resolveColor(cv, color);
    const x = (i: number) => (n <= 1 ? w - 1 : (i / (n - 1)) * (w - 1)) + 0.5;
    const y = (v: number) => h - 1 - ((v - lo) / (hi - lo)) * (h - 2) + 0.5;
    ctx.beginPath();
    let pen = false;
    let lastX = 0;
    let firstX = -1;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === null || v === undefined || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      if (pen) ctx.lineTo(x(i), y(v));
      else ctx.moveTo(x(i), y(v));
      if (firstX < 0) firstX = x(i);
      lastX = x(i);
      pen = true;
    }
    ctx.strokeStyle = col;
    ctx.lineWidth = 1;
    ctx.stroke();
    // faint fill under the line
    ctx.lineTo(lastX, h);
    ctx.lineTo(Math.max(0, firstX), h);
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = col;
    ctx.fill();
    ctx.globalAlpha = 1;
  };

  useEffect(() => {
    draw.current();
  });

  useEffect(() => {
    const cv = ref.current;
    if (!cv) return;
    const ro = new ResizeObserver(() => draw.current());
    ro.observe(cv);
    return () => ro.disconnect();
  }, []);

  return <canvas ref={ref} className={`td-spark ${className ?? ""}`} style={{ height }} />;
}
