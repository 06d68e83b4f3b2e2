// A clock for components that show ages and durations: one shared interval per period.
import { useSyncExternalStore } from "react";

const clocks = new Map<number, { now: number; subs: Set<() => void>; timer: ReturnType<typeof setInterval> | null }>();

function clock(ms: number) {
  let c = clocks.get(ms);
  if (!c) clocks.set(ms, (c = { now: Date.now(), subs: new Set(), timer: null }));
  return c;
}

/** Date.now(), refreshed every `ms` while some component reads it. */
export function useNow(ms = 1000): number {
  const c = clock(ms);
  return useSyncExternalStore(
    (fn) => {
      c.subs.add(fn);
      if (c.timer === null) {
        c.timer = setInterval(() => {
          c.now = Date.now();
          for (const f of [...c.subs]) f();
        }, ms);
      }
      return () => {
        c.subs.delete(fn);
        if (!c.subs.size && c.timer !== null) {
          clearInterval(c.timer);
          c.timer = null;
        }
      };
    },
    () => c.now,
    () => c.now,
  );
}
