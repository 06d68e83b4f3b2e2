import { describe, expect, it } from "vitest";
import { LastValues, type LastValue, type ReadLast } from "./last-values";

const wait = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** A fake server: per key and run the last point; records each read. */
function server(data: Record<string, Record<string, LastValue>>) {
  const reads: Array<{ key: string; ids: string[] }> = [];
  let down = false;
  const read: ReadLast = async (key, ids) => {
    reads.push({ key, ids: [...ids] });
    if (down) throw new Error("away");
    return new Map(ids.map((id) => [id, data[key]?.[id] ?? null]));
  };
  return { read, reads, data, setDown: (d: boolean) => (down = d) };
}

describe("LastValues (the run list's metric column)", () => {
  it("reads the rows on screen together, the last logged value of the key, not the summary", async () => {
    const srv = server({ loss: { a: { step: 99, value: 0.25 }, b: { step: 5, value: 1.5 } } });
    const lv = new LastValues(srv.read, { batchMs: 1, refreshMs: 60_000 });
    let changes = 0;
    lv.subscribe(() => (changes += 1));
    lv.watch("a", false);
    lv.watch("b", false);
    lv.watch("c", false);
    expect(lv.get("a")).toBeUndefined(); // not read yet
    await wait(10);
    expect(srv.reads).toEqual([{ key: "loss", ids: ["a", "b", "c"] }]); // one read for all
    expect(lv.get("a")).toEqual({ step: 99, value: 0.25 });
    expect(lv.get("c")).toBeNull(); // no such key
    expect(changes).toBeGreaterThan(0);
    lv.destroy();
  });

  it("reads in chunks the server accepts", async () => {
    const srv = server({});
    const lv = new LastValues(srv.read, { batchMs: 1, refreshMs: 60_000 });
    for (let i = 0; i < 250; i++) lv.watch(`r${i}`, false);
    await wait(10);
    expect(srv.reads.map((r) => r.ids.length)).toEqual([100, 100, 50]);
    lv.destroy();
  });

  it("reads running runs again, finished ones once; pushes land at once, older points never win", async () => {
    const srv = server({ loss: { live: { step: 10, value: 1 }, done: { step: 7, value: 2 } } });
    let t = 0;
    const lv = new LastValues(srv.read, { batchMs: 1, refreshMs: 5 }, () => t);
    lv.watch("live", true);
    lv.watch("done", false);
    await wait(10);
    expect(lv.get("live")).toEqual({ step: 10, value: 1 });
    lv.push("live", { loss: [[11, 0, 0.9], [12, 0, "NaN"]], acc: [[12, 0, 0.5]] });
    expect(lv.get("live")!.step).toBe(12);
    expect(Number.isNaN(lv.get("live")!.value)).toBe(true);
    lv.push("live", { loss: [[3, 0, 7]] });
    expect(lv.get("live")!.step).toBe(12);
    srv.data.loss!.live = { step: 20, value: 0.5 };
    t = 100;
    await wait(30);
    expect(lv.get("live")).toEqual({ step: 20, value: 0.5 });
    const doneReads = srv.reads.filter((r) => r.ids.includes("done")).length;
    expect(doneReads).toBe(1);
    lv.destroy();
  });

  it("a new key drops the values held and reads the rows on screen again", async () => {
    const srv = server({ loss: { a: { step: 1, value: 1 } }, acc: { a: { step: 3, value: 0.75 } } });
    const lv = new LastValues(srv.read, { batchMs: 1, refreshMs: 60_000 });
    lv.watch("a", false);
    await wait(10);
    lv.setKey("acc");
    expect(lv.key).toBe("acc");
    expect(lv.get("a")).toBeUndefined();
    await wait(10);
    expect(lv.get("a")).toEqual({ step: 3, value: 0.75 });
    expect(srv.reads.at(-1)).toEqual({ key: "acc", ids: ["a"] });
    lv.destroy();
  });

  it("keeps what it shows while the server is away, and reads again later", async () => {
    const srv = server({ loss: { a: { step: 1, value: 1 } } });
    let t = 0;
    const lv = new LastValues(srv.read, { batchMs: 1, refreshMs: 5 }, () => t);
    lv.watch("a", true);
    await wait(10);
    srv.setDown(true);
    t = 100;
    await wait(20);
    expect(lv.get("a")).toEqual({ step: 1, value: 1 });
    const failedReads = srv.reads.length;
    expect(failedReads).toBeLessThan(10); // backs off: not a read per millisecond
    srv.setDown(false);
    srv.data.loss!.a = { step: 2, value: 0.5 };
    t = 200;
    await wait(30);
    expect(lv.get("a")).toEqual({ step: 2, value: 0.5 });
    lv.destroy();
  });
});
