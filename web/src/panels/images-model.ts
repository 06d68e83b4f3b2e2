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

/** The keys shown side by side: the chosen ones the run has, else its first `max`. */
export function shownKeys(keys: string[], chosen: string[] | null, max = 4): string[] {
  const kept = chosen ? chosen.filter((k) => keys.includes(k)) : [];
  return kept.length ? keys.filter((k) => kept.includes(k)) : keys.slice(0, max);
}

/** Show or hide one key (the last one shown stays). */
export function toggleShown(shown: string[], key: string): string[] {
  if (!shown.includes(key)) return [...shown, key];
  return shown.length > 1 ? shown.filter((k) => k !== key) : shown;
}

/**
 * How large to draw an image of `w`×`h` in a `boxW`×`boxH` box: as large as fits, keeping
 * its aspect; scaled up 2× or more, by a whole factor (every source pixel becomes the
 * same square of screen pixels: an even upscale). `pixelated`: scaled up (drawn
 * nearest-neighbour, crisp); scaled down, it is smoothed as usual.
 */
export function fitImage(w: number, h: number, boxW: number, boxH: number): { width: number; height: number; pixelated: boolean } {
  if (!(w > 0) || !(h > 0) || !(boxW > 0) || !(boxH > 0)) return { width: w, height: h, pixelated: false };
  const k = Math.min(boxW / w, boxH / h);
  if (k >= 2) {
    const n = Math.floor(k);
    return { width: w * n, height: h * n, pixelated: true };
  }
  if (k > 1) return { width: Math.floor(w * k), height: Math.floor(h * k), pixelated: true };
  return { width: Math.max(1, Math.floor(w * k)), height: Math.max(1, Math.floor(h * k)), pixelated: false };
}
