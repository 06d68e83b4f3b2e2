// The table's ⤓: every row the query keeps, in the table's order, with the columns shown,
// as CSV (read from the server page by page, values exact); and the selected runs'
// metrics from the export route, as the run list's ⤓ offers.
import { useState } from "react";
import { DownloadMenu } from "../download/DownloadMenu";
import { csvText } from "../download/csv";
import { saveText, type ExportFormat } from "../download/links";
import { SelectedMetrics } from "../download/SelectedMetrics";
import { runTableFileName } from "../panels/run-table";
import { useApp } from "../state/app";
import { loadRunsPage, type TableRun } from "./api";
import { tableCsvRows } from "./cells";
import type { ColumnSpec } from "./columns";

const PAGE = 1000;

export function TableDownload({ q, sort, specs, count }: { q: string; sort: string; specs: ColumnSpec[]; count: number }) {
  const [open, setOpen] = useState(false);
  const [format, setFormat] = useState<ExportFormat>("csv");
  const [busy, setBusy] = useState<string | null>(null);
  const compare = useApp((s) => s.compare);
  const focused = useApp((s) => s.focused);
  const runs = useApp((s) => s.runs);
  const selected = compare.length ? compare : focused ? [focused] : [];

  const saveTable = async () => {
    const rows: TableRun[] = [];
    try {
      for (let offset = 0; ; offset += PAGE) {
        setBusy(`reading rows ${offset}…`);
        const page = await loadRunsPage({ q, sort, columns: specs.map((s) => s.id).join(","), offset, limit: PAGE });
        rows.push(...page.runs);
        if (page.runs.length < PAGE || rows.length >= page.total) break;
      }
      saveText(runTableFileName(new Date()), csvText(["id", ...specs.map((s) => s.id)], tableCsvRows(specs, rows, Date.now() / 1000)));
      setBusy(null);
    } catch (e) {
      setBusy(`cannot read the rows: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  return (
    <DownloadMenu open={open} onOpen={setOpen} testId="table-dl" title="download the table (csv) or the selected runs' metrics">
      <div className="td-dl-row">
        <span className="dim">table</span>
        <button type="button" data-testid="table-dl-table" disabled={!count} title="every row the filter keeps, in this order, with the columns shown, as CSV" onClick={() => void saveTable()}>
          ⤓ {count} rows, csv
        </button>
      </div>
      {busy ? <span className="dim">{busy}</span> : null}
      <div className="td-dl-sep" />
      <SelectedMetrics selected={selected} format={format} onFormat={setFormat} name={(id) => runs.get(id)?.name ?? id} testId="table-dl" />
    </DownloadMenu>
  );
}
