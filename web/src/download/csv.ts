// CSV built in the browser (the run table's download), written as the server writes its
// exports (traindeck.export.csv): one header line, `\n` line ends, a field quoted only
// when it holds a comma, a quote or a line break (quotes doubled), and numbers that read
// back exactly, the non-finite ones spelled `nan`, `inf` and `-inf`.

/** A cell's value: empty for null/undefined. */
export type CsvValue = string | number | boolean | null | undefined;

/** A number as the server's CSV spells it: shortest round-trip text; nan, inf, -inf. */
export function csvNumber(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (v === Number.POSITIVE_INFINITY) return "inf";
  if (v === Number.NEGATIVE_INFINITY) return "-inf";
  return Object.is(v, -0) ? "-0" : String(v);
}

/** One field, quoted when it must be. */
export function csvCell(v: CsvValue): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "number" ? csvNumber(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One line, with its `\n`. */
export function csvLine(cells: readonly CsvValue[]): string {
  return cells.map(csvCell).join(",") + "\n";
}

/** A whole file: the header, then the rows. */
export function csvText(header: readonly string[], rows: Iterable<readonly CsvValue[]>): string {
  const out = [csvLine(header)];
  for (const r of rows) out.push(csvLine(r));
  return out.join("");
}
