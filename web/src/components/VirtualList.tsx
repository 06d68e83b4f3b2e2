// A fixed-row-height virtual list: only the rows in view (plus a few) are in the DOM.
import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { scrollToShow, visibleRange } from "./virtualRange";

export interface VirtualListProps {
  count: number;
  rowHeight: number;
  renderRow: (index: number) => ReactNode;
  /** Keep this row in view whenever it changes. */
  scrollToIndex?: number | null;
  overscan?: number;
  className?: string;
  /** Shown when count is 0. */
  empty?: ReactNode;
}

export function VirtualList({ count, rowHeight, renderRow, scrollToIndex, overscan = 6, className, empty }: VirtualListProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setHeight(el.clientHeight || 400);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 400));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const el = ref.current;
    if (!el || scrollToIndex === null || scrollToIndex === undefined || scrollToIndex < 0) return;
    const next = scrollToShow(el.scrollTop, el.clientHeight, rowHeight, scrollToIndex);
    if (next !== el.scrollTop) el.scrollTop = next;
  }, [scrollToIndex, rowHeight]);

  const [first, last] = visibleRange(scrollTop, height, rowHeight, count, overscan);
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) rows.push(renderRow(i));

  return (
    <div
      ref={ref}
      className={`td-vlist ${className ?? ""}`}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      {count === 0 ? (
        empty
      ) : (
        <div style={{ height: count * rowHeight, position: "relative" }}>
          <div style={{ position: "absolute", top: first * rowHeight, left: 0, right: 0 }}>{rows}</div>
        </div>
      )}
    </div>
  );
}
