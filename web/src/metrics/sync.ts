// Synchronized cursors and x ranges across the metrics grid: a chart that moves its
// cursor or zooms tells the group, and the group tells every other member. Pure (the
// members are interfaces), tested.
import type { Zoom } from "../chart/feed";

export interface SyncMember {
  /** Show the cursor at x (null: hide it); must not report back to the group. */
  showCursor(x: number | null): void;
  /** Show this x window (null: everything). */
  showWindow(z: Zoom | null): void;
}

export class GridSync {
  private members = new Set<SyncMember>();
  private win: Zoom | null = null;
  private cur: number | null = null;

  /** The x window every chart shows (null: everything). */
  get window(): Zoom | null {
    return this.win;
  }

  /** The synchronized cursor's x, or null. */
  get cursor(): number | null {
    return this.cur;
  }

  /** Add a member; it is shown the current window at once. Returns the leave function. */
  join(m: SyncMember): () => void {
    this.members.add(m);
    if (this.win) m.showWindow(this.win);
    return () => {
      this.members.delete(m);
    };
  }

  get size(): number {
    return this.members.size;
  }

  /** `from`'s cursor moved to x (null: it left the plot): the others follow. */
  moveCursor(from: SyncMember | null, x: number | null): void {
    if (x === this.cur) return;
    this.cur = x;
    for (const m of this.members) if (m !== from) m.showCursor(x);
  }

  /** `from` zoomed, panned or reset (null): every other member shows the same window. */
  setWindow(from: SyncMember | null, z: Zoom | null): void {
    if (sameWindow(z, this.win)) return;
    this.win = z;
    for (const m of this.members) if (m !== from) m.showWindow(z);
  }
}

function sameWindow(a: Zoom | null, b: Zoom | null): boolean {
  if (a === null || b === null) return a === b;
  return a.min === b.min && a.max === b.max;
}
