// A chart's download menu (⤓ in its bar): the drawn runs' metric from the export route,
// one link per run (and one button for all of them), as CSV, Parquet or a TensorBoard
// event file; every point, or as many exact buckets as the chart reads; this key or all
// of the run's keys.
import { useCallback, useState } from "react";
import { useActions } from "../state/actions";
import { Choice, DownloadMenu } from "../download/DownloadMenu";
import { EXPORT_FORMATS, downloadEach, exportUrl, type ExportFormat } from "../download/links";

type Points = "raw" | "buckets";
type Keys = "key" | "all";

export interface ChartDownloadProps {
  /** chartA / chartB: the menu's test id and the palette action's id. */
  id: string;
  label: string;
  runs: readonly string[];
  name: (runId: string) => string;
  metric: string;
  /** How many buckets per run the chart reads now. */
  buckets: () => number;
}

export function ChartDownload({ id, label, runs, name, metric, buckets }: ChartDownloadProps) {
  const [open, setOpen] = useState(false);
  const [format, setFormat] = useState<ExportFormat>("csv");
  const [points, setPoints] = useState<Points>("raw");
  const [keys, setKeys] = useState<Keys>("key");
  const onOpen = useCallback((v: boolean) => setOpen(v), []);
  const target = open ? buckets() : 0; // read from the plot's width, only while shown
  const tb = format === "tensorboard"; // event files hold raw points only
  const n = points === "buckets" && !tb ? target : null;
  const href = (r: string) => exportUrl(r, { format, keys: keys === "key" ? [metric] : [], buckets: n });
  const what = `${keys === "key" ? metric : "every key"}, ${n === null ? "every point" : `${n} buckets`}, ${format}`;

  useActions(
    () => [
      { id: `${id}.download`, group: label, title: `${label}: download the charted runs' metric…`, enabled: runs.length > 0, run: () => setOpen(true) },
    ],
    [id, label, runs.length > 0],
  );

  return (
    <DownloadMenu open={open} onOpen={onOpen} testId="chart-dl" title={`${label}: download (csv, parquet, tensorboard)`}>
      <div className="td-dl-row">
        <span className="dim">format</span>
        <Choice name="format" value={format} options={EXPORT_FORMATS} onChange={setFormat} />
      </div>
      <div className="td-dl-row">
        <span className="dim">points</span>
        <Choice
          name="points"
          value={tb ? "raw" : points}
          onChange={setPoints}
          options={[
            { id: "raw", label: "all", title: "every logged point" },
            { id: "buckets", label: `${target} buckets`, title: tb ? "a TensorBoard file holds every point" : "the chart's buckets: count, min, max, mean, last per bucket (over the whole run, not the zoomed window)", disabled: tb },
          ]}
        />
      </div>
      <div className="td-dl-row">
        <span className="dim">keys</span>
        <Choice
          name="keys"
          value={keys}
          onChange={setKeys}
          options={[
            { id: "key", label: metric, title: `only ${metric}` },
            { id: "all", label: "all", title: "every key of the run" },
          ]}
        />
      </div>
      <div className="td-dl-sep" />
      {runs.length === 0 ? <span className="dim">no run charted</span> : null}
      {runs.map((r) => (
        <a key={r} href={href(r)} download="" data-testid="chart-dl-run" data-run={r} title={`download ${what} of ${name(r)}`}>
          ⤓ {name(r)}
          <span className="dim">{r.slice(0, 8)}</span>
        </a>
      ))}
      {runs.length > 1 ? (
        <div className="td-dl-row">
          <button type="button" data-testid="chart-dl-all" title={`one file per run: ${what}`} onClick={() => void downloadEach(runs.map(href))}>
            ⤓ all {runs.length} runs
          </button>
        </div>
      ) : null}
    </DownloadMenu>
  );
}
