// Which metric keys the grid's runs have: each run's keys read once over REST, and keys
// that first appear in a live push added as they come. It also holds the runs'
// subscriptions for the grid (the charts' own are reference-counted on top).
import type { FeedLive, FeedReader } from "../chart/feed";

export class KeyIndex {
  private runs: string[] = [];
  private byRun = new Map<string, Set<string>>();
  private reads = new Map<string, Promise<string[]>>();
  private subs = new Map<string, () => void>();
  private offLive: () => void;
  private destroyed = false;

  constructor(
    private readonly live: FeedLive,
    private readonly reader: Pick<FeedReader, "keys">,
    /** The union of keys changed. */
    private readonly changed: () => void,
  ) {
    this.offLive = live.on("metric_update", (m) => {
      const set = this.byRun.get(m.run_id);
      if (!set) return;
      let grew = false;
      for (const k of Object.keys(m.points)) {
        if (!set.has(k)) {
          set.add(k);
          grew = true;
        }
      }
      if (grew) this.changed();
    });
  }

  destroy(): void {
    this.destroyed = true;
    this.offLive();
    for (const off of this.subs.values()) off();
    this.subs.clear();
  }

  /** Follow these runs (subscribing to them, reading the keys of new ones). */
  configure(runs: string[]): void {
    this.runs = [...runs];
    let dropped = false;
    for (const [id, off] of this.subs) {
      if (runs.includes(id)) continue;
      off();
      this.subs.delete(id);
      this.byRun.delete(id);
      this.reads.delete(id);
      dropped = true;
    }
    for (const id of runs) {
      if (this.subs.has(id)) continue;
      this.subs.set(id, this.live.subscribeRun(id));
      this.byRun.set(id, new Set());
      void this.keysOf(id).then((keys) => {
        const set = this.byRun.get(id);
        if (this.destroyed || !set) return;
        const before = set.size;
        for (const k of keys) set.add(k);
        if (set.size !== before) this.changed();
      });
    }
    if (dropped) this.changed();
  }

  /** A run's keys as read over REST (one read per run, shared; [] for a deleted run). */
  keysOf(runId: string): Promise<string[]> {
    let p = this.reads.get(runId);
    if (!p) {
      p = this.reader.keys(runId).catch(() => []);
      this.reads.set(runId, p);
    }
    return p;
  }

  /** Union of the followed runs' keys (unsorted; the grouping sorts). */
  keys(): string[] {
    const out = new Set<string>();
    for (const r of this.runs) for (const k of this.byRun.get(r) ?? []) out.add(k);
    return [...out];
  }
}
