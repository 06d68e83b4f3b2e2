// The metrics view: every key of the charted runs (the compared ones, else the open one)
// as small charts in a grid, in collapsible sections by prefix, narrowed by a filter over
// key names (fuzzy, or a /regex/), with cursors and x windows synchronized across the
// grid and a chart enlarged in place. The charts are the chart engine's (exact min/max
// buckets, drag-zoom, live push); GridEngine keeps to the charts on screen.
import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import "uplot/dist/uPlot.min.css";
import "../chart/chart.css";
import "./metrics.css";
import { useActions, type Action } from "../state/actions";
import { chartRuns, live, useApp } from "../state/app";
import type { PanelProps } from "../panels/types";
import { GridEngine, MARGIN_PX } from "./engine";
import { countKeys, groupKeys, parseFilter } from "./grouping";
import { loadPrefs, savePrefs, toggleCollapsed, type MetricsPrefs } from "./prefs";

/**
 * Cells drawn in full in the grid's first render; the rest are empty boxes of the same
 * size until the charts in view have drawn (first-screen.ts), so the first reads (of the
 * cells in view, sent in that render's layout effect) go out before the page builds 200
 * cells, and the page builds those after the server answered and the charts drew.
 */
const FIRST_CELLS = 64;
/** A cell's least width and its height, each with the grid's gap (metrics.css), in CSS pixels. */
const CELL_MIN_W = 242;
const CELL_H = 172;

/** The cells a grid of this size can show at once (with the engine's margin), at most FIRST_CELLS. */
export function firstCells(width: number, height: number): number {
  if (!width || !height) return FIRST_CELLS;
  const cols = Math.max(1, Math.floor((width + 2) / CELL_MIN_W));
  const rows = Math.ceil((height + 2 * MARGIN_PX) / CELL_H) + 1;
  return Math.min(FIRST_CELLS, cols * rows);
}

interface CellProps {
  k: string;
  engine: GridEngine;
  runs: string[];
  names: string[];
  big: boolean;
  onBig: (key: string | null) => void;
}

const MetricCell = memo(function MetricCell({ k, engine, runs, names, big, onBig }: CellProps) {
  const root = useRef<HTMLDivElement>(null);
  const plot = useRef<HTMLDivElement>(null);
  const legend = useRef<HTMLDivElement>(null);
  // before the paint: the panel's layout effect below reads the cells in view at once
  useLayoutEffect(() => engine.attach(k, { root: root.current!, plot: plot.current!, legend: legend.current! }), [engine, k]);
  useEffect(() => {
    if (big) root.current?.scrollIntoView({ block: "nearest" });
  }, [big]);
  return (
    <div className={big ? "td-mcell td-mcell-big" : "td-mcell"} data-testid="metric-cell" data-key={k} ref={root}>
      <div className="td-mcell-head">
        <span className="td-mcell-key" title={k}>
          {k}
        </span>
        <button
          type="button"
          className="td-mcell-btn"
          data-testid="metric-enlarge"
          title={big ? "shrink (Esc)" : "enlarge"}
          aria-pressed={big}
          onClick={() => onBig(big ? null : k)}
        >
          {big ? "⤡" : "⤢"}
        </button>
      </div>
      <div className="td-mcell-legend" ref={legend}>
        <span className="dim" data-legend-x="" />
        {runs.map((r, i) => (
          <span key={r} className="td-mcell-entry" data-legend-run={r} title={names[i]}>
            <i className="td-chart-swatch" style={{ background: `var(--s${i % 10})` }} />
            <span className="num" data-legend-value="" />
          </span>
        ))}
      </div>
      <div className="td-mcell-area">
        <div className="td-mcell-plot" ref={plot} />
      </div>
    </div>
  );
});

export function MetricsPanel({ active }: PanelProps) {
  const runsKey = useApp((s) => chartRuns(s).join(","));
  const runs = useMemo(() => (runsKey ? runsKey.split(",") : []), [runsKey]);
  // the runs' names as one string: a run's progress updates must not re-render every cell
  const namesKey = useApp((s) => chartRuns(s).map((r) => s.runs.get(r)?.name ?? r).join("\u0000"));
  const names = useMemo(() => namesKey.split("\u0000"), [namesKey]);
  const [prefs, setPrefs] = useState<MetricsPrefs>(loadPrefs);
  const [filter, setFilter] = useState("");
  const [keys, setKeys] = useState<string[]>([]);
  const [zoomed, setZoomed] = useState(false);
  const [big, setBig] = useState<string | null>(null);
  const [allCells, setAllCells] = useState(false);
  const [engine, setEngine] = useState<GridEngine | null>(null);
  /** How many cells the first render with keys builds (the grid's size when they came). */
  const [first, setFirst] = useState(FIRST_CELLS);
  const scrollRef = useRef<HTMLDivElement>(null);
  const filterRef = useRef<HTMLInputElement>(null);

  const update = (patch: Partial<MetricsPrefs>) =>
    setPrefs((p) => {
      const next = { ...p, ...patch };
      savePrefs(next);
      return next;
    });

  // The engine, and what it shows, are set before the first paint (layout effects): the
  // keys are asked for (or taken from the page's start: main.tsx) without a paint between.
  useLayoutEffect(() => {
    const sc = scrollRef.current!;
    let sig = "";
    let sized = false;
    const e = new GridEngine(
      live,
      () => {
        const ks = e.keys.keys();
        const next = [...ks].sort().join("\u0000");
        if (next === sig) return;
        sig = next;
        if (!sized && ks.length) {
          // the grid's size when its first cells are built (the layout may have changed
          // since mount: a neighbour fitted to its rows); no cell exists yet to lay out
          sized = true;
          setFirst(firstCells(sc.clientWidth, sc.clientHeight));
        }
        setKeys(ks);
      },
      (z) => setZoomed(z !== null),
      () => {
        performance.mark("td:grid-first-screen");
        // after the frame with the last of those charts is painted, not before it
        requestAnimationFrame(() => setTimeout(() => setAllCells(true), 0));
      },
    );
    e.observe(sc);
    setEngine(e);
    return () => e.destroy();
  }, []);

  useLayoutEffect(() => {
    engine?.configure({ runs, axis: prefs.axis, smooth: prefs.smooth, log: prefs.log });
  }, [engine, runs, prefs.axis, prefs.smooth, prefs.log]);

  const parsed = useMemo(() => parseFilter(filter, prefs.regex), [filter, prefs.regex]);
  const groups = useMemo(() => groupKeys(keys, parsed), [keys, parsed]);
  // the cells just laid out (after theirs: children's layout effects run first): the
  // first reads of those in view go out before the browser paints them
  useLayoutEffect(() => {
    engine?.readInView();
  }, [engine, groups, prefs.collapsed]);
  // every cell once the first screen drew (or the limit passed from when keys came)
  useEffect(() => {
    if (keys.length) engine?.firstScreen.arm();
  }, [engine, keys.length]);
  let drawn = 0;
  const counts = countKeys(groups);
  const known = groupKeys(keys, { kind: "all" });
  const allKeys = known.reduce((n, g) => n + g.total, 0);

  // Esc shrinks the enlarged chart while this panel has the keyboard
  useEffect(() => {
    if (!active || big === null) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setBig(null);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, big]);

  useActions(
    (): Action[] => {
      const group = "Metrics";
      const has = runs.length > 0;
      return [
        { id: "metrics.filter", group, title: "Metrics: filter keys", enabled: has, run: () => filterRef.current?.focus() },
        { id: "metrics.reset-zoom", group, title: "Metrics: reset zoom (all charts)", enabled: zoomed, run: () => engine?.resetZoom() },
        { id: "metrics.log", group, title: `Metrics: log scale ${prefs.log ? "off" : "on"}`, enabled: has, run: () => update({ log: !prefs.log }) },
        { id: "metrics.axis", group, title: `Metrics: x = ${prefs.axis === "step" ? "time" : "step"}`, enabled: has, run: () => update({ axis: prefs.axis === "step" ? "time" : "step" }) },
        { id: "metrics.collapse", group, title: "Metrics: collapse all sections", enabled: groups.length > 0, run: () => update({ collapsed: known.map((g) => g.prefix) }) },
        { id: "metrics.expand", group, title: "Metrics: expand all sections", enabled: prefs.collapsed.length > 0, run: () => update({ collapsed: [] }) },
        { id: "metrics.shrink", group, title: "Metrics: shrink the enlarged chart", keys: "Esc", enabled: big !== null, run: () => setBig(null) },
      ];
    },
    [runsKey, prefs, zoomed, engine, big, groups.length, known.length],
  );

  let empty: string | null = null;
  if (!runs.length) empty = "select a run (j/k, Enter), or compare several";
  else if (!allKeys) empty = "no metrics logged yet";
  else if (!counts.shown) empty = parsed.kind === "error" ? `bad regex: ${parsed.message}` : `no key matches “${filter}”`;

  return (
    <div className="td-metrics" data-testid="metrics" data-runs={runsKey}>
      <div className="td-chart-bar td-metrics-bar">
        <input
          ref={filterRef}
          className={parsed.kind === "error" ? "td-metrics-filter bad" : "td-metrics-filter"}
          data-testid="metrics-filter"
          type="search"
          placeholder={prefs.regex ? "regex over keys" : "filter keys (fuzzy, /regex/)"}
          value={filter}
          spellCheck={false}
          title={parsed.kind === "error" ? parsed.message : "fuzzy: the letters in order; /…/ or .* on: a regular expression"}
          onChange={(e) => setFilter(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Escape") setFilter("");
          }}
        />
        <button
          type="button"
          className={prefs.regex ? "on" : ""}
          data-testid="metrics-regex"
          title="the filter is a regular expression"
          onClick={() => update({ regex: !prefs.regex })}
        >
          .*
        </button>
        <span className="dim num" data-testid="metrics-count">
          {counts.shown}/{allKeys}
        </span>
        <button type="button" className={prefs.axis === "time" ? "on" : ""} title="x axis: step or wall time" onClick={() => update({ axis: prefs.axis === "step" ? "time" : "step" })}>
          x:{prefs.axis}
        </button>
        <label className="td-chart-smooth" title="EMA smoothing (0–0.99)">
          ema
          <input type="range" min={0} max={0.99} step={0.01} value={prefs.smooth} onChange={(e) => update({ smooth: Number(e.target.value) })} />
        </label>
        <button type="button" className={prefs.log ? "on" : ""} title="log scale" onClick={() => update({ log: !prefs.log })}>
          log
        </button>
        <button type="button" data-testid="metrics-reset" disabled={!zoomed} title="reset zoom on every chart (double-click a chart)" onClick={() => engine?.resetZoom()}>
          reset
        </button>
        <button
          type="button"
          title={prefs.collapsed.length ? "expand all sections" : "collapse all sections"}
          onClick={() => update({ collapsed: prefs.collapsed.length ? [] : known.map((g) => g.prefix) })}
        >
          {prefs.collapsed.length ? "⊞" : "⊟"}
        </button>
      </div>
      <div className="td-metrics-scroll" ref={scrollRef}>
        {empty ? <div className="td-metrics-empty muted">{empty}</div> : null}
        {engine && !empty
          ? groups.map((g) => {
              const collapsed = prefs.collapsed.includes(g.prefix);
              return (
                <section key={g.prefix} className="td-mgroup" data-testid="metrics-group" data-prefix={g.prefix}>
                  <button
                    type="button"
                    className="td-mgroup-head"
                    aria-expanded={!collapsed}
                    onClick={() => update({ collapsed: toggleCollapsed(prefs.collapsed, g.prefix) })}
                  >
                    {collapsed ? "▸" : "▾"} {g.title}
                    <span className="dim num">
                      {" "}
                      {g.keys.length === g.total ? g.total : `${g.keys.length}/${g.total}`}
                    </span>
                  </button>
                  {collapsed ? null : (
                    <div className="td-mgrid">
                      {g.keys.map((k) =>
                        allCells || drawn++ < first ? (
                          <MetricCell key={k} k={k} engine={engine} runs={runs} names={names} big={big === k} onBig={setBig} />
                        ) : (
                          <div key={k} className="td-mcell" aria-hidden />
                        ),
                      )}
                    </div>
                  )}
                </section>
              );
            })
          : null}
      </div>
    </div>
  );
}
