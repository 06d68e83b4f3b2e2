// Artifacts panel logic: the run folder's files (GET /api/runs/{id}/artifacts) as a tree
// of rows, folders collapsible, and each entry's download URL. The route is typed here by
// hand until the generated types (api/openapi.gen.ts) carry it.
import { ApiError } from "../api/client";

export interface ArtifactFile {
  /** Relative to the run's folder, "/" between folders. */
  path: string;
  size: number;
  /** Unix time, seconds. */
  mtime: number;
  dir: boolean;
}

export interface ArtifactList {
  files: ArtifactFile[];
}

export interface ArtifactRow extends ArtifactFile {
  name: string;
  depth: number;
  /** A folder's total bytes (its files, at any depth); a file's own size. */
  total: number;
}

/** The URL that downloads `path` of a run (a folder comes as a tar). */
export function artifactUrl(runId: string, path: string): string {
  const rel = path.split("/").map(encodeURIComponent).join("/");
  return `/api/runs/${encodeURIComponent(runId)}/artifacts/${rel}`;
}

/** The name a download is saved as: the last part, `.tar` after a folder's. */
export function downloadName(f: ArtifactFile): string {
  const name = f.path.slice(f.path.lastIndexOf("/") + 1);
  return f.dir ? `${name}.tar` : name;
}

/** Rows in tree order (a folder before what it holds, names sorted), without what lies
 * inside a collapsed folder; folders carry the bytes below them. */
export function treeRows(files: ArtifactFile[], collapsed: ReadonlySet<string>): ArtifactRow[] {
  const sorted = [...files].sort((a, b) => cmpPath(a.path, b.path));
  const totals = new Map<string, number>();
  for (const f of sorted) {
    if (f.dir) continue;
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      totals.set(folder, (totals.get(folder) ?? 0) + f.size);
    }
  }
  const rows: ArtifactRow[] = [];
  for (const f of sorted) {
    const parts = f.path.split("/");
    let hidden = false;
    for (let i = 1; i < parts.length && !hidden; i++) hidden = collapsed.has(parts.slice(0, i).join("/"));
    if (hidden) continue;
    rows.push({ ...f, name: parts[parts.length - 1]!, depth: parts.length - 1, total: f.dir ? (totals.get(f.path) ?? 0) : f.size });
  }
  return rows;
}

/** Paths compared part by part, so that "a/b" sorts right after "a" (before "a-b"). */
function cmpPath(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** Flip a folder between collapsed and open. */
export function toggle(collapsed: ReadonlySet<string>, path: string): Set<string> {
  const next = new Set(collapsed);
  if (next.has(path)) next.delete(path);
  else next.add(path);
  return next;
}

/** The run folder's listing; an `ApiError` for a non-2xx answer. */
export async function fetchArtifacts(runId: string, signal?: AbortSignal): Promise<ArtifactList> {
  const res = await fetch(`/api/runs/${encodeURIComponent(runId)}/artifacts`, {
    credentials: "same-origin",
    headers: { accept: "application/json" },
    signal,
  });
  if (!res.ok) {
    let message = res.statusText || `HTTP ${res.status}`;
    let code = `http_${res.status}`;
    try {
      const data = (await res.json()) as { error?: { code?: string; message?: string } };
      if (data.error?.code) code = data.error.code;
      if (data.error?.message) message = data.error.message;
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(res.status, code, message);
  }
  return (await res.json()) as ArtifactList;
}
