import { describe, expect, it } from "vitest";
import { SharedReads } from "./shared";

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("SharedReads", () => {
  it("sends identical reads in flight once, and again once answered", async () => {
    const shared = new SharedReads<string>();
    let sent = 0;
    const d = deferred<string>();
    const read = () => (sent++, d.promise);
    const a = shared.get("q", read, new AbortController().signal);
    const b = shared.get("q", read);
    expect(sent).toBe(1);
    d.resolve("answer");
    expect(await a).toBe("answer");
    expect(await b).toBe("answer");
    await shared.get("q", async () => (sent++, "new"));
    expect(sent).toBe(2);
  });

  it("aborts the request only when every caller aborted", async () => {
    const shared = new SharedReads<string>();
    let signal: AbortSignal | null = null;
    const d = deferred<string>();
    const read = (s: AbortSignal) => ((signal = s), d.promise);
    const one = new AbortController();
    const two = new AbortController();
    const a = shared.get("q", read, one.signal);
    const b = shared.get("q", read, two.signal);
    one.abort();
    await expect(a).rejects.toThrow();
    expect(signal!.aborted).toBe(false);
    two.abort();
    await expect(b).rejects.toThrow();
    expect(signal!.aborted).toBe(true);
    expect(shared.size).toBe(0);
  });
});
