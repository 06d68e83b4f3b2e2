// The table itself: a sticky header (click sorts, shift-click adds a sort key), a filter
// row (one filter per column), and virtualised rows in one scroller (both directions).
// Rows are absolutely placed and keyed by run id, so scrolling moves nodes, not rebuilds.
import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type MouseEvent, type ReactNode } from "react";
import type { RunOut } from "../api/client";
import { ProgressCell } from "../components/Progress";
import { StatusBadge } from "../components/StatusBadge";
import { visibleRange } from "../components/virtualRange";
import { focusRun, setCompare, toggleCompare, app } from "../state/app";
import type { TableRun } from "./api";
import { cellText, cellValue } from "./cells";
import type { ColumnSpec } from "./columns";
import { clickSort, defaultDesc } from "./query";
import type { PagedRows } from "./rows";
import { tableUi, type TableState } from "./state";

export const ROW = 18;
const OVERSCAN = 10;

/** Columns [first, last) that meet the view sideways (with `margin` px either side), for
 *  columns `specs` at `ch` px per ch (gaps 6px; the check box column 16px; padding 4px). */
export function visibleColumns(specs: readonly ColumnSpec[], ch: number, scrollLeft: number, width: number, margin = 300): [number, number] {
  let x = 4 + 16 + 6;
  let first = -1;
  let last = specs.length;
  for (let k = 0; k < specs.length; k++) {
    const end = x + specs[k]!.width * ch;
    if (first < 0 && end >= scrollLeft - margin) first = k;
    if (x > scrollLeft + width + margin) {
      last = k;
      break;
    }
    x = end + 6;
  }
  return first < 0 ? [specs.length, specs.length] : [first, Math.max(first, last)];
}

export function gridTemplate(specs: readonly ColumnSpec[]): string {
  return `16px ${specs.map((s) => `${s.width}ch`).join(" ")}`;
}

/** A row's whole width (columns, 6px gaps, 4px padding each side): rows are contained. */
export function rowWidth(specs: readonly ColumnSpec[]): string {
  return `calc(${specs.reduce((a, s) => a + s.width, 0)}ch + ${16 + 6 * specs.length + 8}px)`;
}

interface GridProps {
  rows: PagedRows;
  specs: ColumnSpec[];
  sort: TableState["sort"];
  filters: TableState["filters"];
  runs: Map<string, RunOut>;
  focused: string | null;
  compare: string[];
  now: number;
}

export function TableGrid({ rows, specs, sort, filters, runs, focused, compare, now }: GridProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [range, setRange] = useState<[number, number]>([0, 40]);
  const count = rows.count();
  const anchor = useRef<number | null>(null);

  const chRef = useRef<HTMLSpanElement>(null);
  const [cols, setCols] = useState<[number, number]>([0, specs.length]);
  const measure = () => {
    const el = ref.current;
    if (!el) return;
    const [a, b] = visibleRange(el.scrollTop, el.clientHeight || 400, ROW, count, OVERSCAN);
    setRange((r) => (r[0] === a && r[1] === b ? r : [a, b]));
    const ch = (chRef.current?.offsetWidth ?? 0) / 10;
    const [c0, c1] = ch > 0 ? visibleColumns(specs, ch, el.scrollLeft, el.clientWidth || 1000) : [0, specs.length];
    setCols((c) => (c[0] === c0 && c[1] === c1 ? c : [c0, c1]));
  };
  useLayoutEffect(() => {
    measure();
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [count, specs]);
  useEffect(() => rows.ensure(range[0], range[1]), [rows, range, rows.version]);

  const template = gridTemplate(specs);
  const compareSet = new Set(compare);

  const onCheck = useCallback((e: MouseEvent, i: number, id: string) => {
    e.stopPropagation();
    if (e.shiftKey && anchor.current !== null) {
      const [a, b] = anchor.current < i ? [anchor.current, i] : [i, anchor.current];
      const ids = rows.loaded(a, b + 1).map((r) => r.id);
      const cur = app.get().compare;
      setCompare([...cur, ...ids.filter((x) => !cur.includes(x))]);
    } else {
      toggleCompare(id);
    }
    anchor.current = i;
  }, [rows]);

  const rowNow = specs.some((s) => s.id === "duration") ? now : 0;
  // Rows are keyed by slot (index modulo the rows drawn): a row scrolled in takes the slot,
  // and the DOM, of the one scrolled out — its text changes, no nodes are made.
  const slots = Math.max(1, range[1] - range[0]);
  // (children in slot order, so no DOM node moves either)
  const body: ReactNode[] = new Array<ReactNode>(slots).fill(null);
  for (let i = range[0]; i < Math.min(range[1], count); i++) {
    const r = rows.get(i);
    if (!r) {
      body[i % slots] = (
        <div key={i % slots} className="rt-row rt-pending" style={{ top: i * ROW, gridTemplateColumns: template }}>
          <span />
          <span className="dim">…</span>
        </div>
      );
      continue;
    }
    body[i % slots] = (
      <Row
        key={i % slots}
        index={i}
        row={r}
        live={runs.get(r.id)}
        specs={specs}
        template={template}
        focused={r.id === focused}
        compared={compareSet.has(r.id)}
        now={rowNow}
        onCheck={onCheck}
        c0={cols[0]}
        c1={Math.min(cols[1], specs.length)}
      />
    );
  }

  return (
    <div
      ref={ref}
      className="rt-scroll"
      onScroll={measure}
      data-testid="table-body"
      data-sort-shown={rows.shown?.sort ?? ""}
      data-q-shown={rows.shown?.q ?? ""}
      data-count={count}
    >
      <span ref={chRef} className="rt-ch-probe" aria-hidden>
        0000000000
      </span>
      <HeaderRow specs={specs} sort={sort} template={template} />
      <FilterRow specs={specs} filters={filters} template={template} />
      <div className="rt-rows" style={{ height: count * ROW, ["--rt-w" as string]: rowWidth(specs) }}>
        {body}
      </div>
      {count === 0 && rows.total !== null ? <div className="rt-empty dim">no run matches</div> : null}
    </div>
  );
}

const HeaderRow = memo(function HeaderRow({ specs, sort, template }: { specs: ColumnSpec[]; sort: TableState["sort"]; template: string }) {
  const sortRank = new Map(sort.map((s, i) => [s.col, { i, desc: s.desc }]));
  return (
    <div className="rt-head" style={{ gridTemplateColumns: template }} role="row">
      <span />
      {specs.map((s) => {
        const rank = sortRank.get(s.id);
        return (
          <span
            key={s.id}
            role={s.sortable ? "button" : undefined}
            data-col={s.id}
            className={`${s.kind === "number" || s.kind === "duration" ? "num" : ""} ${rank ? "rt-sorted" : ""}`}
            title={`${s.title}${s.sortable ? " — click to sort, shift-click to add" : ""}`}
            onClick={(e) => s.sortable && tableUi.set((st) => ({ sort: clickSort(st.sort, s.id, e.shiftKey, defaultDesc(s)) }))}
          >
            {s.label}
            {rank ? (rank.desc ? "▼" : "▲") : ""}
            {rank && sort.length > 1 ? <sub>{rank.i + 1}</sub> : null}
          </span>
        );
      })}
    </div>
  );
});

const FilterRow = memo(function FilterRow({ specs, filters, template }: { specs: ColumnSpec[]; filters: TableState["filters"]; template: string }) {
  return (
    <div className="rt-filters" style={{ gridTemplateColumns: template }}>
      <span />
      {specs.map((s) => (
        <FilterInput key={s.id} spec={s} value={filters[s.id] ?? ""} />
      ))}
    </div>
  );
});

const PLACEHOLDER: Record<ColumnSpec["kind"], string> = {
  status: "running,failed",
  text: "text",
  tags: "tag",
  number: "0.1..0.5 >0.9",
  duration: ">5m",
  time: "> unix s",
  any: "=v 1..8",
};

function FilterInput({ spec, value }: { spec: ColumnSpec; value: string }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const t = setTimeout(() => tableUi.set((s) => ({ filters: { ...s.filters, [spec.id]: text } })), 350);
    return () => clearTimeout(t);
  }, [text, value, spec.id]);
  if (!spec.queryKey) return <span />;
  return (
    <input
      data-testid="column-filter"
      data-col={spec.id}
      placeholder={PLACEHOLDER[spec.kind]}
      value={text}
      spellCheck={false}
      onChange={(e) => setText(e.target.value)}
      onKeyDown={(e) => {
        if (e.key === "Enter") tableUi.set((s) => ({ filters: { ...s.filters, [spec.id]: text } }));
      }}
    />
  );
}

interface RowProps {
  index: number;
  row: TableRun;
  live: RunOut | undefined;
  specs: ColumnSpec[];
  template: string;
  focused: boolean;
  compared: boolean;
  now: number;
  onCheck: (e: MouseEvent, i: number, id: string) => void;
  /** Only columns [c0, c1) are drawn (the others are out of view sideways). */
  c0: number;
  c1: number;
}

const Row = memo(function Row({ index, row, live, specs, template, focused, compared, now, onCheck, c0, c1 }: RowProps) {
  return (
    <div
      className={`rt-row ${focused ? "rt-focus" : ""} ${compared ? "rt-cmp" : ""}`}
      style={{ top: index * ROW, gridTemplateColumns: template }}
      role="row"
      data-run-id={row.id}
      onClick={() => focusRun(row.id)}
    >
      <span>
        <input type="checkbox" data-testid="table-select" checked={compared} title="select (compare); shift-click a range" onClick={(e) => onCheck(e, index, row.id)} onChange={() => {}} />
      </span>
      {c0 > 0 ? <span style={{ gridColumn: `2 / span ${c0}` }} /> : null}
      {specs.slice(c0, c1).map((s) => {
        const v = cellValue(row, live, s.id, now);
        if (s.kind === "status" && typeof v === "string") {
          return (
            <span key={s.id} data-col={s.id}>
              <StatusBadge status={v as RunOut["status"]} />
            </span>
          );
        }
        if (s.id === "progress") {
          return (
            <span key={s.id} data-col={s.id}>
              <ProgressCell run={{ ...row, ...live, progress: typeof v === "number" ? v : null }} />
            </span>
          );
        }
        const text = cellText(s, v);
        const num = s.kind === "number" || s.kind === "duration";
        return (
          <span key={s.id} data-col={s.id} className={`${num ? "num" : ""} ${s.id === "name" ? "rt-name" : ""}`} title={text}>
            {text}
          </span>
        );
      })}
    </div>
  );
});
