// The action registry: every button's action is registered here too, so the command
// palette (Ctrl-K) and the keyboard reach all of them. Panels register with useAction().
import { useEffect, useRef } from "react";
import { Store, useStore } from "./store";

export interface Action {
  /** Unique and stable, e.g. "run.validate" or "layout.reset". */
  id: string;
  /** What the palette shows, e.g. "Run: validate". */
  title: string;
  /** A key hint shown in the palette and help (the handler binds it, not the registry). */
  keys?: string;
  /** Grouping in the palette and help. */
  group?: string;
  /** False greys it out (e.g. no run selected). */
  enabled?: boolean;
  run: () => void | Promise<void>;
}

export const actions = new Store<{ list: Action[] }>({ list: [] });

export function registerAction(a: Action): () => void {
  actions.set((s) => ({ list: [...s.list.filter((x) => x.id !== a.id), a] }));
  return () => actions.set((s) => ({ list: s.list.filter((x) => x !== a) }));
}

/** Register actions while the component is mounted; re-registers when `deps` change. */
export function useActions(make: () => Action[], deps: unknown[]): void {
  const makeRef = useRef(make);
  makeRef.current = make;
  useEffect(() => {
    const offs = makeRef.current().map(registerAction);
    return () => offs.forEach((off) => off());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

export function useActionList(): Action[] {
  return useStore(actions, (s) => s.list);
}

export function runAction(id: string): boolean {
  const a = actions.get().list.find((x) => x.id === id);
  if (!a || a.enabled === false) return false;
  void a.run();
  return true;
}
