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
const saveNow = () => {
  if (saveTimer !== null) clearTimeout(saveTimer);
  saveTimer = null;
  if (layout.get().state === lastSaved) return;
  lastSaved = layout.get().state;
  saveLayout(storage, lastSaved);
};
layout.subscribe(() => {
  if (layout.get().state === lastSaved || saveTimer !== null) return;
  saveTimer = setTimeout(saveNow, 150); // a gutter drag saves once it pauses, not per move
});
// Leaving or reloading the page right after a change must not lose it.
if (typeof window !== "undefined") window.addEventListener("pagehide", saveNow);

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
