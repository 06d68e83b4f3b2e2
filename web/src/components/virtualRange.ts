// The arithmetic of the virtual list (fixed row height), kept pure for tests.

/** [first, last) row indices to render for a viewport, with `overscan` rows either side. */
export function visibleRange(scrollTop: number, height: number, rowHeight: number, count: number, overscan: number): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return [Math.min(first, last), last];
}

/** The scrollTop that brings row `index` into view, moving as little as possible. */
export function scrollToShow(scrollTop: number, height: number, rowHeight: number, index: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + height) return Math.max(0, top + rowHeight - height);
  return scrollTop;
}
