// A metric chart (panels chartA and chartB): one key of the charted runs (the compared
// ones, else the open one) as exact buckets — mean line, min/max band, NaN/±Inf marks —
// live, zoomable (drag; double-click resets), pannable (shift+drag, ←/→ when active).
// The drawing engine is ChartController; this component is the toolbar and the shells.
import { useEffect, useMemo, useRef, useState } from "react";
import "uplot/dist/uPlot.min.css";
import "./chart.css";
import { useActions, type Action } from "../state/actions";
import { chartRuns, useApp } from "../state/app";
import type { PanelProps } from "../panels/types";
import { exportUrl } from "../download/links";
import { lazyComponent } from "../components/lazy";
import { ChartController, type ChartStatus } from "./controller";
import { chooseKey, pickerKeys, type Axis } from "./model";
import type { ChartDownloadProps } from "./ChartDownload";

// the download menu: its own chunk, loaded after the chart
const ChartDownload = lazyComponent<ChartDownloadProps>(() => import("./ChartDownload").then((m) => m.ChartDownload));

interface Prefs {
  key: string | null;
  axis: Axis;
  smooth: number;
  log: boolean;
  sys: boolean;
}

const DEFAULT_PREFS: Prefs = { key: null, axis: "step", smooth: 0.6, log: false, sys: false };
const SMOOTH_STEPS = [0, 0.6, 0.9, 0.99];

function loadPrefs(panel: string): Prefs {
  try {
    const raw = globalThis.localStorage?.getItem(`td:chart:${panel}`);
    if (!raw) return DEFAULT_PREFS;
    const p = JSON.parse(raw) as Partial<Prefs>;
    return {
      key: typeof p.key === "string" ? p.key : null,
      axis: p.axis === "time" ? "time" : "step",
      smooth: typeof p.smooth === "number" && p.smooth >= 0 && p.smooth <= 0.99 ? p.smooth : DEFAULT_PREFS.smooth,
      log: p.log === true,
      sys: p.sys === true,
    };
  } catch {
    return DEFAULT_PREFS;
  }
}

function savePrefs(panel: string, p: Prefs): void {
  try {
    globalThis.localStorage?.setItem(`td:chart:${panel}`, JSON.stringify(p));
  } catch {
    /* private mode: not remembered */
  }
}

const EMPTY_STATUS: ChartStatus = { loading: false, points: 0, keys: [], zoomed: false, error: null };

export function ChartPanel({ id, active }: PanelProps) {
  const label = id === "chartB" ? "Chart B" : "Chart A";
  const runsKey = useApp((s) => chartRuns(s).join(","));
  const runs = useMemo(() => (runsKey ? runsKey.split(",") : []), [runsKey]);
  const runInfo = useApp((s) => s.runs);
  const [prefs, setPrefs] = useState<Prefs>(() => loadPrefs(id));
  const [status, setStatus] = useState<ChartStatus>(EMPTY_STATUS);
  const rootRef = useRef<HTMLDivElement>(null);
  const plotRef = useRef<HTMLDivElement>(null);
  const legendRef = useRef<HTMLDivElement>(null);
  const ctl = useRef<ChartController | null>(null);

  const update = (patch: Partial<Prefs>) =>
    setPrefs((p) => {
      const next = { ...p, ...patch };
      savePrefs(id, next);
      return next;
    });

  const keys = useMemo(() => pickerKeys(status.keys, prefs.sys), [status.keys, prefs.sys]);
  const key = chooseKey(id, status.keys, prefs.key);
  // the picker always lists the key shown, even before the runs' keys are known
  const options = keys.includes(key) ? keys : [key, ...keys];

  useEffect(() => {
    const c = new ChartController(rootRef.current!, plotRef.current!, legendRef.current!, id, setStatus);
    ctl.current = c;
    return () => {
      c.destroy();
      ctl.current = null;
    };
  }, [id]);

  useEffect(() => {
    ctl.current?.configure({ runs, key, axis: prefs.axis, smooth: prefs.smooth, log: prefs.log });
  }, [runs, key, prefs.axis, prefs.smooth, prefs.log]);

  // ←/→ pan the zoomed window while this panel has the keyboard
  useEffect(() => {
    if (!active || !status.zoomed) return;
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        e.preventDefault();
        ctl.current?.panBy(e.key === "ArrowLeft" ? -0.25 : 0.25);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, status.zoomed]);

  const cycleKey = (dir: 1 | -1) => {
    if (!keys.length) return;
    const i = keys.indexOf(key);
    const next = keys[(i + dir + keys.length) % keys.length]!;
    update({ key: next });
  };

  useActions(
    (): Action[] => {
      const group = label;
      const has = runs.length > 0;
      return [
        { id: `${id}.log`, group, title: `${label}: log scale ${prefs.log ? "off" : "on"}`, enabled: has, run: () => update({ log: !prefs.log }) },
        { id: `${id}.axis`, group, title: `${label}: x = ${prefs.axis === "step" ? "time" : "step"}`, enabled: has, run: () => update({ axis: prefs.axis === "step" ? "time" : "step" }) },
        { id: `${id}.reset-zoom`, group, title: `${label}: reset zoom`, keys: "dblclick", enabled: status.zoomed, run: () => ctl.current?.resetZoom() },
        {
          id: `${id}.smooth`, group, title: `${label}: smoothing (now ${prefs.smooth})`, enabled: has,
          run: () => update({ smooth: SMOOTH_STEPS[(SMOOTH_STEPS.findIndex((s) => s >= prefs.smooth) + 1) % SMOOTH_STEPS.length] ?? 0 }),
        },
        { id: `${id}.smooth-off`, group, title: `${label}: smoothing off`, enabled: has && prefs.smooth > 0, run: () => update({ smooth: 0 }) },
        { id: `${id}.next-key`, group, title: `${label}: next metric`, enabled: keys.length > 1, run: () => cycleKey(1) },
        { id: `${id}.prev-key`, group, title: `${label}: previous metric`, enabled: keys.length > 1, run: () => cycleKey(-1) },
        { id: `${id}.sys`, group, title: `${label}: ${prefs.sys ? "hide" : "show"} sys/ keys`, run: () => update({ sys: !prefs.sys }) },
        { id: `${id}.pan-left`, group, title: `${label}: pan left`, keys: "←", enabled: status.zoomed, run: () => ctl.current?.panBy(-0.25) },
        { id: `${id}.pan-right`, group, title: `${label}: pan right`, keys: "→", enabled: status.zoomed, run: () => ctl.current?.panBy(0.25) },
      ];
    },
    [id, runsKey, prefs, status.zoomed, keys.join(","), key],
  );

  let empty: string | null = null;
  if (!runs.length) empty = "select a run (j/k, Enter)";
  else if (status.error) empty = `cannot read ${key}: ${status.error} — retrying`;
  else if (!status.loading && status.points === 0) empty = `no points for ${key} yet`;

  return (
    <div className="td-chart" data-testid="chart" data-key={key} ref={rootRef}>
      <div className="td-chart-bar">
        <select
          data-testid="chart-key"
          value={key}
          title="metric"
          onChange={(e) => update({ key: e.target.value })}
        >
          {options.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <ChartDownload
          id={id}
          label={label}
          runs={runs}
          name={(r) => runInfo.get(r)?.name ?? r}
          metric={key}
          buckets={() => ctl.current?.bucketTarget() ?? 1000}
        />
        <button
          type="button"
          className={prefs.axis === "time" ? "on" : ""}
          title={`${label}: x = ${prefs.axis === "step" ? "time" : "step"}`}
          onClick={() => update({ axis: prefs.axis === "step" ? "time" : "step" })}
        >
          x:{prefs.axis}
        </button>
        <label className="td-chart-smooth" title="EMA smoothing (0–0.99)">
          ema
          <input
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={prefs.smooth}
            onChange={(e) => update({ smooth: Number(e.target.value) })}
          />
          <span className="num">{prefs.smooth.toFixed(2)}</span>
        </label>
        <button
          type="button"
          className={prefs.log ? "on" : ""}
          title={`${label}: log scale`}
          onClick={() => update({ log: !prefs.log })}
        >
          log
        </button>
        <button
          type="button"
          className={prefs.sys ? "on" : ""}
          title={`${label}: show sys/ keys`}
          onClick={() => update({ sys: !prefs.sys })}
        >
          sys
        </button>
        <button
          type="button"
          disabled={!status.zoomed}
          title={`${label}: reset zoom (double-click)`}
          onClick={() => ctl.current?.resetZoom()}
        >
          reset
        </button>
        {status.loading ? <span className="dim">…</span> : null}
      </div>
      <div className="td-chart-legend" data-testid="chart-legend" ref={legendRef}>
        <span className="td-chart-x dim" data-legend-x="" />
        {runs.map((r, i) => (
          <span key={r} className="td-chart-entry" data-legend-run={r}>
            <i className="td-chart-swatch" style={{ background: `var(--s${i % 10})` }} />
            <span className="td-chart-name">{runInfo.get(r)?.name ?? r}</span>
            <span className="td-chart-value num" data-legend-value="" />
            {key ? (
              <a
                className="td-chart-dl dim"
                data-testid="chart-download"
                href={exportUrl(r, { keys: [key] })}
                download
                title={`download ${key} of ${runInfo.get(r)?.name ?? r} as CSV (every point)`}
              >
                ⤓
              </a>
            ) : null}
          </span>
        ))}
      </div>
      <div className="td-chart-area">
        <div className={empty ? "td-chart-plot td-chart-hidden" : "td-chart-plot"} ref={plotRef} />
        {empty ? <div className="td-chart-empty muted">{empty}</div> : null}
      </div>
    </div>
  );
}
