import { describe, expect, it } from "vitest";
import { imagesAt, isSmall, mergeKeys, mergeMedia, snapStep, stepsFor, type MediaItem, fitImage, shownKeys, toggleShown } from "./images-model";

const m = (id: number, key: string, step: number, created_at = id): MediaItem => ({
  id, key, step, caption: null, kind: "image", created_at, width: 28, height: 28, url: `/api/media/${id}/file`,
});

describe("images", () => {
  const media = [m(1, "samples", 100), m(2, "samples", 300), m(3, "other", 200), m(4, "samples", 100), m(5, "samples", 200)];
  it("lists the steps of a key", () => {
    expect(stepsFor(media, "samples")).toEqual([100, 200, 300]);
    expect(stepsFor(media, "none")).toEqual([]);
  });
  it("snaps to the nearest step", () => {
    const steps = [100, 200, 300];
    expect(snapStep(steps, 0)).toBe(100);
    expect(snapStep(steps, 149)).toBe(100);
    expect(snapStep(steps, 150)).toBe(100);
    expect(snapStep(steps, 151)).toBe(200);
    expect(snapStep(steps, 1000)).toBe(300);
    expect(snapStep([], 5)).toBeNull();
  });
  it("finds the images at a step", () => {
    expect(imagesAt(media, "samples", 100).map((x) => x.id)).toEqual([1, 4]);
    expect(imagesAt(media, "samples", null)).toEqual([]);
  });
  it("merges without duplicates", () => {
    const list = mergeMedia(media, [m(5, "samples", 200), m(6, "samples", 400)]);
    expect(list.map((x) => x.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(mergeMedia(list, [m(6, "samples", 400)])).toBe(list);
    expect(mergeKeys(["b"], ["a", "b"])).toEqual(["a", "b"]);
    expect(isSmall({ width: 28, height: 28 })).toBe(true);
    expect(isSmall({ width: 512, height: 28 })).toBe(false);
  });
});

describe("images side by side, scaled to the panel", () => {
  it("shows the chosen keys the run has, else the first four", () => {
    const keys = ["a", "b", "c", "d", "e"];
    expect(shownKeys(keys, null)).toEqual(["a", "b", "c", "d"]);
    expect(shownKeys(keys, ["e", "b", "gone"])).toEqual(["b", "e"]);
    expect(shownKeys(keys, ["gone"])).toEqual(["a", "b", "c", "d"]);
    expect(toggleShown(["a"], "c")).toEqual(["a", "c"]);
    expect(toggleShown(["a", "c"], "a")).toEqual(["c"]);
    expect(toggleShown(["a"], "a")).toEqual(["a"]); // one stays
  });

  it("scales a small image up by a whole factor (crisp) and a large one down to fit", () => {
    expect(fitImage(28, 28, 300, 200)).toEqual({ width: 196, height: 196, pixelated: true });
    expect(fitImage(96, 96, 150, 400)).toEqual({ width: 150, height: 150, pixelated: true });
    expect(fitImage(96, 96, 96, 400)).toEqual({ width: 96, height: 96, pixelated: false });
    expect(fitImage(1000, 500, 300, 300)).toEqual({ width: 300, height: 150, pixelated: false });
    expect(fitImage(0, 0, 300, 300).pixelated).toBe(false);
  });
});
