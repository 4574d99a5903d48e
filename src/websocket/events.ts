/**
 * The events a {@link WebSocket} dispatches besides `open` and `message`
 * (`MessageEvent` is Node's own): `close` with its code, reason and whether
 * the close handshake finished, and `error` with the typed error. Node 23+
 * has a global `CloseEvent`; these work the same on every supported Node.
 */
import type { BurrowError } from '../errors/errors.js';

/** Initial values of an `Event`. */
type EventInit = NonNullable<ConstructorParameters<typeof Event>[1]>;

/** Initial values of a {@link CloseEvent}. */
export interface CloseEventInit extends EventInit {
  code?: number;
  reason?: string;
  wasClean?: boolean;
}

/** The `close` event: the WebSocket is closed. */
export class CloseEvent extends Event {
  /** The close code the server sent (1005 for a close frame without one; 1006 when no close frame was exchanged). */
  readonly code: number;
  readonly reason: string;
  /** True when the close handshake finished. */
  readonly wasClean: boolean;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

/** The `error` event: the WebSocket failed; `error` says where and why. A `close` event follows. */
export class WebSocketErrorEvent extends Event {
  readonly error: BurrowError;
  readonly message: string;

  constructor(type: string, error: BurrowError) {
    super(type);
    this.error = error;
    this.message = error.message;
  }
}
