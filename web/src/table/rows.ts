// The table's rows, read page by page from the server in the order it sorts them: only the
// pages near the rows in view are read. A new request (query, sort, columns) keeps showing
// the old rows until its first page lands, so a sort click never flashes an empty table.
import type { LoadPage, PageQuery, TableRun } from "./api";

export interface RowsRequest {
  q: string;
  sort: string;
  columns: string;
}

const MAX_PAGES = 120;

export class PagedRows {
  private pages = new Map<number, TableRun[]>();
  private stale: { pages: Map<number, TableRun[]>; total: number } | null = null;
  private inflight = new Map<number, AbortController>();
  private gen = 0;
  private req: RowsRequest | null = null;
  private window: [number, number] = [0, 0];
  private listeners = new Set<() => void>();
  /** Rows the server counts for the request (null before its first page). */
  total: number | null = null;
  error: string | null = null;
  /** The request whose rows are shown (the old one until the new one's first page). */
  shown: RowsRequest | null = null;
  /** Bumped when a new order or filter starts at the top (the view scrolls up). */
  resets = 0;
  /** Bumped on every change (for React). */
  version = 0;

  constructor(
    private readonly load: LoadPage,
    readonly pageSize = 200,
  ) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    this.version += 1;
    for (const fn of [...this.listeners]) fn();
  }

  /** Ask for rows in another order or filter; `force` reads again even if unchanged. */
  setRequest(req: RowsRequest, force = false): void {
    const r = this.req;
    if (!force && r && r.q === req.q && r.sort === req.sort && r.columns === req.columns) return;
    if (r && (r.q !== req.q || r.sort !== req.sort)) {
      // another order or filter starts at its top
      const n = this.window[1] - this.window[0];
      this.window = [0, n];
      this.resets += 1;
    }
    this.gen += 1;
    for (const c of this.inflight.values()) c.abort();
    this.inflight.clear();
    if (this.pages.size && this.total !== null) this.stale = { pages: this.pages, total: this.total };
    this.pages = new Map();
    this.total = null;
    this.req = req;
    this.error = null;
    this.ensure(this.window[0], this.window[1]);
  }

  /** Rows [first, last) are in view: read the pages they fall in (and one either side). */
  ensure(first: number, last: number): void {
    this.window = [first, Math.max(first, last)];
    if (!this.req || this.error !== null) return; // a request the server refused is not sent again
    const size = this.pageSize;
    const total = this.total ?? Number.POSITIVE_INFINITY;
    let p0 = Math.max(0, Math.floor(first / size) - 1);
    let p1 = Math.floor(Math.max(first, last - 1) / size) + 1;
    // one page first: it tells the total
    if (this.total === null && !this.pages.size) p0 = p1 = Math.floor(first / size);
    for (let p = p0; p <= p1; p++) {
      if (p * size >= total && p > 0) break;
      if (!this.pages.has(p) && !this.inflight.has(p)) void this.read(p);
    }
    this.evict();
  }

  /** Read again the pages in view (live values, new runs), keeping the rows shown meanwhile. */
  refresh(): void {
    if (!this.req || this.error !== null) return;
    const size = this.pageSize;
    const p0 = Math.max(0, Math.floor(this.window[0] / size));
    const p1 = Math.floor(Math.max(this.window[0], this.window[1] - 1) / size);
    for (const p of [...this.pages.keys()]) if (p < p0 - 1 || p > p1 + 1) this.pages.delete(p);
    for (let p = p0; p <= p1; p++) if (!this.inflight.has(p)) void this.read(p);
  }

  private async read(page: number): Promise<void> {
    const req = this.req!;
    const gen = this.gen;
    const ctl = new AbortController();
    this.inflight.set(page, ctl);
    const query: PageQuery = { ...req, offset: page * this.pageSize, limit: this.pageSize };
    try {
      const res = await this.load(query, ctl.signal);
      if (gen !== this.gen) return;
      this.inflight.delete(page);
      const first = this.total === null || this.stale !== null;
      this.pages.set(page, res.runs);
      this.total = res.total;
      this.stale = null;
      this.shown = req;
      this.error = null;
      this.changed();
      if (first) this.ensure(this.window[0], this.window[1]);
    } catch (e) {
      if (gen !== this.gen) return;
      this.inflight.delete(page);
      this.error = e instanceof Error ? e.message : String(e);
      // the rows shown (stale) stay: a mistyped query does not empty the table
      this.changed();
    }
  }

  private evict(): void {
    if (this.pages.size <= MAX_PAGES) return;
    const mid = (this.window[0] + this.window[1]) / 2 / this.pageSize;
    const far = [...this.pages.keys()].sort((a, b) => Math.abs(b - mid) - Math.abs(a - mid));
    for (const p of far.slice(0, this.pages.size - MAX_PAGES)) this.pages.delete(p);
  }

  /** Rows counted for what is shown. */
  count(): number {
    return this.stale ? this.stale.total : (this.total ?? 0);
  }

  /** The row at `i` (undefined while its page is being read). */
  get(i: number): TableRun | undefined {
    const pages = this.stale ? this.stale.pages : this.pages;
    return pages.get(Math.floor(i / this.pageSize))?.[i % this.pageSize];
  }

  /** The loaded rows in order (for range selection). */
  loaded(first: number, last: number): TableRun[] {
    const out: TableRun[] = [];
    for (let i = first; i < last; i++) {
      const r = this.get(i);
      if (r) out.push(r);
    }
    return out;
  }

  destroy(): void {
    this.gen += 1;
    for (const c of this.inflight.values()) c.abort();
    this.inflight.clear();
    this.listeners.clear();
  }
}
