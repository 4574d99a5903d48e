/**
 * Where one connection is in its life: the record the lifecycle writes and
 * the other parts of the connection read.
 */
import type { BurrowError, HopInfo } from '../errors/errors.js';
import type { ConnectionState } from '../shared/info.js';

/** The state of one connection. Written only by the lifecycle (`lifecycle.ts`). */
export class ConnectionStatus {
  state: ConnectionState = 'connecting';
  /** The first hop, as named in errors about the connection itself. */
  readonly hop: HopInfo;
  /** `close()` or `shutdown()` was called: no reconnection, no new request. */
  userClosing = false;
  /** The last failure, for errors on later calls. */
  lastError: BurrowError | undefined;
  /** The current connection answered a response: losing it resets the retry budget. */
  useful = false;
  /** Aborted when the current connection (and every tunnel on it) goes away; set while up. */
  session: AbortController | undefined;

  constructor(hop: HopInfo) {
    this.hop = hop;
  }

  /** True while requests can be handed to layers (up, or shutting down gracefully). */
  get running(): boolean {
    return this.state === 'up' || this.state === 'closing';
  }
}
