// The current layout (persisted to localStorage) and which cell the keyboard is in.
import { Store, useStore } from "../state/store";
import type { PanelId } from "../panels/types";
import {
  defaultLayout,
  joinTab,
  loadLayout,
  movePanel,
  resize,
  saveLayout,
  showPanel,
  type LayoutState,
} from "./layoutState";

const storage = typeof localStorage !== "undefined" ? localStorage : null;

export const layout = new Store<{ state: LayoutState; activeCell: number }>({
  state: loadLayout(storage),
  activeCell: 0,
});

let saveTimer: ReturnType<typeof setTimeout> | null = null;
let lastSaved = layout.get().state;
layout.subscribe(() => {
  if (layout.get().state === lastSaved || saveTimer !== null) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    lastSaved = layout.get().state;
    saveLayout(storage, lastSaved);
  }, 150);
});

export function useLayout<T>(select: (s: { state: LayoutState; activeCell: number }) => T): T {
  return useStore(layout, select);
}

const update = (f: (s: LayoutState) => LayoutState) => layout.set((s) => ({ state: f(s.state) }));

export const layoutActions = {
  reset: () => update(() => defaultLayout()),
  move: (id: PanelId, cell: number) => update((s) => movePanel(s, id, cell)),
  join: (id: PanelId, cell: number) => update((s) => joinTab(s, id, cell)),
  show: (id: PanelId) => update((s) => showPanel(s, id)),
  resize: (axis: "cols" | "rows", index: number, delta: number) => update((s) => resize(s, axis, index, delta)),
  setFractions: (axis: "cols" | "rows", fr: number[]) => update((s) => ({ ...s, [axis]: fr })),
  setActiveCell: (i: number) => layout.set({ activeCell: i }),
};
