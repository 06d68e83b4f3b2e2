// The run table (issue 12 §2): any columns (run fields, last/min/max of any metric, any
// config key), read paged, sorted and filtered by the server; the query language in the
// filter box; columns chosen and remembered; grouping with aggregates; select → compare;
// parallel coordinates. A panel in the layout, and the run list widened (⇔) to the window.
import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { useNow } from "../components/useNow";
import { layoutActions } from "../layout/layoutStore";
import type { PanelProps } from "../panels/types";
import { useActions } from "../state/actions";
import { live, setCompare, useApp } from "../state/app";
import { loadColumnKeys, loadRunsPage } from "./api";
import { ColumnChooser } from "./ColumnChooser";
import { columnSpec, type ColumnSpec } from "./columns";
import { groupOptions, Groups } from "./Groups";
import { ParCoords } from "./ParCoords";
import { PagedRows } from "./rows";
import { tableRequest, tableUi, useTable } from "./state";
import { TableDownload } from "./TableDownload";
import { TableGrid } from "./TableGrid";
import "./table.css";

/** Live values (metric columns, step, order) are read again at most this often. */
const REFRESH_MS = 2000;

export function RunTablePanel(_props: PanelProps) {
  const wide = useTable((s) => s.wide);
  if (wide) {
    return (
      <div className="rt-elsewhere dim">
        the table is shown wide — <button type="button" onClick={() => tableUi.set({ wide: false })}>⇔ back</button>
      </div>
    );
  }
  return <RunTable />;
}

/** The table over the whole window below the top bar, while `wide` (Esc or ⇔ returns). */
export function WideRunTable() {
  const wide = useTable((s) => s.wide);
  useEffect(() => {
    if (!wide) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !(e.target instanceof HTMLInputElement && e.target.value)) tableUi.set({ wide: false });
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [wide]);
  if (!wide) return null;
  return (
    <div className="rt-wide" data-testid="table-wide" role="dialog" aria-label="run table">
      <RunTable />
    </div>
  );
}

export function RunTable() {
  const s = useTable((x) => x);
  const runs = useApp((x) => x.runs);
  const focused = useApp((x) => x.focused);
  const compare = useApp((x) => x.compare);
  const now = useNow(1000) / 1000;
  const req = useMemo(() => tableRequest(s), [s.columns, s.sort, s.query, s.filters]); // eslint-disable-line react-hooks/exhaustive-deps
  const rows = useMemo(() => new PagedRows(loadRunsPage), []);
  useEffect(() => () => rows.destroy(), [rows]);
  useSyncExternalStore(
    (fn) => rows.subscribe(fn),
    () => rows.version,
  );
  useEffect(() => rows.setRequest({ q: req.q, sort: req.sort, columns: req.columns }), [rows, req.q, req.sort, req.columns]);

  // live: a pushed run (new, changed, or its progress) → read the rows in view again, throttled
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const kick = () => {
      if (timer !== null) return;
      const wait = Math.max(0, last + REFRESH_MS - Date.now());
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        rows.refresh();
      }, wait);
    };
    const offs = [live.on("run_update", kick), live.on("run_deleted", kick)];
    return () => {
      offs.forEach((off) => off());
      if (timer !== null) clearTimeout(timer);
    };
  }, [rows]);

  const specs = useMemo(() => s.columns.map(columnSpec).filter((c): c is ColumnSpec => c !== null), [s.columns]);
  const [chooser, setChooser] = useState(false);
  const [configKeys, setConfigKeys] = useState<string[]>([]);
  useEffect(() => {
    const ctl = new AbortController();
    loadColumnKeys("", ctl.signal).then((k) => setConfigKeys(k.config), () => {});
    return () => ctl.abort();
  }, []);

  const compareNow = () => {
    tableUi.set({ wide: false });
    layoutActions.show("chartA");
    layoutActions.show("chartB");
  };
  useActions(
    () => [
      { id: "table.wide", group: "Runs", title: "Runs: table, wide (the run list widened)", run: () => tableUi.set((x) => ({ wide: !x.wide })) },
      { id: "table.columns", group: "Runs", title: "Runs: choose the table's columns", run: () => setChooser(true) },
      { id: "table.compare", group: "Runs", title: `Runs: compare the ${compare.length} selected in the charts`, enabled: compare.length > 0, run: compareNow },
    ],
    [compare.length],
  );

  const count = rows.count();
  const groupChoices = groupOptions(configKeys);
  if (s.groupBy && !groupChoices.some(([v]) => v === s.groupBy)) groupChoices.push([s.groupBy, s.groupBy.replace(/^config:/, "")]);
  return (
    <div className="rt" data-testid="run-table">
      <div className="rt-top">
        <QueryBox value={s.query} />
        <span className="rt-n dim" data-testid="table-count">
          {rows.total === null && !rows.error ? "…" : `${count} runs`}
        </span>
        <button type="button" data-testid="table-columns" title="choose columns (remembered)" onClick={() => setChooser((v) => !v)}>
          ▥ cols
        </button>
        <select data-testid="table-group" title="group by a config key (aggregates per group)" value={s.groupBy ?? ""} onChange={(e) => tableUi.set({ groupBy: e.target.value || null })}>
          {groupChoices.map(([v, label]) => (
            <option key={v} value={v}>
              {v ? `group: ${label}` : label}
            </option>
          ))}
        </select>
        <button type="button" data-testid="table-pc" className={s.pcOpen ? "rt-on" : ""} title="parallel coordinates: config keys against a metric" onClick={() => tableUi.set((x) => ({ pcOpen: !x.pcOpen }))}>
          ⫴ par
        </button>
        <button type="button" data-testid="table-compare" disabled={!compare.length} title="show the selected runs in the charts" onClick={compareNow}>
          compare {compare.length}
        </button>
        {compare.length ? (
          <button type="button" title="clear the selection" onClick={() => setCompare([])}>
            ✕
          </button>
        ) : null}
        <TableDownload q={req.q} sort={req.sort} specs={specs} count={count} />
        <button type="button" data-testid="table-wide-toggle" title={s.wide ? "back to the layout (Esc)" : "fill the window"} onClick={() => tableUi.set((x) => ({ wide: !x.wide }))}>
          ⇔
        </button>
      </div>
      {rows.error || req.errors.length ? (
        <div className="rt-err" data-testid="table-error">
          {[rows.error, ...req.errors].filter(Boolean).join(" · ")}
        </div>
      ) : null}
      {chooser ? <ColumnChooser q={req.q} onClose={() => setChooser(false)} /> : null}
      {s.pcOpen ? <ParCoords q={req.q} sort={req.sort} /> : null}
      {s.groupBy ? (
        <Groups by={s.groupBy} q={req.q} specs={specs} />
      ) : (
        <TableGrid rows={rows} specs={specs} sort={s.sort} filters={s.filters} runs={runs} focused={focused} compare={compare} now={now} />
      )}
    </div>
  );
}

/** The filter box: the query language, applied on Enter or after a pause in typing. */
function QueryBox({ value }: { value: string }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const t = setTimeout(() => tableUi.set({ query: text }), 600);
    return () => clearTimeout(t);
  }, [text, value]);
  return (
    <input
      className="rt-query"
      data-testid="table-query"
      placeholder="filter: lr<0.01 status:running val/acc>0.9 tag:x name:~re (Enter)"
      spellCheck={false}
      value={text}
      onChange={(e) => setText(e.target.value)}
      onKeyDown={(e) => {
        if (e.key === "Enter") tableUi.set({ query: text });
      }}
    />
  );
}
