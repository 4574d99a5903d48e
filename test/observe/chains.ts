// The chain kinds of the tunnel matrix, each built with the low-level API on loopback servers that are
// started once: a request through each, and a way to make each stage of each chain fail.
import { open, type Connection, type OpenOptions, type StreamRef } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';

/** Servers shared by the chain tests. */
export interface Servers {
  readonly pki: TestPki;
  readonly otherPki: TestPki;
  readonly http: TestOrigin;
  readonly https: TestOrigin;
  readonly h2: TestOrigin;
  readonly proxy: TestConnectProxy;
  readonly proxyTls: TestConnectProxy;
  readonly refusing: TestConnectProxy;
  readonly silent: TestConnectProxy;
  readonly h2c: TestH2ConnectProxy;
  readonly h2tls: TestH2ConnectProxy;
  readonly socks: TestSocks5Server;
  readonly socksTls: TestSocks5Server;
  readonly socksAuth: TestSocks5Server;
  readonly socksRefusing: TestSocks5Server;
  close(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const pki = createTestPki();
  const otherPki = createTestPki();
  const [http, https, h2, proxy, proxyTls, refusing, silent, h2c, h2tls, socks, socksTls, socksAuth, socksRefusing] = await Promise.all([
    startOrigin({ protocol: 'http', transport: 'tcp' }),
    startOrigin({ protocol: 'http', transport: 'tls', pki }),
    startOrigin({ protocol: 'http2', transport: 'tls', pki }),
    startConnectProxy({}),
    startConnectProxy({ transport: 'tls', pki }),
    startConnectProxy({ behavior: { status: 403 } }),
    startConnectProxy({ behavior: { neverAnswer: true } }),
    startH2ConnectProxy({ transport: 'tcp' }),
    startH2ConnectProxy({ transport: 'tls', pki }),
    startSocks5Server({}),
    startSocks5Server({ transport: 'tls', pki }),
    startSocks5Server({ auth: { username: 'user', password: 'pass' } }),
    startSocks5Server({ behavior: { reply: 5 } }),
  ]);
  return {
    pki, otherPki, http, https, h2, proxy, proxyTls, refusing, silent, h2c, h2tls, socks, socksTls, socksAuth, socksRefusing,
    close: async () => {
      await Promise.all([http, https, h2, proxy, proxyTls, refusing, silent, h2c, h2tls, socks, socksTls, socksAuth, socksRefusing].map((s) => s.close()));
    },
  };
}

/** A chain opened: the connection and the tunnel the request goes in (undefined: the connection itself). */
export interface Opened {
  readonly conn: Connection;
  readonly tunnel: StreamRef | undefined;
}

/** How to open one chain kind. */
export type ChainBuilder = (s: Servers, extra?: Partial<OpenOptions>) => Opened;

const local = 'localhost';

/** The chain kinds: HTTP/1.1 CONNECT, HTTP/2 CONNECT, SOCKS5, each with and without TLS at every hop, and three hops. */
export const CHAINS: Readonly<Record<string, ChainBuilder>> = {
  'HTTP/1.1 CONNECT': (s, extra) => {
    const conn = open({ host: local, port: s.proxy.port, protocols: ['http'], retry: 0, ...extra });
    return { conn, tunnel: conn.connect({ host: local, port: s.http.port, protocols: ['http'] }) };
  },
  'HTTP/1.1 CONNECT, TLS at each hop': (s, extra) => {
    const conn = open({ host: local, port: s.proxyTls.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http'], retry: 0, ...extra });
    return { conn, tunnel: conn.connect({ host: local, port: s.https.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http'] }) };
  },
  'HTTP/2 CONNECT': (s, extra) => {
    const conn = open({ host: local, port: s.h2c.port, protocols: ['http2'], retry: 0, ...extra });
    return { conn, tunnel: conn.connect({ host: local, port: s.http.port, protocols: ['http'] }) };
  },
  'HTTP/2 CONNECT, TLS at each hop': (s, extra) => {
    const conn = open({ host: local, port: s.h2tls.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http2'], retry: 0, ...extra });
    return { conn, tunnel: conn.connect({ host: local, port: s.h2.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http2'] }) };
  },
  SOCKS5: (s, extra) => {
    const conn = open({ host: local, port: s.socks.port, protocols: [{ socks: { host: local, port: s.http.port, protocols: ['http'] } }], retry: 0, ...extra });
    return { conn, tunnel: undefined };
  },
  'SOCKS5, TLS at each hop': (s, extra) => {
    const conn = open({
      host: local, port: s.socksTls.port, transport: 'tls', tls: { ca: s.pki.ca },
      protocols: [{ socks: { host: local, port: s.https.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http'] } }], retry: 0, ...extra,
    });
    return { conn, tunnel: undefined };
  },
  'three hops, TLS three deep (HTTP/2 CONNECT, SOCKS5 over TLS, HTTPS)': (s, extra) => {
    const conn = open({ host: local, port: s.h2tls.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http2'], retry: 0, ...extra });
    const tunnel = conn.connect({
      host: local, port: s.socksTls.port, transport: 'tls', tls: { ca: s.pki.ca },
      protocols: [{ socks: { host: local, port: s.h2.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http2'] } }],
    });
    return { conn, tunnel };
  },
};
