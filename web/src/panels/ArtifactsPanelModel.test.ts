import { describe, expect, it } from "vitest";
import { artifactUrl, downloadName, toggle, treeRows, type ArtifactFile } from "./ArtifactsPanelModel";

const f = (path: string, size = 0, dir = false): ArtifactFile => ({ path, size, mtime: 1, dir });

const files = [
  f("checkpoints", 0, true),
  f("artifacts/model.bin", 100),
  f("artifacts", 0, true),
  f("artifacts/bundle", 0, true),
  f("artifacts/bundle/sub", 0, true),
  f("artifacts/bundle/sub/notes.txt", 4),
  f("artifacts-x.txt", 7),
  f("checkpoints/c.pt", 10),
];

describe("artifacts tree", () => {
  it("orders folders before their contents, with depth and folder totals", () => {
    const rows = treeRows(files, new Set());
    expect(rows.map((r) => r.path)).toEqual([
      "artifacts",
      "artifacts/bundle",
      "artifacts/bundle/sub",
      "artifacts/bundle/sub/notes.txt",
      "artifacts/model.bin",
      "artifacts-x.txt",
      "checkpoints",
      "checkpoints/c.pt",
    ]);
    expect(rows.map((r) => r.depth)).toEqual([0, 1, 2, 3, 1, 0, 0, 1]);
    expect(rows[0]!.total).toBe(104);
    expect(rows[1]!.total).toBe(4);
    expect(rows[3]!.name).toBe("notes.txt");
  });

  it("hides what a collapsed folder holds, and toggles", () => {
    let collapsed = toggle(new Set(), "artifacts/bundle");
    expect(treeRows(files, collapsed).map((r) => r.path)).not.toContain("artifacts/bundle/sub");
    expect(treeRows(files, collapsed).map((r) => r.path)).toContain("artifacts/bundle");
    collapsed = toggle(collapsed, "artifacts/bundle");
    expect(collapsed.size).toBe(0);
  });

  it("builds download URLs part by part, and tar names for folders", () => {
    expect(artifactUrl("r 1", "artifacts/a b/#x?.txt")).toBe("/api/runs/r%201/artifacts/artifacts/a%20b/%23x%3F.txt");
    expect(downloadName(f("artifacts/bundle", 0, true))).toBe("bundle.tar");
    expect(downloadName(f("artifacts/model.bin", 3))).toBe("model.bin");
  });
});
