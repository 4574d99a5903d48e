/**
 * One socket of the agent: burrow opens the route (every hop, with its TLS,
 * CONNECT and SOCKS5 layers) to the origin with a raw layer at its end, takes
 * that layer's duplex out of the connection (`Connection.detach`), and, for an
 * `https:` origin, runs the origin's TLS on it. Node's HTTP client then speaks
 * HTTP/1.1 on what this returns.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { BurrowError, type HopInfo } from '../../errors/errors.js';
import { openRoute, type RouteHop, type RouteOrigin } from '../../request/route.js';
import type { EventHandler } from '../../shared/events.js';
import type { LookupFunction } from '../../shared/options/open.js';

/** Where one socket leads and how it is opened. */
export interface TunnelPlan {
  readonly hops: readonly RouteHop[];
  readonly host: string;
  readonly port: number;
  /** The origin's TLS options (`https:`), or undefined (`http:`). */
  readonly tls: ConnectionOptions | undefined;
  readonly tlsHandshakeTimeout: number;
  readonly lookup: LookupFunction | undefined;
  readonly connectTimeout: number | undefined;
  readonly events: EventHandler | undefined;
  readonly signal: AbortSignal | undefined;
}

const NO_TLS = Object.freeze({});

/** Opens the chain of `plan` and resolves with the socket Node's HTTP client writes to. Rejects with a BurrowError naming the hop and the stage. */
export async function openTunnel(plan: TunnelPlan): Promise<Socket | Duplex> {
  const origin: RouteOrigin = { scheme: 'http', host: plan.host, port: plan.port, tls: NO_TLS, protocols: ['raw'], tlsHandshakeTimeout: undefined };
  const route = await openRoute(plan.hops, origin, { lookup: plan.lookup, connectTimeout: plan.connectTimeout, events: plan.events, signal: plan.signal });
  const { conn } = route;
  let duplex: Socket | Duplex;
  try {
    duplex = conn.detach(route.tunnel ?? conn.ref);
  } catch (e) {
    await conn.close();
    throw e;
  }
  // A tunnel on an HTTP/2 stream leaves the connection to the proxy running: it lives as long as the duplex.
  duplex.once('close', () => void conn.close());
  if (plan.tls === undefined) return asSocket(duplex);
  const hop: HopInfo = { index: plan.hops.length, kind: 'origin', host: plan.host, port: plan.port, transport: 'tls' };
  return originTls(duplex, plan.tls, hop, plan.tlsHandshakeTimeout, plan.signal);
}

/** The origin's TLS handshake on `duplex`; the duplex goes with the TLS socket (destroyed when it fails). */
function originTls(duplex: Socket | Duplex, options: ConnectionOptions, hop: HopInfo, timeout: number, signal: AbortSignal | undefined): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    let sock: TLSSocket;
    try {
      sock = tlsConnect({ ...options, socket: duplex });
    } catch (e) {
      duplex.destroy();
      reject(new BurrowError('ERR_TLS', `invalid TLS options for ${hop.host}: ${(e as Error).message}`, { stage: 'tls', hop, cause: e }));
      return;
    }
    const fail = (err: BurrowError): void => {
      done();
      sock.destroy();
      duplex.destroy();
      reject(err);
    };
    const onError = (e: Error): void => fail(new BurrowError('ERR_TLS', `TLS handshake with ${hop.host} failed: ${e.message}`, { stage: 'tls', hop, cause: e }));
    const onClose = (): void => fail(new BurrowError('ERR_TLS', `the tunnel to ${hop.host} closed during the TLS handshake`, { stage: 'tls', hop }));
    const onAbort = (): void => fail(new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state', hop, cause: signal?.reason }));
    const timer = setTimeout(() => fail(new BurrowError('ERR_TLS_HANDSHAKE_TIMEOUT', `TLS handshake with ${hop.host} took more than ${timeout} ms`, { stage: 'timeout', hop, details: { timeoutMs: timeout, during: 'tls' } })), timeout);
    const done = (): void => {
      clearTimeout(timer);
      sock.removeListener('error', onError);
      sock.removeListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    sock.once('error', onError);
    sock.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('secureConnect', () => {
      done();
      resolve(sock);
    });
  });
}

const noop = function (this: Duplex): Duplex {
  return this;
};

/**
 * Node's agent treats its sockets as `net.Socket`s (`setKeepAlive`, `ref`,
 * `unref` when one goes idle or back to work). A `net.Socket` or `TLSSocket`
 * is one; an HTTP/2 stream (a tunnel through an HTTP/2 proxy) gets those
 * methods as no-ops: the proxy connection under it is burrow's.
 */
function asSocket(duplex: Socket | Duplex): Socket | Duplex {
  resumeOnRead(duplex);
  if (duplex instanceof Socket) return duplex;
  const d = duplex as Duplex & Partial<Record<'setKeepAlive' | 'setNoDelay' | 'ref' | 'unref', typeof noop>>;
  for (const m of ['setKeepAlive', 'setNoDelay', 'ref', 'unref'] as const) if (typeof d[m] !== 'function') d[m] = noop;
  return d;
}

/**
 * The detached duplex comes paused (no byte is lost before its new owner
 * reads): it resumes once Node's HTTP client listens for its data.
 */
function resumeOnRead(duplex: Duplex): void {
  if (!duplex.isPaused()) return;
  const onListener = (event: string | symbol): void => {
    if (event !== 'data') return;
    duplex.removeListener('newListener', onListener);
    // After the listener is added (newListener comes before).
    process.nextTick(() => duplex.resume());
  };
  duplex.on('newListener', onListener);
}
