/**
 * The TCP transport: DNS lookup then TCP connect, each under its own timeout,
 * trying every resolved address in order.
 */
import { lookup as dnsLookup } from 'node:dns';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { BurrowError } from '../errors/errors.js';
import type { DnsLookupContext } from '../shared/events.js';
import type { LookupFunction } from '../shared/options/open.js';
import { DNS_TRACE, tracing } from '../observe/channels.js';
import type { Observer } from '../observe/observer.js';
import { withTimeout, type StepContext } from './timeout.js';

/** Where and how to dial. */
export interface DialOptions {
  readonly host: string;
  readonly port: number;
  readonly lookup: LookupFunction | undefined;
  readonly lookupTimeout: number;
  readonly connectTimeout: number;
  /** Publishes the lookup (`tracing:burrow:dns:*`, the handler's `dnsStart`/`dnsEnd`). */
  readonly observer?: Observer | undefined;
}

/** Resolved addresses, in the order to try them. */
export type Addresses = ReadonlyArray<{ address: string; family: 4 | 6 }>;

const systemLookup: LookupFunction = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true }, (err, addrs) => {
      if (err) reject(err);
      else resolve(addrs.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  });

/**
 * Runs `lookup` as the DNS lookup of `host` for `hop`, published on the
 * `burrow:dns` tracing channel and to the observer's handler when anyone
 * watches (the context gets `addresses` or `error`). Every lookup published
 * ends once: when `lookup` settles, or when `cancel` aborts first (a timeout,
 * a closed connection, an aborted request), with the abort's reason as its
 * `error`; what `lookup` gives after that is ignored.
 */
export function observedLookup<T extends ReadonlyArray<{ address: string }>>(
  observer: { readonly connection: number | undefined; dns: Observer['dns'] } | undefined,
  context: Omit<DnsLookupContext, 'connection'>,
  lookup: () => Promise<T>,
  wantsHandler: boolean,
  cancel?: AbortSignal,
): Promise<T> {
  const traced = tracing(DNS_TRACE);
  if (!traced && !wantsHandler) return lookup();
  const c: DnsLookupContext = { connection: observer?.connection, host: context.host, hop: context.hop };
  if (wantsHandler) observer?.dns('dnsStart', c);
  const run = async (): Promise<T> => {
    try {
      const addrs = await untilAborted(lookup(), cancel);
      c.addresses = Array.isArray(addrs) ? addrs.map((a) => a.address) : [];
      if (wantsHandler) observer?.dns('dnsEnd', c);
      return addrs;
    } catch (e) {
      c.error = e;
      if (wantsHandler) observer?.dns('dnsEnd', c);
      throw e;
    }
  };
  return traced ? DNS_TRACE.tracePromise(run, c) : run();
}

/** Settles like `p`, or rejects with the reason of `signal` as soon as it aborts (`p` is then left to settle unobserved). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason as unknown);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as unknown);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Resolves `host` (stage `dns`). IP literals are returned as they are. */
export async function resolveHost(ctx: StepContext, opts: DialOptions): Promise<Addresses> {
  const family = isIP(opts.host);
  if (family !== 0) return [{ address: opts.host, family: family === 6 ? 6 : 4 }];
  const lookupFn = opts.lookup ?? systemLookup;
  const obs = opts.observer;
  // A lookup given up (its timeout, the connection closed) ends its trace with the reason at once.
  const cancel = new AbortController();
  const lookup: LookupFunction = (host) =>
    observedLookup(obs, { host, hop: ctx.hop }, () => lookupFn(host), obs !== undefined && (typeof obs.handler?.dnsStart === 'function' || typeof obs.handler?.dnsEnd === 'function'), cancel.signal);
  const addrs = await withTimeout(ctx, opts.lookupTimeout, 'ERR_LOOKUP_TIMEOUT', `DNS lookup of ${opts.host}`, 'dns', async () => {
    try {
      return await lookup(opts.host);
    } catch (e) {
      throw new BurrowError('ERR_DNS', `DNS lookup of ${opts.host} failed: ${(e as Error).message}`, { stage: 'dns', hop: ctx.hop, cause: e });
    }
  }, (reason) => cancel.abort(reason));
  if (!Array.isArray(addrs) || addrs.length === 0) {
    throw new BurrowError('ERR_DNS', `DNS lookup of ${opts.host} returned no address`, { stage: 'dns', hop: ctx.hop });
  }
  for (const a of addrs as unknown[]) {
    const address = typeof a === 'object' && a !== null ? (a as { address?: unknown }).address : undefined;
    // Only IP addresses are dialled: a name here would go to the system resolver behind the lookup's back.
    if (typeof address !== 'string' || isIP(address) === 0) {
      throw new BurrowError('ERR_DNS', `DNS lookup of ${opts.host} returned ${JSON.stringify(a)}, which is not an IP address`, { stage: 'dns', hop: ctx.hop });
    }
  }
  return addrs;
}

function connectOne(address: string, port: number, onSocket: (s: Socket) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // Half-open allowed: a raw tunnel may keep sending after the peer's FIN; the HTTP layers close on 'end'.
    const socket = netConnect({ host: address, port, noDelay: true, allowHalfOpen: true });
    onSocket(socket);
    const onError = (err: Error): void => {
      socket.removeListener('connect', onConnect);
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      socket.removeListener('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}

/** Resolves and connects (stages `dns`, `tcp`); the connect timeout covers all addresses together. */
export async function dialTcp(ctx: StepContext, opts: DialOptions): Promise<Socket> {
  return connectTcp(ctx, opts, await resolveHost(ctx, opts));
}

/** Connects to the first of `addrs` that answers (stage `tcp`); the connect timeout covers them all together. */
export function connectTcp(ctx: StepContext, opts: DialOptions, addrs: Addresses): Promise<Socket> {
  let current: Socket | undefined;
  return withTimeout(ctx, opts.connectTimeout, 'ERR_CONNECT_TIMEOUT', `TCP connect to ${opts.host}:${opts.port}`, 'tcp', async () => {
    let last: unknown;
    for (const a of addrs) {
      try {
        return await connectOne(a.address, opts.port, (s) => { current = s; });
      } catch (e) {
        last = e;
        if (ctx.signal.aborted) break;
      }
    }
    const msg = last instanceof Error ? last.message : String(last);
    throw new BurrowError('ERR_CONNECT', `TCP connect to ${opts.host}:${opts.port} failed: ${msg}`, { stage: 'tcp', hop: ctx.hop, cause: last });
  }, () => current?.destroy());
}

/**
 * Connects to the Unix domain socket `path` (stage `tcp`, the first hop's transport connect; no DNS), under
 * the connect timeout. A missing socket or one nobody listens on is `ERR_CONNECT` with the path in the message.
 */
export function dialUnix(ctx: StepContext, path: string, connectTimeout: number): Promise<Socket> {
  let current: Socket | undefined;
  return withTimeout(ctx, connectTimeout, 'ERR_CONNECT_TIMEOUT', `connect to unix:${path}`, 'tcp', async () => {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = netConnect({ path, allowHalfOpen: true });
        current = socket;
        const onError = (err: Error): void => {
          socket.removeListener('connect', onConnect);
          socket.destroy();
          reject(err);
        };
        const onConnect = (): void => {
          socket.removeListener('error', onError);
          resolve(socket);
        };
        socket.once('error', onError);
        socket.once('connect', onConnect);
      });
    } catch (e) {
      throw new BurrowError('ERR_CONNECT', `connect to unix:${path} failed: ${(e as Error).message}`, { stage: 'tcp', hop: ctx.hop, cause: e });
    }
  }, () => current?.destroy());
}
