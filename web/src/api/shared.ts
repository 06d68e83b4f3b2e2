// Identical reads in flight at once share one request: two charts of the same key and runs
// (chart B falls back to chart A's key when the runs have only one), or several feeds
// asking for the same run's key list, cost the server one read, not one each. The shared
// request is aborted only when every caller sharing it has aborted.

interface Flight<T> {
  promise: Promise<T>;
  abort: AbortController;
  users: number;
}

export class SharedReads<T> {
  private flights = new Map<string, Flight<T>>();

  /** `read(signal)` once for all callers of `id` while it is in flight. */
  get(id: string, read: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError());
    let f = this.flights.get(id);
    if (!f) {
      const abort = new AbortController();
      const flight: Flight<T> = { promise: read(abort.signal), abort, users: 0 };
      const done = () => {
        if (this.flights.get(id) === flight) this.flights.delete(id);
      };
      flight.promise.then(done, done);
      this.flights.set(id, flight);
      f = flight;
    }
    const flight = f;
    flight.users += 1;
    if (!signal) return flight.promise;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        flight.users -= 1;
        if (flight.users === 0) {
          if (this.flights.get(id) === flight) this.flights.delete(id);
          flight.abort.abort();
        }
        reject(abortError());
      };
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }

  /** Reads in flight (for tests). */
  get size(): number {
    return this.flights.size;
  }
}

function abortError(): Error {
  return typeof DOMException !== "undefined" ? new DOMException("aborted", "AbortError") : new Error("aborted");
}
