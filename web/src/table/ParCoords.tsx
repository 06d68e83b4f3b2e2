// Parallel coordinates on a canvas: the config columns shown (or the first config keys)
// against a chosen metric (the last axis, which colours the lines), for the selected runs
// (two or more) or else the filtered ones (the first LIMIT in the table's order). Drag
// along a numeric axis to filter the table to that range.
import { useEffect, useMemo, useRef, useState } from "react";
import { fmtValue } from "../format";
import { useApp } from "../state/app";
import { loadColumnKeys, loadRunsPage, type TableRun } from "./api";
import { columnSpec, parseColumn } from "./columns";
import { axisX, buildAxis, polylines, position, rampColor, ticks, valueAt, type Axis } from "./parcoords";
import { tableUi, useTable } from "./state";

const LIMIT = 1000;
const TOP = 22;
const BOTTOM = 16;

export function ParCoords({ q, sort }: { q: string; sort: string }) {
  const columns = useTable((s) => s.columns);
  const metric = useTable((s) => s.pcMetric);
  const compare = useApp((s) => s.compare);
  const [keys, setKeys] = useState<{ metrics: string[]; config: string[] } | null>(null);
  const [runs, setRuns] = useState<TableRun[]>([]);
  const [error, setError] = useState<string | null>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState({ w: 600, h: 200 });

  useEffect(() => {
    const ctl = new AbortController();
    loadColumnKeys(q, ctl.signal).then(setKeys, () => {});
    return () => ctl.abort();
  }, [q]);

  const shownConfig = columns.filter((c) => parseColumn(c)?.type === "config");
  const configCols = shownConfig.length ? shownConfig : (keys?.config ?? []).slice(0, 8).map((k) => `config:${k}`);
  const metricCols = columns.filter((c) => parseColumn(c)?.type === "metric");
  const metricCol = metric ?? metricCols[0] ?? (keys?.metrics[0] ? `metric:${keys.metrics[0]}:last` : null);
  const axisCols = useMemo(() => [...configCols, ...(metricCol ? [metricCol] : [])], [configCols.join(","), metricCol]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (!axisCols.length) return;
    const ctl = new AbortController();
    setError(null);
    loadRunsPage({ q, sort, columns: axisCols.join(","), offset: 0, limit: LIMIT }, ctl.signal)
      .then((p) => setRuns(p.runs))
      .catch((e: unknown) => !ctl.signal.aborted && setError(e instanceof Error ? e.message : String(e)));
    return () => ctl.abort();
  }, [q, sort, axisCols]);

  const selected = useMemo(() => new Set(compare), [compare]);
  const drawn = useMemo(() => (compare.length >= 2 ? runs.filter((r) => selected.has(r.id)) : runs), [runs, selected, compare.length]);
  const axes: Axis[] = useMemo(
    () => axisCols.map((c) => buildAxis(c, columnSpec(c)?.label ?? c, drawn.map((r) => r.values?.[c]))),
    [axisCols, drawn],
  );

  useEffect(() => {
    const el = canvas.current?.parentElement;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.max(1, Math.floor(size.w * dpr));
    c.height = Math.max(1, Math.floor(size.h * dpr));
    const g = c.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, size.w, size.h);
    draw(g, axes, drawn.map((r) => r.values ?? {}), size.w, size.h);
  }, [axes, drawn, size]);

  const brush = useRef<{ axis: number; y0: number } | null>(null);
  const yToPos = (y: number) => 1 - (y - TOP) / Math.max(1, size.h - TOP - BOTTOM);
  const onDown = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const x = e.nativeEvent.offsetX;
    const i = axes.findIndex((_, k) => Math.abs(axisX(k, axes.length, size.w) - x) < 12);
    if (i < 0 || axes[i]!.kind === "category") return;
    brush.current = { axis: i, y0: e.nativeEvent.offsetY };
    e.currentTarget.setPointerCapture(e.pointerId);
  };
  const onUp = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const b = brush.current;
    brush.current = null;
    if (!b) return;
    const a = axes[b.axis]!;
    const p = [yToPos(b.y0), yToPos(e.nativeEvent.offsetY)].map((v) => Math.max(0, Math.min(1, v))).sort((x, y) => x - y);
    if (p[1]! - p[0]! < 0.01) {
      tableUi.set((s) => ({ filters: { ...s.filters, [a.id]: "" } }));
      return;
    }
    const lo = valueAt(a, p[0]!)!;
    const hi = valueAt(a, p[1]!)!;
    tableUi.set((s) => ({ filters: { ...s.filters, [a.id]: `${lo.toPrecision(4)}..${hi.toPrecision(4)}` } }));
  };

  return (
    <div className="rt-pc" data-testid="parcoords">
      <div className="rt-pc-bar">
        <span className="dim">
          {compare.length >= 2 ? `${drawn.length} selected runs` : `${drawn.length} filtered runs${runs.length >= LIMIT ? ` (first ${LIMIT})` : ""}`} · colour:
        </span>
        <select data-testid="pc-metric" value={metricCol ?? ""} onChange={(e) => tableUi.set({ pcMetric: e.target.value || null })}>
          {[...new Set([...(metricCol ? [metricCol] : []), ...metricCols, ...(keys?.metrics ?? []).slice(0, 500).map((k) => `metric:${k}:last`)])].map((c) => (
            <option key={c} value={c}>
              {columnSpec(c)?.label ?? c}
            </option>
          ))}
        </select>
        <span className="dim">{shownConfig.length ? "" : "axes: the first config keys (show config columns to choose)"} · drag on an axis to filter</span>
        {error ? <span className="rt-err">{error}</span> : null}
      </div>
      <div className="rt-pc-canvas">
        <canvas
          ref={canvas}
          style={{ width: size.w, height: size.h }}
          data-lines={drawn.length}
          data-axes={axes.map((a) => a.id).join(",")}
          onPointerDown={onDown}
          onPointerUp={onUp}
        />
      </div>
    </div>
  );
}

function draw(g: CanvasRenderingContext2D, axes: Axis[], rows: Array<Record<string, unknown>>, w: number, h: number) {
  if (!axes.length) return;
  const n = axes.length;
  const ph = h - TOP - BOTTOM;
  const y = (p: number) => TOP + (1 - p) * ph;
  const lines = polylines(axes, rows);
  const metric = axes[n - 1]!;
  g.lineWidth = 1;
  g.globalAlpha = Math.max(0.08, Math.min(0.9, 40 / Math.max(1, rows.length)));
  rows.forEach((r, k) => {
    const t = position(metric, r[metric.id]);
    g.strokeStyle = t === null ? "#6b6b6b" : rampColor(t);
    g.beginPath();
    let pen = false;
    lines[k]!.forEach((p, i) => {
      if (p === null) {
        pen = false;
        return;
      }
      const x = axisX(i, n, w);
      if (pen) g.lineTo(x, y(p));
      else g.moveTo(x, y(p));
      pen = true;
    });
    g.stroke();
  });
  g.globalAlpha = 1;
  g.font = "11px monospace";
  g.textBaseline = "middle";
  axes.forEach((a, i) => {
    const x = axisX(i, n, w);
    g.strokeStyle = "#665200";
    g.beginPath();
    g.moveTo(x, TOP);
    g.lineTo(x, TOP + ph);
    g.stroke();
    g.fillStyle = "#ffb000";
    g.textAlign = i === 0 ? "left" : i === n - 1 ? "right" : "center";
    g.fillText(`${a.label}${a.kind === "log" ? " (log)" : ""}`, x + (i === 0 ? -30 : i === n - 1 ? 30 : 0), 8);
    g.fillStyle = "#8a7a5a";
    g.textAlign = "left";
    for (const [p, text] of ticks(a, (v) => fmtValue(v))) g.fillText(text.slice(0, 12), x + 3, y(p));
  });
}
