/**
 * The CONNECTs of a connection that are not (yet) tunnels: those sent and not
 * answered (with their answer timers and the requests waiting to go through
 * them), and a bounded memory of refs that were refused or closed, so that a
 * request sent into one gets a precise error.
 */
import type { BurrowError } from '../errors/errors.js';
import type { LayerRecord } from '../observe/layer-record.js';
import type { ResolvedDestination } from '../shared/options/hop.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { HeaderList } from '../shared/headers.js';
import type { ResolvedWsOptions } from '../shared/options/ws.js';

/** A call waiting for the connection, or for a tunnel, to come up. */
export interface Waiting {
  /** The stream it concerns (undefined for calls that concern none). */
  readonly ref: StreamRef | undefined;
  /** Runs the call (it is dispatched again). */
  readonly run: () => void;
  /** The call will never run. */
  readonly fail: (e: BurrowError) => void;
  /** The call's stream was cancelled: it will never run, and its stream gets no error from it (the cancel's is its last). */
  readonly drop?: (() => void) | undefined;
}

/**
 * A tunnel being set up after its 2xx (TLS, SOCKS5, the protocol layer inside):
 * its records so far, outermost first, and how to stop it.
 */
export interface TunnelSetup {
  /** The CONNECT layer's record, then each layer's as it starts. */
  readonly records: LayerRecord[];
  /** Over HTTP/1.1 the tunnel took the whole connection (`conn`); over HTTP/2 one stream. */
  readonly scope: 'conn' | 'stream';
  /** Why it was abandoned, once it was. */
  abandoned: BurrowError | undefined;
  /**
   * Abandons the setup (idempotent): its records end at once (the layer still
   * starting fails with `error`, those up go down, innermost first) and what it
   * holds is destroyed. What becomes of the layer that carried it is the caller's.
   */
  abandon(error: BurrowError): void;
  /**
   * After a cancel abandoned it: a conn-wide tunnel took its carrier's socket,
   * so the connection (or the stream-wide tunnel carrying it) is gone too.
   */
  dropCarrier(error: BurrowError): void;
}

interface PendingBase {
  readonly ref: StreamRef;
  /** Flow budget of what the stream becomes (a raw protocol reached through a tunnel; a WebSocket's messages). */
  readonly flow: number;
  /** The request was handed to a layer (before that, it waits like any request). */
  sent: boolean;
  /** The record of the layer it opens (the CONNECT tunnel, the WebSocket), once handed to a layer. */
  record: LayerRecord | undefined;
  /** Once its 2xx came: the setup of the layers inside a CONNECT tunnel (a WebSocket has none). */
  setup: TunnelSetup | undefined;
  /** The answer timer (`connectTimeout`, `handshakeTimeout`). */
  timer: NodeJS.Timeout | undefined;
  /** Calls made for what it opens before it was up: requests with `{ tunnel: ref }`, WebSocket frames. */
  readonly waiting: Waiting[];
}

/** A CONNECT sent and not yet answered (or whose tunnel is being set up). */
export interface PendingConnect extends PendingBase {
  readonly kind: 'connect';
  readonly dest: ResolvedDestination;
}

/** A WebSocket handshake sent and not yet answered (or whose layer is being set up). */
export interface PendingWebSocket extends PendingBase {
  readonly kind: 'websocket';
  readonly path: string;
  readonly options: ResolvedWsOptions;
  /** The `sec-websocket-key` sent (HTTP/1.1), once sent. */
  key: string | undefined;
  /** The answer (101 over HTTP/1.1, 2xx over HTTP/2), held until the layer is up. */
  answer: { readonly status: number; readonly headers: HeaderList } | undefined;
}

/** A stream that becomes a layer once answered: a CONNECT or a WebSocket handshake. */
export type PendingTunnel = PendingConnect | PendingWebSocket;

/** How many refused and closed tunnel refs are remembered (each). */
export const TUNNEL_MEMORY = 1024;

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > TUNNEL_MEMORY) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}

/** Pending CONNECTs by ref key, and what became of those that are no tunnel. */
export class TunnelBook {
  readonly #pending = new Map<string, PendingTunnel>();
  /**
   * Told of a pending CONNECT dropped with an error: its records end (its
   * CONNECT layer fails, or the setup inside is abandoned). Called again for
   * the same tunnel, it does nothing more.
   */
  readonly #onDropped: (p: PendingTunnel, error: BurrowError) => void;

  constructor(onDropped: (p: PendingTunnel, error: BurrowError) => void = () => undefined) {
    this.#onDropped = onDropped;
  }

  /** Refs whose CONNECT was refused (not a 2xx). */
  readonly #refused = new Map<string, true>();
  /** Tunnels that were up and closed, with the error a request sent in them gets. */
  readonly #closed = new Map<string, BurrowError>();

  add(p: PendingTunnel): void {
    this.#pending.set(p.ref.key, p);
  }

  get(key: string): PendingTunnel | undefined {
    return this.#pending.get(key);
  }

  has(key: string): boolean {
    return this.#pending.has(key);
  }

  /** Every pending CONNECT. */
  values(): IterableIterator<PendingTunnel> {
    return this.#pending.values();
  }

  /** Stops the answer timer of a pending CONNECT (its answer arrived). */
  answered(p: PendingTunnel): void {
    stopTimer(p);
  }

  /**
   * Forgets a pending CONNECT and stops its answer timer. Its waiting requests
   * are the caller's. With `error`, the CONNECT failed (its layer fails with it).
   */
  take(key: string, error?: BurrowError): PendingTunnel | undefined {
    const p = this.#pending.get(key);
    if (p === undefined) return undefined;
    this.#pending.delete(key);
    stopTimer(p);
    if (error !== undefined) this.#onDropped(p, error);
    return p;
  }

  /** The CONNECT on `key` was answered with something other than a 2xx: the ref is no tunnel. */
  refused(key: string): void {
    remember(this.#refused, key, true);
  }

  isRefused(key: string): boolean {
    return this.#refused.has(key);
  }

  /** The tunnel on `key` was up and closed: requests sent in it get `error`. */
  closed(key: string, error: BurrowError): void {
    remember(this.#closed, key, error);
  }

  closedError(key: string): BurrowError | undefined {
    return this.#closed.get(key);
  }

  /**
   * Removes every pending CONNECT whose key starts with `prefix` (every one for
   * `''`), failing what waits on it. With `sentOnly`, those not yet handed to a
   * layer stay: they wait for the next connection like any postponed request.
   */
  failUnder(prefix: string, error: BurrowError, sentOnly = false): void {
    for (const [key, p] of [...this.#pending]) {
      if (key.startsWith(prefix) && (p.sent || !sentOnly)) {
        this.#pending.delete(key);
        stopTimer(p);
        this.#onDropped(p, error);
        for (const w of p.waiting.splice(0)) w.fail(error);
      }
    }
  }

  /**
   * Ends the records of every pending CONNECT whose key starts with `prefix`
   * (their layers fail, their setups are abandoned) without forgetting them:
   * what carries them is going, and the layers inside end first.
   */
  endRecordsUnder(prefix: string, error: BurrowError): void {
    for (const [key, p] of this.#pending) if (key.startsWith(prefix)) this.#onDropped(p, error);
  }

  /** True when a request for `ref` waits for a tunnel. */
  isWaiting(ref: StreamRef): boolean {
    for (const p of this.#pending.values()) if (p.waiting.some((w) => w.ref?.equals(ref) === true)) return true;
    return false;
  }

  /** Drops every waiting call for `ref` (nothing of a cancelled stream may run later); true when there was one. */
  dropWaiting(ref: StreamRef): boolean {
    let dropped = false;
    for (const p of this.#pending.values()) if (dropFrom(p.waiting, ref)) dropped = true;
    return dropped;
  }
}

/** Removes the calls for `ref` from `list` (each told it is dropped); true when there was one. */
export function dropFrom(list: Waiting[], ref: StreamRef): boolean {
  let dropped = false;
  for (let i = list.length - 1; i >= 0; i--) {
    const w = list[i];
    if (w?.ref?.equals(ref) === true) {
      list.splice(i, 1);
      w.drop?.();
      dropped = true;
    }
  }
  return dropped;
}

function stopTimer(p: PendingTunnel): void {
  if (p.timer !== undefined) clearTimeout(p.timer);
  p.timer = undefined;
}
