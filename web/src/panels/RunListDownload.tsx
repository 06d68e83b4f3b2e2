// The run list's download menu (⤓ in its bar): the table as shown, as CSV made here, and
// the metrics of the selected runs (the compared ones, else the open one) from the
// export route, one file per run.
import { useCallback, useRef, useState } from "react";
import type { RunOut } from "../api/client";
import { DownloadMenu } from "../download/DownloadMenu";
import { saveText, type ExportFormat } from "../download/links";
import { downloadSelected, SelectedMetrics } from "../download/SelectedMetrics";
import { useActions } from "../state/actions";
import { useApp } from "../state/app";
import { readLastByCompare, type LastValues } from "./last-values";
import { lastValuesOf, runTableCsv, runTableFileName } from "./run-table";

export interface RunListDownloadProps {
  /** The rows shown, in order. */
  view: readonly RunOut[];
  values: LastValues;
}

export function RunListDownload({ view, values }: RunListDownloadProps) {
  const [open, setOpen] = useState(false);
  const [format, setFormat] = useState<ExportFormat>("csv");
  const [busy, setBusy] = useState<string | null>(null);
  const onOpen = useCallback((v: boolean) => setOpen(v), []);
  const runs = useApp((s) => s.runs);
  const compare = useApp((s) => s.compare);
  const focused = useApp((s) => s.focused);
  const selected = compare.length ? compare : focused ? [focused] : [];
  const name = (id: string) => runs.get(id)?.name ?? id;

  // the palette's action reads the rows shown when it runs (not re-registered per update)
  const latest = useRef({ view, values });
  latest.current = { view, values };

  const saveTable = async () => {
    const { view, values } = latest.current;
    setBusy("reading the metric column…");
    try {
      const key = values.key;
      const last = await lastValuesOf(view.map((r) => r.id), (id) => values.get(id), readLastByCompare, key);
      saveText(runTableFileName(new Date()), runTableCsv(view, key, (id) => last.get(id), Date.now() / 1000));
      setBusy(null);
    } catch (e) {
      setBusy(`cannot read ${latest.current.values.key}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const saveMetrics = () => void downloadSelected(selected, format);

  useActions(
    () => [
      { id: "runs.download-table", group: "Runs", title: "Runs: download the table as CSV", enabled: view.length > 0, run: saveTable },
      { id: "runs.download-metrics", group: "Runs", title: `Runs: download the metrics of the selected runs (${format})`, enabled: selected.length > 0, run: saveMetrics },
    ],
    [view.length > 0, selected.join(","), format],
  );

  return (
    <DownloadMenu open={open} onOpen={onOpen} testId="runs-dl" title="download the table (csv) or the selected runs' metrics">
      <div className="td-dl-row">
        <span className="dim">table</span>
        <button type="button" data-testid="runs-dl-table" disabled={!view.length} title="the rows shown, as CSV (id, name, project, status, tags, times, the metric column)" onClick={() => void saveTable()}>
          ⤓ {view.length} rows, csv
        </button>
      </div>
      {busy ? <span className="dim">{busy}</span> : null}
      <div className="td-dl-sep" />
      <SelectedMetrics selected={selected} format={format} onFormat={setFormat} name={name} testId="runs-dl" />
    </DownloadMenu>
  );
}
