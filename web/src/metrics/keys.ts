// Which metric keys the grid's runs have: the runs' keys read once over REST (the runs
// added together in one `GET /api/metrics/keys`, each key named once), and keys that first
// appear in a live push added as they come. It also holds the runs' subscriptions for the
// grid (the charts' own are reference-counted on top).
import { api } from "../api/client";
import type { FeedLive, FeedReader } from "../chart/feed";

/** Runs one `GET /api/metrics/keys` names at most (the server's limit). */
export const MAX_RUNS = 100;

/** Key lists: one run's, and optionally several runs' in one read (rejects when a run is gone). */
export interface KeyReader extends Pick<FeedReader, "keys"> {
  keysMany?: (runs: string[]) => Promise<Map<string, string[]>>;
}

/** A read of several runs' keys started before the grid existed (prefetchKeys). */
let early: { runs: string; read: Promise<Map<string, string[]>>; at: number } | null = null;
/** How long that read stays fit to take (a grid opened later reads afresh). */
export const EARLY_KEYS_MS = 5000;

/**
 * Ask for these runs' keys now (the page's start, before React renders): the grid's first
 * `restKeysMany` of the same runs, in any order, takes this read instead of sending its own.
 */
export function prefetchKeys(runs: string[]): void {
  const read = readKeysMany(runs);
  read.catch(() => {}); // a failure is the taker's to handle (it reads run by run)
  early = { runs: [...runs].sort().join(","), read, at: performance.now() };
}

/** Several runs' keys over REST: `GET /api/metrics/keys` (per MAX_RUNS runs). */
export function restKeysMany(runs: string[]): Promise<Map<string, string[]>> {
  const taken = early;
  early = null; // taken once, or stale once the grid read anything
  if (taken && taken.runs === [...runs].sort().join(",") && performance.now() - taken.at < EARLY_KEYS_MS) return taken.read;
  return readKeysMany(runs);
}

async function readKeysMany(runs: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const parts: string[][] = [];
  for (let i = 0; i < runs.length; i += MAX_RUNS) parts.push(runs.slice(i, i + MAX_RUNS));
  const answers = await Promise.all(parts.map((p) => api.get("/api/metrics/keys", { query: { run_ids: p.join(",") } })));
  for (const res of answers) for (const r of res.runs) out.set(r.run_id, r.keys.map((i) => res.keys[i]!));
  return out;
}

export class KeyIndex {
  private runs: string[] = [];
  private byRun = new Map<string, Set<string>>();
  private reads = new Map<string, Promise<string[]>>();
  private subs = new Map<string, () => void>();
  private offLive: () => void;
  private destroyed = false;

  constructor(
    private readonly live: FeedLive,
    private readonly reader: KeyReader,
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
    const added = runs.filter((id) => !this.subs.has(id));
    this.readTogether(added);
    for (const id of added) {
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

  /**
   * The keys of runs added together, in one read; when it fails (a run was deleted), each
   * run alone (the one gone: []).
   */
  private readTogether(runs: string[]): void {
    const many = this.reader.keysMany;
    const fresh = runs.filter((id) => !this.reads.has(id));
    if (!many || fresh.length < 2) return;
    const all = many(fresh);
    for (const id of fresh) {
      this.reads.set(
        id,
        all.then(
          (m) => m.get(id) ?? [],
          () => this.reader.keys(id).catch(() => []),
        ),
      );
    }
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
