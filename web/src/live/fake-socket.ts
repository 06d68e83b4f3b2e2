// A WebSocket that a test drives as the server would (test support; not bundled: only
// *.test.ts files import it).
import type { SocketLike } from "./socket";

export class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  /** The client closes it. */
  close(): void {
    this.closed = true;
    this.readyState = 3;
    this.onclose?.({ code: 1000 });
  }
  /** The server accepts the connection. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  /** The server sends a message. */
  push(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  /** The connection drops. */
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }
}
