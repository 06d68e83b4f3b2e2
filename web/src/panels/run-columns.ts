// Which columns the run list shows at a width (issue 12 §5): the name keeps room for a
// readable name; the project column goes first, then age, then the status word (its glyph
// stays), then duration, progress and the metric. The progress column shows only when
// some run has progress or speed.
export type RunColumn = "check" | "status" | "name" | "project" | "progress" | "age" | "dur" | "metric";

export interface ColumnChoice {
  columns: RunColumn[];
  /** The status as its glyph only. */
  shortStatus: boolean;
  /** CSS grid-template-columns for the chosen columns. */
  template: string;
}

/** Widths in ch (the check box is 12px, about 2ch). */
const WIDTH: Record<Exclude<RunColumn, "name" | "project">, number> = {
  check: 2,
  status: 13,
  progress: 9,
  age: 5,
  dur: 6,
  metric: 8,
};
const SHORT_STATUS = 2;
/** A name under this many characters is cut too short to tell runs apart. */
export const NAME_MIN_CH = 16;
const PROJECT_MIN_CH = 6;
const GAP_PX = 5;
const PAD_PX = 8;

const ORDER: RunColumn[] = ["check", "status", "name", "project", "progress", "age", "dur", "metric"];

/** Columns for a list `widthPx` wide, a character being `chPx` wide. */
export function chooseColumns(widthPx: number, chPx: number, hasProgress: boolean): ColumnChoice {
  const steps: Array<{ drop: RunColumn[]; short: boolean }> = [
    { drop: [], short: false },
    { drop: ["project"], short: false },
    { drop: ["project", "age"], short: false },
    { drop: ["project", "age"], short: true },
    { drop: ["project", "age", "dur"], short: true },
    { drop: ["project", "age", "dur", "progress"], short: true },
    { drop: ["project", "age", "dur", "progress", "metric"], short: true },
  ];
  const ch = chPx > 0 && Number.isFinite(chPx) ? chPx : 7.2;
  const w = Number.isFinite(widthPx) && widthPx > 0 ? widthPx : Infinity;
  let pick = steps[steps.length - 1]!;
  for (const s of steps) {
    const cols = ORDER.filter((c) => !s.drop.includes(c) && (hasProgress || c !== "progress"));
    let need = PAD_PX + GAP_PX * (cols.length - 1) + NAME_MIN_CH * ch;
    for (const c of cols) {
      if (c === "name") continue;
      if (c === "project") need += PROJECT_MIN_CH * ch;
      else if (c === "status" && s.short) need += SHORT_STATUS * ch;
      else need += WIDTH[c] * ch;
    }
    if (need <= w) {
      pick = s;
      break;
    }
  }
  const columns = ORDER.filter((c) => !pick.drop.includes(c) && (hasProgress || c !== "progress"));
  const template = columns
    .map((c) => {
      if (c === "check") return "12px";
      if (c === "name") return columns.includes("project") ? `minmax(${NAME_MIN_CH}ch, 2fr)` : "minmax(0, 1fr)";
      if (c === "project") return `minmax(${PROJECT_MIN_CH}ch, 1fr)`;
      if (c === "status") return `${pick.short ? SHORT_STATUS : WIDTH.status}ch`;
      return `${WIDTH[c]}ch`;
    })
    .join(" ");
  return { columns, shortStatus: pick.short, template };
}

/** Whether any run has a progress or speed to show. */
export function anyProgress(runs: Iterable<object>): boolean {
  for (const run of runs) {
    const r = run as { progress?: unknown; steps_per_s?: unknown; total_steps?: unknown };
    if (typeof r.progress === "number" || typeof r.steps_per_s === "number" || typeof r.total_steps === "number") return true;
  }
  return false;
}
