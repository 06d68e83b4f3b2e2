// Fuzzy matching for the command palette: the query's characters must appear in order;
// contiguous runs, word starts and an early first hit score higher.

export interface FuzzyHit {
  score: number;
  /** Indices of the matched characters in the text, for highlighting. */
  positions: number[];
}

function isWordStart(text: string, i: number): boolean {
  if (i === 0) return true;
  const prev = text[i - 1]!;
  return /[\s:/._\-()]/.test(prev) || (prev === prev.toLowerCase() && text[i] !== text[i]!.toLowerCase());
}

/** Null when `query` is not a subsequence of `text` (case-insensitive, spaces ignored). */
export function fuzzyMatch(query: string, text: string): FuzzyHit | null {
  const q = query.toLowerCase().replace(/\s+/g, "");
  if (!q) return { score: 0, positions: [] };
  const t = text.toLowerCase();
  // Prefer a contiguous substring hit when there is one.
  const sub = t.indexOf(q);
  if (sub >= 0) {
    const positions = Array.from({ length: q.length }, (_, k) => sub + k);
    return { score: 1000 + (isWordStart(text, sub) ? 200 : 0) - sub - t.length * 0.01, positions };
  }
  const positions: number[] = [];
  let score = 0;
  let ti = 0;
  let prev = -2;
  for (const ch of q) {
    let found = -1;
    // Prefer the next word start holding ch, else the next occurrence.
    for (let j = ti; j < t.length; j++) {
      if (t[j] === ch && (j === prev + 1 || isWordStart(text, j))) {
        found = j;
        break;
      }
    }
    if (found < 0) found = t.indexOf(ch, ti);
    if (found < 0) return null;
    score += found === prev + 1 ? 15 : isWordStart(text, found) ? 10 : 1;
    score -= Math.min(5, found - ti) * 0.5;
    positions.push(found);
    prev = found;
    ti = found + 1;
  }
  return { score: score - positions[0]! * 0.1 - t.length * 0.01, positions };
}

/** Items matching `query`, best first (stable for equal scores). */
export function fuzzyFilter<T>(items: T[], query: string, text: (t: T) => string): Array<{ item: T; hit: FuzzyHit }> {
  const out: Array<{ item: T; hit: FuzzyHit; i: number }> = [];
  items.forEach((item, i) => {
    const hit = fuzzyMatch(query, text(item));
    if (hit) out.push({ item, hit, i });
  });
  out.sort((a, b) => b.hit.score - a.hit.score || a.i - b.i);
  return out.map(({ item, hit }) => ({ item, hit }));
}
