// A component loaded on first use: its module (and what only it imports) goes into its own
// chunk, so the bundle the dashboard evaluates before its first paint holds only what the
// landing page draws (the layout, the run list, the charts and the metrics grid).
import { createElement, lazy, Suspense, type ComponentType, type ReactNode } from "react";

export function lazyComponent<P extends object>(
  load: () => Promise<ComponentType<P>>,
  fallback: ReactNode = null,
): ComponentType<P> {
  const Loaded = lazy(async () => ({ default: await load() }));
  function Lazy(props: P) {
    return createElement(Suspense, { fallback }, createElement(Loaded as ComponentType<P>, props));
  }
  return Lazy;
}
