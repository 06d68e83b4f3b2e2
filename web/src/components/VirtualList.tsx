// A fixed-row-height virtual list: only the rows in view (plus a few) are in the DOM.
import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from "react";

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
    const top = scrollToIndex * rowHeight;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + rowHeight - el.clientHeight;
  }, [scrollToIndex, rowHeight]);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan);
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
