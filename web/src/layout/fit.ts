// The run list shrinks to its content (issue 12 §5): with a few runs its cell takes only
// the rows it needs and the panel below it in the same column takes the rest, instead of
// a third of the screen holding two rows. The run list reports its row count here.
import { Store } from "../state/store";

export const runsFit = new Store<{ rows: number }>({ rows: -1 });

const ROW_PX = 18;
/** Tab strip, filter bar, header row and borders above and below the rows. */
const CHROME_PX = 18 + 21 + 19 + 4;
/** Rows always kept (room for the empty message and a run or two appearing). */
const MIN_ROWS = 3;

/** The height in px the run list's cell needs for `rows` rows (one spare), or null when unknown. */
export function fitHeight(rows: number): number | null {
  if (rows < 0 || !Number.isFinite(rows)) return null;
  return CHROME_PX + (Math.max(MIN_ROWS, rows) + 1) * ROW_PX;
}
