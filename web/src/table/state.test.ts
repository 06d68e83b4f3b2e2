import { describe, expect, it } from "vitest";
import { columnSpec, moveColumn, parseColumn, toggleColumn, validColumns } from "./columns";
import { createTableStore, defaultTableState, loadTableState, TABLE_STORAGE_KEY, tableRequest } from "./state";

function memoryStorage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m };
}

describe("columns", () => {
  it("reads metric, config and built-in ids", () => {
    expect(parseColumn("metric:val/acc:max")).toEqual({ type: "metric", key: "val/acc", agg: "max" });
    expect(parseColumn("metric:a:b")).toEqual({ type: "metric", key: "a:b", agg: "last" });
    expect(parseColumn("config:optim.lr")).toEqual({ type: "config", key: "optim.lr" });
    expect(parseColumn("status")).toEqual({ type: "builtin", id: "status" });
    expect(parseColumn("bogus")).toBeNull();
    expect(parseColumn("config:")).toBeNull();
    expect(columnSpec("tags")!.sortable).toBe(false);
    expect(columnSpec("metric:loss:min")!.label).toBe("loss min");
  });

  it("toggles and moves columns", () => {
    expect(toggleColumn(["a", "b"], "c")).toEqual(["a", "b", "c"]);
    expect(toggleColumn(["a", "b"], "a")).toEqual(["b"]);
    expect(moveColumn(["a", "b", "c"], "c", -1)).toEqual(["a", "c", "b"]);
    expect(moveColumn(["a", "b", "c"], "a", -1)).toEqual(["a", "b", "c"]);
    expect(validColumns(["status", "status", 3, "nope", "config:lr"])).toEqual(["status", "config:lr"]);
  });
});

describe("table state", () => {
  it("remembers columns, sort and grouping, not the filter", () => {
    const storage = memoryStorage();
    const a = createTableStore(storage);
    a.set({ columns: ["name", "metric:val/acc:last"], sort: [{ col: "metric:val/acc:last", desc: true }], groupBy: "config:opt", query: "lr<1" });
    const b = createTableStore(storage); // a reload
    expect(b.get().columns).toEqual(["name", "metric:val/acc:last"]);
    expect(b.get().sort).toEqual([{ col: "metric:val/acc:last", desc: true }]);
    expect(b.get().groupBy).toBe("config:opt");
    expect(b.get().query).toBe("");
  });

  it("a corrupt or foreign stored value gives the defaults, keeping what is valid", () => {
    const storage = memoryStorage();
    storage.setItem(TABLE_STORAGE_KEY, "{not json");
    expect(loadTableState(storage)).toEqual(defaultTableState());
    storage.setItem(TABLE_STORAGE_KEY, JSON.stringify({ columns: ["name", 7, "x"], sort: [{ col: "tags" }, { col: "step", desc: true }], groupBy: "nope" }));
    const s = loadTableState(storage);
    expect(s.columns).toEqual(["name"]);
    expect(s.sort).toEqual([{ col: "step", desc: true }]);
    expect(s.groupBy).toBeNull();
  });

  it("asks the server for the shown columns and any sorted one", () => {
    const r = tableRequest({
      columns: ["name", "config:lr"],
      sort: [{ col: "metric:loss:min", desc: false }],
      query: "status:running",
      filters: { "config:lr": "<0.01" },
    });
    expect(r).toEqual({ q: "status:running config:lr<0.01", sort: "metric:loss:min", columns: "name,config:lr,metric:loss:min", errors: [] });
  });
});
