import { afterEach, describe, expect, it, vi } from "vitest";
import { EARLY_KEYS_MS, prefetchKeys, restKeysMany } from "./keys";

/** The server's key lists, answered by a stubbed fetch that counts its requests. */
function server(keys: Record<string, string[]>) {
  const urls: string[] = [];
  vi.stubGlobal("fetch", async (url: string) => {
    urls.push(url);
    const ids = new URL(url, "http://x").searchParams.get("run_ids")!.split(",");
    const names = [...new Set(ids.flatMap((r) => keys[r] ?? []))].sort();
    const body = { keys: names, runs: ids.map((r) => ({ run_id: r, keys: (keys[r] ?? []).map((k) => names.indexOf(k)) })) };
    return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  });
  return urls;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("metrics grid: the keys asked for at the page's start", () => {
  it("the grid's first read of the same runs, in any order, takes that request", async () => {
    const urls = server({ a: ["loss"], b: ["acc", "loss"] });
    prefetchKeys(["a", "b"]);
    expect(urls).toHaveLength(1);
    const got = await restKeysMany(["b", "a"]);
    expect(urls).toHaveLength(1); // no second request
    expect(got.get("a")).toEqual(["loss"]);
    expect(got.get("b")).toEqual(["acc", "loss"]);
    await restKeysMany(["a", "b"]); // taken once: a later read asks again
    expect(urls).toHaveLength(2);
  });

  it("a read of other runs does not take it, and it is stale after", async () => {
    const urls = server({ a: ["loss"], b: ["acc"], c: ["lr"] });
    prefetchKeys(["a", "b"]);
    const got = await restKeysMany(["a", "c"]);
    expect(got.get("c")).toEqual(["lr"]);
    expect(urls).toHaveLength(2);
    await restKeysMany(["a", "b"]); // the grid changed runs meanwhile: read afresh
    expect(urls).toHaveLength(3);
  });
});

describe("metrics grid: keys asked for at the start and not taken soon", () => {
  it("are read afresh by a grid opened later (keys logged meanwhile count)", async () => {
    const urls = server({ a: ["loss"], b: ["acc"] });
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      prefetchKeys(["a", "b"]);
      vi.advanceTimersByTime(EARLY_KEYS_MS + 1);
      await restKeysMany(["a", "b"]);
      expect(urls).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
