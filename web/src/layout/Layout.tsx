// The 3×3 grid of panel cells under the top bar: tabs per cell, drag a tab onto another
// cell (moves/swaps) or onto a tab strip (joins as a tab), drag the gutters to resize.
// Under 800px wide: one column with every panel stacked.
import { useEffect, useRef, useState, useSyncExternalStore, type DragEvent, type PointerEvent } from "react";
import { PANELS } from "../panels/registry";
import type { PanelId } from "../panels/types";
import { useActions } from "../state/actions";
import { useStore } from "../state/store";
import { fitHeight, runsFit } from "./fit";
import { layoutActions, useLayout } from "./layoutStore";
import { ALL_PANELS, MIN_FRACTION, template, type Cell } from "./layoutState";

const DND_TYPE = "application/x-traindeck-panel";
let dragging: PanelId | null = null;

const NARROW = "(max-width: 799px)";
function useNarrow(): boolean {
  return useSyncExternalStore(
    (fn) => {
      const m = window.matchMedia(NARROW);
      m.addEventListener("change", fn);
      return () => m.removeEventListener("change", fn);
    },
    () => window.matchMedia(NARROW).matches,
    () => false,
  );
}

/** Heights of stacked panels on a phone. */
const STACK_HEIGHT: Partial<Record<PanelId, string>> = {
  runs: "45vh",
  chartA: "300px",
  chartB: "300px",
  console: "320px",
  images: "320px",
  artifacts: "320px",
};

export function Layout() {
  const narrow = useNarrow();
  const state = useLayout((s) => s.state);
  const activeCell = useLayout((s) => s.activeCell);
  const [drop, setDrop] = useState<{ cell: number; zone: "tabs" | "body" } | null>(null);
  const fit = fitHeight(useStore(runsFit, (s) => s.rows));

  useActions(
    () => [
      { id: "layout.reset", title: "Reset layout", group: "Layout", run: layoutActions.reset },
      ...ALL_PANELS.map((id) => ({
        id: `layout.show.${id}`,
        title: `Show panel: ${PANELS[id].title.toLowerCase()}`,
        group: "Layout",
        run: () => {
          layoutActions.show(id);
          requestAnimationFrame(() => document.querySelector<HTMLElement>(`section[data-panel="${id}"]`)?.scrollIntoView({ block: "nearest" }));
        },
      })),
    ],
    [],
  );

  useEffect(() => {
    const end = () => {
      dragging = null;
      setDrop(null);
    };
    window.addEventListener("dragend", end);
    window.addEventListener("drop", end);
    return () => {
      window.removeEventListener("dragend", end);
      window.removeEventListener("drop", end);
    };
  }, []);

  if (narrow) {
    const order = state.cells.flatMap((c) => c.panels);
    return (
      <div className="td-stack">
        {order.map((id) => {
          const P = PANELS[id].component;
          return (
            <section
              key={id}
              data-panel={id}
              className="td-cell"
              style={{ height: id === "runs" && fit !== null ? `min(${STACK_HEIGHT.runs}, ${fit}px)` : (STACK_HEIGHT[id] ?? "240px") }}
            >
              <div className="td-tabs">
                <span className="td-tab td-tab-on">{PANELS[id].title}</span>
              </div>
              <div className="td-body">
                <P id={id} active={false} />
              </div>
            </section>
          );
        })}
      </div>
    );
  }

  // The run list's cell shrinks to its rows when a panel is below it: the two share a
  // column slot two rows high, the one below taking what the list leaves. The two cells
  // sit in that slot whether or not the list's height is known yet, so the list coming in
  // does not remount the panel below (a chart would drop its read and start it again).
  const runsAt = state.cells.findIndex((c) => c.active === "runs");
  const below = runsAt >= 0 && runsAt + 3 < state.cells.length && state.cells[runsAt + 3]!.active ? runsAt + 3 : -1;
  const cellView = (i: number, style?: React.CSSProperties) => (
    <CellView
      key={i}
      index={i}
      cell={state.cells[i]!}
      active={activeCell === i}
      drop={drop?.cell === i ? drop.zone : null}
      setDrop={setDrop}
      style={style}
    />
  );
  const place = (i: number): React.CSSProperties => ({ gridColumn: (i % 3) + 1, gridRow: Math.floor(i / 3) + 1 });
  return (
    <Grid cols={state.cols} rows={state.rows}>
      {state.cells.map((_, i) => {
        if (below < 0) return cellView(i, place(i));
        if (i === below) return null;
        if (i !== runsAt) return cellView(i, place(i));
        const r = Math.floor(i / 3);
        const share = `${((state.rows[r]! / (state.rows[r]! + state.rows[r + 1]!)) * 100).toFixed(3)}%`;
        return (
          <div key={`fit${i}`} className="td-fit" style={{ gridColumn: (i % 3) + 1, gridRow: `${r + 1} / span 2` }}>
            {cellView(i, { flex: "0 0 auto", height: fit === null ? share : `${fit}px`, maxHeight: share })}
            {cellView(below, { flex: "1 1 0" })}
          </div>
        );
      })}
    </Grid>
  );
}

function CellView({
  index,
  cell,
  active,
  drop,
  setDrop,
  style,
}: {
  index: number;
  cell: Cell;
  active: boolean;
  drop: "tabs" | "body" | null;
  setDrop: (d: { cell: number; zone: "tabs" | "body" } | null) => void;
  style?: React.CSSProperties | undefined;
}) {
  const over = (zone: "tabs" | "body") => (e: DragEvent) => {
    if (!dragging && !e.dataTransfer.types.includes(DND_TYPE)) return;
    e.preventDefault();
    e.stopPropagation();
    e.dataTransfer.dropEffect = "move";
    if (drop !== zone) setDrop({ cell: index, zone });
  };
  const onDrop = (zone: "tabs" | "body") => (e: DragEvent) => {
    const id = (e.dataTransfer.getData(DND_TYPE) || dragging) as PanelId | null;
    e.preventDefault();
    e.stopPropagation();
    dragging = null;
    setDrop(null);
    if (!id || !(id in PANELS)) return;
    if (zone === "tabs") layoutActions.join(id, index);
    else layoutActions.move(id, index);
  };
  const tabs = (
    <div className={`td-tabs ${drop === "tabs" ? "td-drop" : ""}`} onDragOver={over("tabs")} onDrop={onDrop("tabs")}>
      {cell.panels.map((id) => (
        <span
          key={id}
          className={`td-tab ${id === cell.active ? "td-tab-on" : ""}`}
          draggable
          role="tab"
          aria-selected={id === cell.active}
          title="click to show · drag onto another cell to move, onto a tab strip to join"
          onClick={() => layoutActions.show(id)}
          onDragStart={(e) => {
            dragging = id;
            e.dataTransfer.setData(DND_TYPE, id);
            e.dataTransfer.setData("text/plain", id);
            e.dataTransfer.effectAllowed = "move";
          }}
        >
          {PANELS[id].title}
        </span>
      ))}
    </div>
  );
  const cls = `td-cell ${active ? "td-cell-active" : ""} ${drop === "body" ? "td-drop" : ""}`;
  const common = {
    className: cls,
    onPointerDownCapture: () => layoutActions.setActiveCell(index),
    onFocusCapture: () => layoutActions.setActiveCell(index),
    onDragOver: over("body"),
    onDrop: onDrop("body"),
    "data-cell": index,
    style,
  };
  if (!cell.active) {
    return (
      <div {...common}>
        {tabs}
        <div className="td-body td-empty-cell dim">empty — drag a panel tab here</div>
      </div>
    );
  }
  const P = PANELS[cell.active].component;
  return (
    <section {...common} data-panel={cell.active}>
      {tabs}
      <div className="td-body">
        <P key={cell.active} id={cell.active} active={active} />
      </div>
    </section>
  );
}

function Grid({ cols, rows, children }: { cols: number[]; rows: number[]; children: React.ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const gutter = (axis: "cols" | "rows", index: number) => {
    const fr = axis === "cols" ? cols : rows;
    const pos = fr.slice(0, index + 1).reduce((a, b) => a + b, 0);
    const onPointerDown = (e: PointerEvent<HTMLDivElement>) => {
      const el = ref.current;
      if (!el) return;
      e.preventDefault();
      const target = e.currentTarget;
      target.setPointerCapture(e.pointerId);
      const rect = el.getBoundingClientRect();
      const size = axis === "cols" ? rect.width : rect.height;
      const start = axis === "cols" ? e.clientX : e.clientY;
      const base = [...fr];
      const move = (ev: globalThis.PointerEvent) => {
        const d = ((axis === "cols" ? ev.clientX : ev.clientY) - start) / size;
        const a = base[index]!;
        const b = base[index + 1]!;
        const dd = Math.max(MIN_FRACTION - a, Math.min(b - MIN_FRACTION, d));
        const next = [...base];
        next[index] = a + dd;
        next[index + 1] = b - dd;
        layoutActions.setFractions(axis, next);
      };
      const up = () => {
        target.removeEventListener("pointermove", move);
        target.removeEventListener("pointerup", up);
        target.removeEventListener("pointercancel", up);
      };
      target.addEventListener("pointermove", move);
      target.addEventListener("pointerup", up);
      target.addEventListener("pointercancel", up);
    };
    return (
      <div
        key={`${axis}${index}`}
        className={`td-gutter td-gutter-${axis}`}
        style={axis === "cols" ? { left: `${pos * 100}%` } : { top: `${pos * 100}%` }}
        onPointerDown={onPointerDown}
        onDoubleClick={() => layoutActions.setFractions(axis, [1 / 3, 1 / 3, 1 / 3])}
        title="drag to resize · double-click to even out"
      />
    );
  };
  return (
    <div ref={ref} className="td-grid" style={{ gridTemplateColumns: template(cols), gridTemplateRows: template(rows) }}>
      {children}
      {gutter("cols", 0)}
      {gutter("cols", 1)}
      {gutter("rows", 0)}
      {gutter("rows", 1)}
    </div>
  );
}
