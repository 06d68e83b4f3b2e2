// Images panel logic: the steps a key has images at, snapping a slider value to them, and
// the images at one step.

import type { MediaList, MediaOut } from "../api/client";

export type MediaItem = MediaOut;
export type MediaListOut = MediaList;

/** The distinct steps that have images for `key`, ascending. */
export function stepsFor(media: MediaItem[], key: string): number[] {
  const s = new Set<number>();
  for (const m of media) if (m.key === key) s.add(m.step);
  return [...s].sort((a, b) => a - b);
}

/** The step in `steps` (ascending) nearest to `v` (ties: the lower); null when none. */
export function snapStep(steps: number[], v: number): number | null {
  if (!steps.length) return null;
  let lo = 0;
  let hi = steps.length - 1;
  if (v <= steps[0]!) return steps[0]!;
  if (v >= steps[hi]!) return steps[hi]!;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (steps[mid]! <= v) lo = mid;
    else hi = mid;
  }
  const a = steps[lo]!;
  const b = steps[hi]!;
  return v - a <= b - v ? a : b;
}

/** The images of `key` at `step`, in upload order. */
export function imagesAt(media: MediaItem[], key: string, step: number | null): MediaItem[] {
  if (step === null) return [];
  return media
    .filter((m) => m.key === key && m.step === step)
    .sort((a, b) => a.created_at - b.created_at || a.id - b.id);
}

/** Add items (by id, no duplicates); returns `list` itself when nothing is new. */
export function mergeMedia(list: MediaItem[], incoming: MediaItem[]): MediaItem[] {
  const ids = new Set(list.map((m) => String(m.id)));
  const fresh = incoming.filter((m) => {
    const k = String(m.id);
    if (ids.has(k)) return false;
    ids.add(k);
    return true;
  });
  return fresh.length ? list.concat(fresh) : list;
}

/** Keys, sorted, with any new ones added. */
export function mergeKeys(keys: string[], more: string[]): string[] {
  const s = new Set(keys);
  let changed = false;
  for (const k of more) if (!s.has(k)) (s.add(k), (changed = true));
  return changed ? [...s].sort() : keys;
}

/** Small images are drawn pixelated (nearest neighbour) when scaled up. */
export function isSmall(m: Pick<MediaItem, "width" | "height">, limit = 128): boolean {
  return m.width !== null && m.height !== null && m.width <= limit && m.height <= limit;
}
