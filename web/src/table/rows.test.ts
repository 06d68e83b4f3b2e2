import { describe, expect, it } from "vitest";
import type { PageQuery, RunsPage, TableRun } from "./api";
import { PagedRows } from "./rows";

/** A server of `n` runs r0…r(n-1), sorted by the request's sort (`-id` reverses). */
function server(n: number) {
  const calls: PageQuery[] = [];
  const gates: Array<() => void> = [];
  let hold = false;
  const load = async (p: PageQuery): Promise<RunsPage> => {
    calls.push(p);
    if (hold) await new Promise<void>((r) => gates.push(r));
    const ids = Array.from({ length: n }, (_, i) => `r${i}`).filter((id) => !p.q || id.endsWith(p.q));
    if (p.sort === "-id") ids.reverse();
    const runs = ids.slice(p.offset, p.offset + p.limit).map((id) => ({ id, values: { x: Number(id.slice(1)) } }) as unknown as TableRun);
    return { runs, total: ids.length };
  };
  return { load, calls, gates, setHold: (v: boolean) => (hold = v) };
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe("PagedRows", () => {
  it("reads the first page, then only the pages near the rows in view", async () => {
    const s = server(10_000);
    const rows = new PagedRows(s.load, 100);
    rows.ensure(0, 40);
    rows.setRequest({ q: "", sort: "id", columns: "x" });
    await settle();
    await settle();
    expect(rows.count()).toBe(10_000);
    expect(rows.get(0)!.id).toBe("r0");
    expect(s.calls.map((c) => c.offset)).toEqual([0, 100]);
    rows.ensure(5000, 5040);
    expect(rows.get(5000)).toBeUndefined(); // being read
    await settle();
    expect(rows.get(5039)!.id).toBe("r5039");
    expect(s.calls.length).toBeLessThan(7); // never the whole list
  });

  it("keeps the old rows until the new order's first page lands", async () => {
    const s = server(500);
    const rows = new PagedRows(s.load, 100);
    rows.ensure(0, 20);
    rows.setRequest({ q: "", sort: "id", columns: "x" });
    await settle();
    s.setHold(true);
    rows.setRequest({ q: "", sort: "-id", columns: "x" });
    expect(rows.get(0)!.id).toBe("r0"); // still the old order, not an empty table
    expect(rows.shown!.sort).toBe("id");
    s.gates.shift()!();
    await settle();
    expect(rows.get(0)!.id).toBe("r499");
    expect(rows.shown!.sort).toBe("-id");
    s.setHold(false);
    s.gates.forEach((g) => g());
  });

  it("a reply to an older request is dropped", async () => {
    const s = server(300);
    const rows = new PagedRows(s.load, 100);
    rows.ensure(0, 20);
    s.setHold(true);
    rows.setRequest({ q: "", sort: "id", columns: "x" });
    rows.setRequest({ q: "7", sort: "id", columns: "x" });
    const [old, fresh] = [s.gates[0]!, s.gates[1]!];
    fresh();
    await settle();
    old();
    await settle();
    expect(rows.count()).toBe(30); // the runs ending in 7
    expect(rows.get(0)!.id).toBe("r7");
  });

  it("refresh reads the pages in view again in place", async () => {
    const s = server(1000);
    const rows = new PagedRows(s.load, 100);
    rows.ensure(250, 270);
    rows.setRequest({ q: "", sort: "id", columns: "x" });
    await settle();
    await settle();
    const before = s.calls.length;
    rows.refresh();
    await settle();
    expect(s.calls.slice(0, before).map((c) => c.offset)).toEqual([200, 100, 300]); // the rows in view first
    expect(s.calls.slice(before).map((c) => c.offset)).toEqual([200]);
    expect(rows.get(260)!.id).toBe("r260");
  });

  it("a refused query keeps the rows shown and is not sent again", async () => {
    const s = server(50);
    let refuse = false;
    let calls = 0;
    const rows = new PagedRows(async (p) => {
      calls += 1;
      if (refuse) throw new Error("val/acc> at 8: expected a value");
      return s.load(p);
    }, 100);
    rows.ensure(0, 20);
    rows.setRequest({ q: "", sort: "id", columns: "x" });
    await settle();
    refuse = true;
    rows.setRequest({ q: "val/acc>", sort: "id", columns: "x" });
    await settle();
    expect(rows.error).toMatch(/at 8/);
    expect(rows.get(0)!.id).toBe("r0");
    expect(rows.count()).toBe(50);
    const before = calls;
    rows.ensure(0, 30);
    rows.refresh();
    await settle();
    expect(calls).toBe(before);
  });

  it("an error is kept to show, and the request can be sent again", async () => {
    let fail = true;
    const rows = new PagedRows(async () => {
      if (fail) throw new Error("at 3: expected a value");
      return { runs: [], total: 0 };
    }, 100);
    rows.setRequest({ q: "lr<", sort: "", columns: "" });
    await settle();
    expect(rows.error).toBe("at 3: expected a value");
    fail = false;
    rows.setRequest({ q: "lr<1", sort: "", columns: "" });
    await settle();
    expect(rows.error).toBeNull();
    expect(rows.count()).toBe(0);
  });
});
