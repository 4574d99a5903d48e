/**
 * What leaves the client, for tests: every TCP connect made in the process
 * (seen on the `net.client.socket` diagnostics channel, which `net.connect()`
 * publishes, and on `net.Socket.prototype.connect`, which every TCP socket goes
 * through, `tls.connect()` without a socket included) and every system DNS
 * lookup (`dns.lookup`, `dns.promises.lookup`). Each is attributed to the
 * in-process test servers (`src/testing/`: proxies dialling the origin) or to
 * the client by the stack of the call.
 */
import * as dc from 'node:diagnostics_channel';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as net from 'node:net';
import type { LookupFunction } from '../../src/shared/options/open.js';

/** One TCP connect. */
export interface SeenConnect {
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** Published on `net.client.socket` (made by `net.connect()`). */
  readonly onChannel: boolean;
  /** Made by an in-process test server (`src/testing/`), not by the client. */
  readonly testServer: boolean;
}

/** One system DNS lookup. */
export interface SeenLookup {
  readonly host: string;
  readonly testServer: boolean;
}

/** A running {@link watchEgress}. */
export interface EgressWatch {
  readonly connects: SeenConnect[];
  readonly lookups: SeenLookup[];
  /** The client's connects only. */
  clientConnects(): SeenConnect[];
  /** The client's system DNS lookups only. */
  clientLookups(): string[];
  /** Forgets what was seen so far. */
  clear(): void;
  /** Removes every hook. */
  stop(): void;
}

function fromTestServer(): boolean {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  const stack = new Error('where').stack ?? '';
  Error.stackTraceLimit = limit;
  return /[/\\]src[/\\]testing[/\\]/.test(stack);
}

/** Starts recording TCP connects and system DNS lookups. */
export function watchEgress(): EgressWatch {
  // The module object itself (an ESM namespace is read-only).
  const dns = createRequire(import.meta.url)('node:dns') as typeof import('node:dns');
  const connects: SeenConnect[] = [];
  const lookups: SeenLookup[] = [];
  const published = new WeakSet<object>();
  const onSocket = (msg: unknown): void => {
    const socket = (msg as { socket?: object }).socket;
    if (socket !== undefined) published.add(socket);
  };
  dc.subscribe('net.client.socket', onSocket);

  const proto = net.Socket.prototype as unknown as { connect: (...args: unknown[]) => unknown };
  const origConnect = proto.connect;
  proto.connect = function (this: net.Socket, ...args: unknown[]): unknown {
    const a0 = args[0];
    const o = Array.isArray(a0) ? (a0[0] as unknown) : a0;
    let host: string | undefined;
    let port: number | undefined;
    if (typeof o === 'object' && o !== null) {
      const opts = o as { host?: string; port?: number | string };
      host = opts.host;
      port = opts.port === undefined ? undefined : Number(opts.port);
    } else {
      port = Number(o);
      host = typeof args[1] === 'string' ? args[1] : undefined;
    }
    const isPublished = published.has.bind(published, this);
    const testServer = fromTestServer();
    // Read later: net.connect() publishes before connecting on Node 20, after on Node 22 and later.
    connects.push({
      host,
      port,
      testServer,
      get onChannel() {
        return isPublished();
      },
    });
    return origConnect.apply(this, args);
  };

  const dnsMod = dns as unknown as { lookup: (...args: unknown[]) => unknown; promises: { lookup: (...args: unknown[]) => unknown } };
  const origLookup = dnsMod.lookup;
  const origPromisesLookup = dnsMod.promises.lookup;
  dnsMod.lookup = function (...args: unknown[]): unknown {
    lookups.push({ host: String(args[0]), testServer: fromTestServer() });
    return origLookup.apply(dns, args);
  };
  dnsMod.promises.lookup = function (...args: unknown[]): unknown {
    lookups.push({ host: String(args[0]), testServer: fromTestServer() });
    return origPromisesLookup.apply(dns.promises, args);
  };
  // ESM importers of node:dns (`import { lookup } from 'node:dns'`) see the patched functions.
  syncBuiltinESMExports();

  return {
    connects,
    lookups,
    clientConnects: () => connects.filter((c) => !c.testServer),
    clientLookups: () => lookups.filter((l) => !l.testServer).map((l) => l.host),
    clear: () => {
      connects.length = 0;
      lookups.length = 0;
    },
    stop: () => {
      dc.unsubscribe('net.client.socket', onSocket);
      proto.connect = origConnect;
      dnsMod.lookup = origLookup;
      dnsMod.promises.lookup = origPromisesLookup;
      syncBuiltinESMExports();
    },
  };
}

/**
 * A `lookup` option that answers only for `names` (with 127.0.0.1) and fails
 * for every other name; `calls` records every name asked.
 */
export function onlyLookup(names: readonly string[]): { lookup: LookupFunction; calls: string[] } {
  const calls: string[] = [];
  const lookup: LookupFunction = (host) => {
    calls.push(host);
    if (names.includes(host)) return Promise.resolve([{ address: '127.0.0.1', family: 4 as const }]);
    return Promise.reject(new Error(`no lookup of ${host} expected`));
  };
  return { lookup, calls };
}
