// Shared pieces of the conformance suites (Gun's tunnel_SUITE, socks_SUITE,
// rfc7231/rfc7540 CONNECT and raw suites, in burrow's form): one set of test
// servers sharing one PKI, the endpoint kinds of the 216-case matrix, and
// helpers that read a stream's messages and fail with a readable description.
import assert from 'node:assert/strict';
import { open, type BurrowError, type Connection, type IntermediaryInfo, type OpenOptions, type ProtocolSpec, type SocksOptions, type StreamMessage, type StreamRef } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { startSocks4Server, type TestSocks4Server } from '../../src/testing/socks4-server.js';
import { startEchoServer, type TestEchoServer } from '../../src/testing/echo-server.js';

/** Proxy kinds of the matrix (Gun's identifiers). */
export const PROXY_KINDS = ['http', 'https', 'h2c', 'h2', 'socks5', 'socks5tls', 'socks4a'] as const;
export type ProxyKind = (typeof PROXY_KINDS)[number];
/** Origin kinds of the matrix. */
export const ORIGIN_KINDS = ['http', 'https', 'h2c', 'h2', 'raw', 'rawtls'] as const;
export type OriginKind = (typeof ORIGIN_KINDS)[number];
export type EndpointKind = ProxyKind | OriginKind;

/** The bound address every test SOCKS5 server reports by default (and the SOCKS4 server of a {@link ServerSet}). */
export const DEFAULT_BOUND = { host: '1.2.3.4', port: 33333 } as const;

/** One server of every kind, sharing one PKI. */
export interface ServerSet {
  readonly pki: TestPki;
  readonly connectTcp: TestConnectProxy;
  readonly connectTls: TestConnectProxy;
  readonly h2cProxy: TestH2ConnectProxy;
  readonly h2Proxy: TestH2ConnectProxy;
  readonly socksTcp: TestSocks5Server;
  readonly socksTls: TestSocks5Server;
  readonly socks4: TestSocks4Server;
  readonly originHttp: TestOrigin;
  readonly originHttps: TestOrigin;
  readonly originH2c: TestOrigin;
  readonly originH2: TestOrigin;
  readonly echoTcp: TestEchoServer;
  readonly echoTls: TestEchoServer;
  close(): Promise<void>;
}

/** Starts one server of each kind (2 CONNECT proxies, 2 HTTP/2 proxies, 2 SOCKS5 servers, a SOCKS4 server, 4 origins, 2 echo servers). */
export async function startServerSet(pki: TestPki = createTestPki()): Promise<ServerSet> {
  const [connectTcp, connectTls, h2cProxy, h2Proxy, socksTcp, socksTls, socks4, originHttp, originHttps, originH2c, originH2, echoTcp, echoTls] = await Promise.all([
    startConnectProxy({ transport: 'tcp' }),
    startConnectProxy({ transport: 'tls', pki }),
    startH2ConnectProxy({ transport: 'tcp' }),
    startH2ConnectProxy({ transport: 'tls', pki }),
    startSocks5Server({ transport: 'tcp' }),
    startSocks5Server({ transport: 'tls', pki }),
    startSocks4Server({ behavior: { boundHost: DEFAULT_BOUND.host, boundPort: DEFAULT_BOUND.port } }),
    startOrigin({ protocol: 'http', transport: 'tcp' }),
    startOrigin({ protocol: 'http', transport: 'tls', pki }),
    startOrigin({ protocol: 'http2', transport: 'tcp' }),
    startOrigin({ protocol: 'http2', transport: 'tls', pki }),
    startEchoServer({ transport: 'tcp' }),
    startEchoServer({ transport: 'tls', pki }),
  ]);
  const all = [connectTcp, connectTls, h2cProxy, h2Proxy, socksTcp, socksTls, socks4, originHttp, originHttps, originH2c, originH2, echoTcp, echoTls];
  return {
    pki,
    connectTcp,
    connectTls,
    h2cProxy,
    h2Proxy,
    socksTcp,
    socksTls,
    socks4,
    originHttp,
    originHttps,
    originH2c,
    originH2,
    echoTcp,
    echoTls,
    close: async () => {
      await Promise.all(all.map((s) => s.close()));
    },
  };
}

/** Transport of an endpoint kind. */
export function transportOf(kind: EndpointKind): 'tcp' | 'tls' {
  return kind === 'https' || kind === 'h2' || kind === 'socks5tls' || kind === 'rawtls' ? 'tls' : 'tcp';
}

/** The protocol name burrow uses for an endpoint kind ('socks' for SOCKS servers). */
export function protocolOf(kind: EndpointKind): 'http' | 'http2' | 'raw' | 'socks' {
  switch (kind) {
    case 'http':
    case 'https':
      return 'http';
    case 'h2c':
    case 'h2':
      return 'http2';
    case 'raw':
    case 'rawtls':
      return 'raw';
    default:
      return 'socks';
  }
}

export function isSocks(kind: EndpointKind): boolean {
  return kind === 'socks5' || kind === 'socks5tls' || kind === 'socks4a';
}

export function isH2(kind: EndpointKind): boolean {
  return kind === 'h2c' || kind === 'h2';
}

/** The port of the server of a proxy kind. */
export function proxyPort(s: ServerSet, kind: ProxyKind): number {
  switch (kind) {
    case 'http':
      return s.connectTcp.port;
    case 'https':
      return s.connectTls.port;
    case 'h2c':
      return s.h2cProxy.port;
    case 'h2':
      return s.h2Proxy.port;
    case 'socks5':
      return s.socksTcp.port;
    case 'socks5tls':
      return s.socksTls.port;
    case 'socks4a':
      return s.socks4.port;
  }
}

/** The port of the server of an origin kind. */
export function originPort(s: ServerSet, kind: OriginKind): number {
  switch (kind) {
    case 'http':
      return s.originHttp.port;
    case 'https':
      return s.originHttps.port;
    case 'h2c':
      return s.originH2c.port;
    case 'h2':
      return s.originH2.port;
    case 'raw':
      return s.echoTcp.port;
    case 'rawtls':
      return s.echoTls.port;
  }
}

/** Where an endpoint is, in the shape of `connect()` destinations and SOCKS options (host `localhost`). */
export interface HopTarget {
  host: string;
  port: number;
  transport: 'tcp' | 'tls';
  tls?: { ca: string };
  protocols: ProtocolSpec[];
}

/**
 * The hop to reach an endpoint of `kind` at `port`: its TLS settings and the
 * protocol spoken there; a SOCKS server gets `{ socks: next }` where `next` is
 * what it must connect to.
 */
export function hopTo(pki: TestPki, kind: EndpointKind, port: number, next?: SocksOptions): HopTarget {
  const transport = transportOf(kind);
  const p = protocolOf(kind);
  let protocols: ProtocolSpec[];
  if (p === 'socks') {
    if (next === undefined) throw new Error(`hopTo: a SOCKS hop (${kind}) needs its next destination`);
    protocols = [{ socks: kind === 'socks4a' ? { ...next, version: '4a' } : next }];
  } else {
    protocols = [p];
  }
  return { host: 'localhost', port, transport, ...(transport === 'tls' ? { tls: { ca: pki.ca } } : {}), protocols };
}

/** `HopTarget` → SOCKS options naming it as the destination. */
export function socksTo(t: HopTarget): SocksOptions {
  return { host: t.host, port: t.port, transport: t.transport, ...(t.tls ? { tls: t.tls } : {}), protocols: t.protocols };
}

/** The intermediary entry burrow reports for a proxy of `kind` on `port`. */
export function intermediary(kind: ProxyKind, port: number, bound: { host: string; port: number } = DEFAULT_BOUND): IntermediaryInfo {
  if (isSocks(kind)) return { type: kind === 'socks4a' ? 'socks4' : 'socks5', host: 'localhost', port, transport: transportOf(kind), protocol: 'socks', bound: { ...bound } };
  return { type: 'connect', host: 'localhost', port, transport: transportOf(kind), protocol: protocolOf(kind) };
}

// ---------------------------------------------------------------- messages

/** A message in one line, for assertion messages. */
export function fmt(m: StreamMessage): string {
  switch (m.type) {
    case 'response':
      return `response ${m.status} fin=${String(m.fin)}`;
    case 'data':
      return `data fin=${String(m.fin)} ${JSON.stringify(m.data.toString('latin1').slice(0, 80))}`;
    case 'up':
      return `up ${m.protocol}`;
    case 'error':
      return `error ${m.error.code} (${m.error.stage}): ${m.error.message}`;
    default:
      return m.type;
  }
}

/** The next message of `ref`, which must be a response with `status` (and `fin` when given). */
export async function expectResponse(conn: Connection, ref: StreamRef, status: number, fin?: boolean, timeout?: number): Promise<StreamMessage & { type: 'response' }> {
  const m = await conn.await(ref, timeout);
  assert.ok(m.type === 'response', `expected response ${status}, got ${fmt(m)}`);
  assert.equal(m.status, status, `expected response ${status}, got ${fmt(m)}`);
  if (fin !== undefined) assert.equal(m.fin, fin, `expected response fin=${String(fin)}, got ${fmt(m)}`);
  return m;
}

/** The next message of `ref`, which must be `up` with `protocol`. */
export async function expectUp(conn: Connection, ref: StreamRef, protocol: string, timeout?: number): Promise<void> {
  const m = await conn.await(ref, timeout);
  assert.ok(m.type === 'up' && m.protocol === protocol, `expected up ${protocol}, got ${fmt(m)}`);
}

/** A CONNECT that succeeded: a 2xx response (fin) then one `up` per layer. */
export async function expectTunnel(conn: Connection, ref: StreamRef, ups: readonly string[], status = 200): Promise<void> {
  await expectResponse(conn, ref, status, true);
  for (const p of ups) await expectUp(conn, ref, p);
}

/** The next message of `ref`, which must be an error (with `code` when given); returns the error. */
export async function expectError(conn: Connection, ref: StreamRef, code?: string, timeout?: number): Promise<BurrowError> {
  const m = await conn.await(ref, timeout);
  assert.ok(m.type === 'error', `expected an error${code ? ` ${code}` : ''}, got ${fmt(m)}`);
  if (code !== undefined) assert.equal(m.error.code, code, `expected ${code}, got ${fmt(m)}`);
  return m.error;
}

/** Reads data messages on `ref` until `n` bytes arrived (other messages fail). */
export async function readBytes(conn: Connection, ref: StreamRef, n: number, timeout?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const m = await conn.await(ref, timeout);
    assert.ok(m.type === 'data', `expected data (${len}/${n} bytes so far: ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}), got ${fmt(m)}`);
    chunks.push(m.data);
    len += m.data.length;
    if (m.fin && len < n) assert.fail(`data ended after ${len} of ${n} bytes`);
  }
  return Buffer.concat(chunks);
}

/** The JSON body of a GET /echo. */
export interface EchoBody {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body: string;
  httpVersion: string;
}

/** Reads the body of an `/echo` request and parses it. */
export async function echoBody(conn: Connection, ref: StreamRef, timeout?: number): Promise<EchoBody> {
  const { body } = await conn.awaitBody(ref, timeout);
  return JSON.parse(body.toString()) as EchoBody;
}

/** The `host` header (HTTP/1) or `:authority` (HTTP/2) in an echoed request. */
export function echoedAuthority(e: EchoBody): string | undefined {
  return (e.headers.find(([k]) => k === ':authority') ?? e.headers.find(([k]) => k.toLowerCase() === 'host'))?.[1];
}

/** Strips the `ref` of a streamInfo result (compared separately). */
export function tunnelInfoOf(conn: Connection, ref: StreamRef): unknown {
  const si = conn.streamInfo(ref);
  if (si === undefined) return undefined;
  return { state: si.state, intermediaries: si.intermediaries, tunnel: si.tunnel };
}

// ---------------------------------------------------------------- connections

/**
 * Opens connections and remembers them, so that a test failing half-way
 * still gets its connections closed (call `closeAll` in `afterEach`) and the
 * file's final leak check reports real leaks only.
 */
export interface ConnTracker {
  open(opts: OpenOptions): Connection;
  closeAll(): Promise<void>;
}

export function connTracker(): ConnTracker {
  const list: Connection[] = [];
  return {
    open(opts) {
      const c = open(opts);
      list.push(c);
      return c;
    },
    async closeAll() {
      await Promise.all(list.splice(0).map((c) => c.close()));
    },
  };
}
