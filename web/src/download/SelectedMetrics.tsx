// The selected runs' metrics from the export route, one file per run: the part of the
// run list's and the run table's ⤓ menus they share.
import { Choice } from "./DownloadMenu";
import { downloadEach, EXPORT_FORMATS, exportUrl, type ExportFormat } from "./links";

export interface SelectedMetricsProps {
  /** The runs to offer (the compared ones, else the open one). */
  selected: readonly string[];
  format: ExportFormat;
  onFormat: (f: ExportFormat) => void;
  name: (id: string) => string;
  /** data-testid prefix: `<p>-run` for each run's link, `<p>-metrics` for "all". */
  testId: string;
}

/** Download every selected run's metrics, one file each (what "all" and the palette do). */
export function downloadSelected(selected: readonly string[], format: ExportFormat): Promise<void> {
  return downloadEach(selected.map((id) => exportUrl(id, { format })));
}

export function SelectedMetrics({ selected, format, onFormat, name, testId }: SelectedMetricsProps) {
  return (
    <>
      <div className="td-dl-row">
        <span className="dim">metrics</span>
        <Choice name="format" value={format} options={EXPORT_FORMATS} onChange={onFormat} />
      </div>
      {selected.length === 0 ? <span className="dim">no run selected (tick or open one)</span> : null}
      {selected.map((id) => (
        <a key={id} href={exportUrl(id, { format })} download="" data-testid={`${testId}-run`} data-run={id} title={`every metric of ${name(id)}, every point, ${format}`}>
          ⤓ {name(id)}
          <span className="dim">{id.slice(0, 8)}</span>
        </a>
      ))}
      {selected.length > 1 ? (
        <div className="td-dl-row">
          <button type="button" data-testid={`${testId}-metrics`} title={`one ${format} file per run`} onClick={() => void downloadSelected(selected, format)}>
            ⤓ all {selected.length} selected
          </button>
        </div>
      ) : null}
    </>
  );
}
