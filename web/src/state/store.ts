// A tiny external store for React (useSyncExternalStore): state lives in plain objects
// that tests can create many of; components read slices through selectors.
import { useSyncExternalStore } from "react";

export class Store<S extends object> {
  private listeners = new Set<() => void>();
  constructor(private state: S) {}

  get = (): S => this.state;

  set(patch: Partial<S> | ((s: S) => Partial<S>)): void {
    const p = typeof patch === "function" ? patch(this.state) : patch;
    let changed = false;
    for (const k of Object.keys(p) as Array<keyof S>) {
      if (!Object.is(this.state[k], p[k])) changed = true;
    }
    if (!changed) return;
    this.state = { ...this.state, ...p };
    for (const fn of [...this.listeners]) fn();
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };
}

/** Read a slice of a store; the component re-renders when the slice changes (Object.is). */
export function useStore<S extends object, T>(store: Store<S>, select: (s: S) => T): T {
  return useSyncExternalStore(store.subscribe, () => select(store.get()), () => select(store.get()));
}
