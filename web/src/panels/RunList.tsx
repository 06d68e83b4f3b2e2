// The run list: virtualised rows (fixed height) over the filtered+sorted runs; click
// focuses a run, the checkbox adds it to the comparison, j/k (keyboard/) walk it.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { api, type RunOut } from "../api/client";
import { ProgressCell } from "../components/Progress";
import { StatusBadge } from "../components/StatusBadge";
import { runsFit } from "../layout/fit";
import { anyProgress, chooseColumns, type ColumnChoice, type RunColumn } from "./run-columns";
import { useNow } from "../components/useNow";
import { VirtualList } from "../components/VirtualList";
import { stepRun } from "../keyboard/Keyboard";
import { afterFirstChart, focusRun, live, toggleCompare, useApp } from "../state/app";
import { DEFAULT_METRIC_KEY, LastValues, readLastByCompare } from "./last-values";
import "./RunList.css";
import { lazyComponent } from "../components/lazy";
import { tableUi } from "../table/state";
import {
  clickSort,
  duration,
  runListUi,
  useRunListUi,
  viewOf,
  type SortKey,
} from "./RunListModel";
import type { PanelProps } from "./types";
import { fmtAge, fmtDuration, fmtValue } from "../format";
import type { RunListDownloadProps } from "./RunListDownload";

// the download menu: its own chunk, loaded after the list
const RunListDownload = lazyComponent<RunListDownloadProps>(() => import("./RunListDownload").then((m) => m.RunListDownload));

const ROW = 18;
let painted = false;

const COLUMNS: Record<Exclude<RunColumn, "metric">, { label: string; sort?: SortKey; title?: string; cls?: string }> = {
  check: { label: "" },
  status: { label: "STATUS", sort: "status" },
  name: { label: "NAME", sort: "name" },
  project: { label: "PROJECT" },
  progress: { label: "ETA", title: "progress (bar) and time left", cls: "num" },
  age: { label: "AGE", sort: "created", title: "since created", cls: "num" },
  dur: { label: "DUR", sort: "duration", title: "run time", cls: "num" },
};

/** The list's width and a character's, measured (the columns follow them). */
function useColumns(hasProgress: boolean): [React.RefObject<HTMLDivElement | null>, React.RefObject<HTMLSpanElement | null>, ColumnChoice] {
  const root = useRef<HTMLDivElement>(null);
  const probe = useRef<HTMLSpanElement>(null);
  const [size, setSize] = useState<{ w: number; ch: number }>({ w: Infinity, ch: 7.2 });
  useLayoutEffect(() => {
    const el = root.current;
    if (!el) return;
    const measure = () => {
      const ch = (probe.current?.getBoundingClientRect().width ?? 72) / 10 || 7.2;
      const w = el.clientWidth;
      setSize((s) => (s.w === w && s.ch === ch ? s : { w: w || Infinity, ch }));
    };
    measure();
    if (typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const choice = useMemo(() => chooseColumns(size.w, size.ch, hasProgress), [size, hasProgress]);
  return [root, probe, choice];
}

export function RunListPanel(_props: PanelProps) {
  const runs = useApp((s) => s.runs);
  const loaded = useApp((s) => s.loaded);
  const total = useApp((s) => s.total);
  const focused = useApp((s) => s.focused);
  const compare = useApp((s) => s.compare);
  const ui = useRunListUi((s) => s);
  const now = useNow(1000) / 1000;
  const view = viewOf(runs, ui);
  const compareSet = useMemo(() => new Set(compare), [compare]);
  const focusIndex = useMemo(() => (focused ? view.findIndex((r) => r.id === focused) : -1), [view, focused]);
  // the last values are read after the first chart is on screen (state/app: afterFirstChart)
  const lastValues = useMemo(() => new LastValues((key, ids) => afterFirstChart().then(() => readLastByCompare(key, ids))), []);
  const hasProgress = useMemo(() => anyProgress(runs.values()), [runs]);
  const [rootRef, probeRef, cols] = useColumns(hasProgress);
  useEffect(() => runsFit.set({ rows: loaded ? view.length : -1 }), [loaded, view.length]);
  useEffect(() => () => runsFit.set({ rows: -1 }), []);
  useEffect(() => {
    const off = live.on("metric_update", (m) => lastValues.push(m.run_id, m.points));
    return () => {
      off();
      lastValues.destroy();
    };
  }, [lastValues]);
  useEffect(() => lastValues.setKey(ui.metric), [lastValues, ui.metric]);

  useEffect(() => {
    if (!painted && view.length > 0) {
      painted = true;
      performance.mark("td:runs-painted");
    }
  }, [view.length]);

  const renderRow = useCallback(
    (i: number) => {
      const r = view[i]!;
      return <Row key={r.id} run={r} focused={r.id === focused} compared={compareSet.has(r.id)} now={now} values={lastValues} cols={cols} />;
    },
    [view, focused, compareSet, now, lastValues, cols],
  );

  return (
    <div className="rl" ref={rootRef} style={{ "--rl-cols": cols.template } as React.CSSProperties} data-columns={cols.columns.join(" ")}>
      <span className="rl-probe" ref={probeRef} aria-hidden>
        0000000000
      </span>
      <div className="rl-bar">
        <input
          data-testid="run-filter"
          placeholder="/ filter: name, id, project, tag, status"
          value={ui.filter}
          spellCheck={false}
          onChange={(e) => runListUi.set({ filter: e.target.value })}
          onKeyDown={(e) => {
            if (e.key === "Enter" && view.length) {
              focusRun(focusIndex >= 0 ? view[focusIndex]!.id : view[0]!.id);
              e.currentTarget.blur();
            } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
              e.preventDefault();
              stepRun(e.key === "ArrowDown" ? 1 : -1);
            }
          }}
        />
        <span className="rl-n">
          {view.length === runs.size ? runs.size : `${view.length}/${runs.size}`}
          {loaded && total > runs.size ? ` of ${total}` : ""}
        </span>
        <RunListDownload view={view} values={lastValues} />
        <button type="button" className="rl-widen" data-testid="runs-widen" title="widen into the run table (any columns, sort, group, compare)" onClick={() => tableUi.set({ wide: true })}>
          ⇔
        </button>
      </div>
      <div className="rl-grid rl-head" role="row">
        {cols.columns.map((id) => [id, id === "status" && cols.shortStatus ? { ...COLUMNS.status, label: "ST" } : COLUMNS[id as Exclude<RunColumn, "metric">]] as const).filter(([id]) => id !== "metric").map(([i, c]) =>
          c.sort ? (
            <span
              key={i}
              role="button"
              title={`sort by ${c.title ?? c.label.toLowerCase()}`}
              className={`${c.cls ?? ""} ${ui.sort === c.sort ? "rl-sorted" : ""}`}
              onClick={() => runListUi.set((s) => clickSort(s, c.sort!))}
            >
              {c.label}
              {ui.sort === c.sort ? (ui.desc ? "▼" : "▲") : ""}
            </span>
          ) : (
            <span key={i} className={c.cls} title={c.title}>
              {c.label}
            </span>
          ),
        )}
        {cols.columns.includes("metric") && <MetricPicker focused={focused} metric={ui.metric} />}
      </div>
      <div className="rl-body">
        <VirtualList
          count={view.length}
          rowHeight={ROW}
          renderRow={renderRow}
          scrollToIndex={focusIndex}
          empty={
            <div className="rl-empty">
              {!loaded ? (
                "loading runs…"
              ) : runs.size === 0 ? (
                <>
                  no runs yet — run <code>traindeck demo</code> or call <code>traindeck.init()</code> in a script
                </>
              ) : (
                "no run matches the filter"
              )}
            </div>
          }
        />
      </div>
    </div>
  );
}

function Row({ run, focused, compared, now, values, cols }: { run: RunOut; focused: boolean; compared: boolean; now: number; values: LastValues; cols: ColumnChoice }) {
  const isLive = run.status === "running" || run.status === "paused";
  useEffect(() => values.watch(run.id, isLive), [values, run.id, isLive]);
  const last = useSyncExternalStore(
    (fn) => values.subscribe(fn),
    () => values.get(run.id),
  );
  return (
    <div
      className={`rl-grid rl-row ${focused ? "rl-focus" : ""} ${compared ? "rl-cmp" : ""}`}
      role="row"
      aria-selected={focused}
      data-run-id={run.id}
      data-status={run.status}
      onClick={() => focusRun(run.id)}
    >
      <span>
        <input
          type="checkbox"
          data-testid="compare-toggle"
          checked={compared}
          title="compare"
          onClick={(e) => e.stopPropagation()}
          onChange={() => toggleCompare(run.id)}
        />
      </span>
      <StatusBadge status={run.status} short={cols.shortStatus} />
      <span className="rl-name" title={`${run.name} (${run.id})${run.tags.length ? ` [${run.tags.join(", ")}]` : ""}`}>
        {run.name}
      </span>
      {cols.columns.includes("project") && (
        <span className="dim" title={run.project}>
          {run.project}
        </span>
      )}
      {cols.columns.includes("progress") && (
        <span className="num">
          <ProgressCell run={run} />
        </span>
      )}
      {cols.columns.includes("age") && (
        <span className="num dim" title={new Date(run.created_at * 1000).toLocaleString()}>
          {fmtAge(now - run.created_at)}
        </span>
      )}
      {cols.columns.includes("dur") && <span className="num">{fmtDuration(duration(run, now))}</span>}
      {cols.columns.includes("metric") && (
        <span className="num" data-testid="metric-value" title={last ? `${values.key} at step ${last.step}` : last === null ? `no ${values.key}` : ""}>
          {last ? fmtValue(last.value) : ""}
        </span>
      )}
    </div>
  );
}

/** The last column's header: which metric's last value the rows show (the open run's keys). */
function MetricPicker({ focused, metric }: { focused: string | null; metric: string }) {
  const [keys, setKeys] = useState<string[]>([]);
  useEffect(() => {
    if (!focused) return;
    const ctl = new AbortController();
    api
      .get("/api/metrics/keys", { query: { run_ids: focused }, signal: ctl.signal })
      .then((res) => setKeys(res.keys.filter((k) => !k.startsWith("sys/"))))
      .catch(() => {});
    return () => ctl.abort();
  }, [focused]);
  const options = [...new Set([metric, DEFAULT_METRIC_KEY, ...keys])].sort();
  return (
    <span className="num rl-metric">
      <select
        data-testid="metric-column"
        title="the last logged value of this metric"
        value={metric}
        onChange={(e) => runListUi.set({ metric: e.target.value })}
      >
        {options.map((k) => (
          <option key={k} value={k}>
            {k}
          </option>
        ))}
      </select>
    </span>
  );
}
