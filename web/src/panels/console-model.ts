// Console panel logic: console lines merged by seq (REST pages and live `log` pushes, no
// duplicates, ascending, capped), client-side search and highlighting.

import type { LogLineOut, LogList } from "../api/client";

export type LogLine = LogLineOut;
export type LogPage = LogList;

export const CONSOLE_CAP = 5000;

/**
 * Merge lines into an ascending list without duplicates; keeps the newest `cap` lines.
 * Returns `list` itself when nothing changed.
 */
export function mergeLines(list: LogLine[], incoming: LogLine[], cap = CONSOLE_CAP): LogLine[] {
  if (!incoming.length) return list;
  const first = list[0];
  const last = list[list.length - 1];
  const sorted = [...incoming].sort((a, b) => a.seq - b.seq);
  let out: LogLine[];
  if (!last) {
    out = dedupeSorted(sorted);
  } else if (sorted[0]!.seq > last.seq) {
    out = list.concat(dedupeSorted(sorted)); // appended live lines: the common case
  } else if (sorted[sorted.length - 1]!.seq < first!.seq) {
    out = dedupeSorted(sorted).concat(list); // an older page
  } else {
    const bySeq = new Map<number, LogLine>();
    for (const l of list) bySeq.set(l.seq, l);
    let added = false;
    for (const l of sorted) {
      if (!bySeq.has(l.seq)) {
        bySeq.set(l.seq, l);
        added = true;
      }
    }
    if (!added) return list;
    out = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
  return out.length > cap ? out.slice(out.length - cap) : out;
}

function dedupeSorted(lines: LogLine[]): LogLine[] {
  return lines.filter((l, i) => i === 0 || l.seq !== lines[i - 1]!.seq);
}

/** Lines whose text holds `q` (case-insensitive); all when `q` is empty. */
export function filterLines(lines: LogLine[], q: string): LogLine[] {
  const needle = q.toLowerCase();
  if (!needle) return lines;
  return lines.filter((l) => l.text.toLowerCase().includes(needle));
}

export interface Segment {
  text: string;
  hit: boolean;
}

/** Split `text` around the (case-insensitive) matches of `q`, for highlighting. */
export function highlight(text: string, q: string): Segment[] {
  if (!q) return [{ text, hit: false }];
  const hay = text.toLowerCase();
  const needle = q.toLowerCase();
  const out: Segment[] = [];
  let at = 0;
  for (;;) {
    const i = hay.indexOf(needle, at);
    if (i < 0) break;
    if (i > at) out.push({ text: text.slice(at, i), hit: false });
    out.push({ text: text.slice(i, i + needle.length), hit: true });
    at = i + needle.length;
  }
  if (at < text.length || !out.length) out.push({ text: text.slice(at), hit: false });
  return out;
}

/** Which rows a fixed-height virtual list draws: [start, end) with some overscan. */
export function visibleRange(scrollTop: number, height: number, rowHeight: number, count: number, overscan = 20): [number, number] {
  const start = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return [start, Math.max(start, end)];
}

/** Whether a scroller is (close enough to) its bottom to keep following. */
export function atBottom(scrollTop: number, clientHeight: number, scrollHeight: number, slack = 8): boolean {
  return scrollHeight - scrollTop - clientHeight <= slack;
}
