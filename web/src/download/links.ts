// Downloads: the export route's URLs (GET /api/runs/{id}/export, one run per file), a file
// made in the browser (a Blob behind a download link), and several URLs one after another.

/** The export formats the dashboard offers, in menu order. */
export const EXPORT_FORMATS = [
  { id: "csv", label: "csv", title: "CSV, long format (run_id,key,step,time,value)" },
  { id: "parquet", label: "parquet", title: "Parquet, long format" },
  { id: "tensorboard", label: "tb", title: "TensorBoard event file (scalars)" },
] as const;

export type ExportFormat = (typeof EXPORT_FORMATS)[number]["id"];

export interface ExportOptions {
  format?: ExportFormat;
  /** Only these keys, each exact (sent as `key=`, so a comma or `*` in a name is literal);
   * all when absent or empty. */
  keys?: readonly string[];
  /** At most this many exact buckets per series instead of raw points. */
  buckets?: number | null;
}

/** The export route's URL for one run. */
export function exportUrl(runId: string, opts: ExportOptions = {}): string {
  const q = [`format=${opts.format ?? "csv"}`];
  for (const k of opts.keys ?? []) q.push(`key=${encodeURIComponent(k)}`);
  if (opts.buckets != null) q.push(`buckets=${Math.max(1, Math.round(opts.buckets))}`);
  return `/api/runs/${encodeURIComponent(runId)}/export?${q.join("&")}`;
}

/** Click a temporary download link (the browser keeps the file's name from the server
 * when `name` is empty). */
export function clickDownload(href: string, name = ""): void {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  a.rel = "noopener";
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** Save text made here as a file (a Blob URL, released once the download has started). */
export function saveText(name: string, text: string, type = "text/csv;charset=utf-8"): void {
  const href = URL.createObjectURL(new Blob([text], { type }));
  clickDownload(href, name);
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** Start several downloads one after another (a pause between them, so the browser
 * takes each as its own). */
export async function downloadEach(hrefs: readonly string[], gapMs = 400): Promise<void> {
  for (let i = 0; i < hrefs.length; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    clickDownload(hrefs[i]!);
  }
}
