// The fault matrix: at every position of 1-, 2- and 3-hop chains, a hop fails at one stage of its set-up
// (name unknown, TCP refused, reset during the TLS handshake, a certificate that is untrusted, for another
// name or expired, a TLS version too low, a CONNECT refused, 407, garbage or closed mid-reply, an HTTP/2
// CONNECT refused or reset, a SOCKS5 refusal code, garbage, a rejected password or a close mid-reply), for
// a first request and for a streamed upload. The typed error names the hop and the stage, keeps its cause,
// the upload's body is not read past what was asked, and afterwards no socket, timer or DNS request is left.
// A hop that cannot be reached behind a proxy is reported by that proxy (a 502 to the CONNECT): the error
// names the proxy before it. Stalls (a hop that never answers) are the table of hop-timeouts.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { request, type ViaEntry } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { BurrowError, type ErrorCode, type ErrorStage } from '../../src/errors/errors.js';
import type { LookupFunction } from '../../src/shared/options/open.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { assertNoClientLeaks, assertNoLeaks, clientSnapshot, resourceSnapshot } from '../helpers/leaks.js';

const UNKNOWN_NAME = 'no-such-proxy.burrow.test';

interface Servers {
  pki: TestPki;
  origin: TestOrigin;
  /** Healthy proxies, one per position (a client socket is then told from a proxy's by its port). */
  healthy: TestConnectProxy[];
  closedPort: number;
  tlsReset: net.Server;
  tlsOld: tls.Server;
  untrusted: TestConnectProxy;
  wrongName: TestConnectProxy;
  expired: TestConnectProxy | undefined;
  refused: TestConnectProxy;
  auth: TestConnectProxy;
  garbage: TestConnectProxy;
  closeMid: TestConnectProxy;
  closeBefore: TestConnectProxy;
  h2Refused: TestH2ConnectProxy;
  h2Reset: TestH2ConnectProxy;
  socks: Map<number, TestSocks5Server>;
  socksGarbage: TestSocks5Server;
  socksAuth: TestSocks5Server;
  socksCloseMid: TestSocks5Server;
}

/** A faulty hop: how to name it in `via`, and what the error must say. */
interface Fault {
  readonly name: string;
  readonly entry: (s: Servers) => ViaEntry;
  readonly code: ErrorCode;
  readonly stage: ErrorStage;
  readonly kind: 'connect' | 'socks5';
  /** Only as the first hop (the client itself dials it). */
  readonly firstOnly?: boolean;
  /** Only behind a proxy (it is a proxy's answer about this hop). */
  readonly behindOnly?: boolean;
  /** The error names the hop before this one (the proxy that could not reach it). */
  readonly namedByPrevious?: boolean;
  /** Checks the cause. */
  readonly cause?: RegExp;
  readonly skip?: (s: Servers) => string | undefined;
  /**
   * The test server keeps its side of the connection after the client left: a TLS 1.3 server has sent its
   * certificate and waits for the client's Finished when the client refuses the certificate and goes; with
   * `allowHalfOpen` Node's TLS server does not close a connection ended during its handshake. Only the
   * client's sockets and timers are checked.
   */
  readonly serverLingers?: boolean;
}

const tlsHop = (port: number, s: Servers): ViaEntry => ({ url: `https://127.0.0.1:${port}`, tls: { ca: s.pki.ca } });

const FAULTS: readonly Fault[] = [
  { name: 'its name does not resolve', entry: () => `http://${UNKNOWN_NAME}:3128`, code: 'ERR_DNS', stage: 'dns', kind: 'connect', firstOnly: true },
  { name: 'TCP refused', entry: (s) => `http://127.0.0.1:${s.closedPort}`, code: 'ERR_CONNECT', stage: 'tcp', kind: 'connect', firstOnly: true },
  { name: 'TCP refused (reported by the proxy before it)', entry: (s) => `http://127.0.0.1:${s.closedPort}`, code: 'ERR_CONNECT_STATUS', stage: 'connect-response', kind: 'connect', behindOnly: true, namedByPrevious: true },
  { name: 'TCP reset during the TLS handshake', entry: (s) => tlsHop((s.tlsReset.address() as net.AddressInfo).port, s), code: 'ERR_TLS', stage: 'tls', kind: 'connect' },
  { name: 'TLS certificate from an untrusted CA', serverLingers: true, entry: (s) => tlsHop(s.untrusted.port, s), code: 'ERR_TLS', stage: 'tls', kind: 'connect', cause: /self.signed|unable to (get|verify)|UNABLE_TO|SELF_SIGNED/i },
  { name: 'TLS certificate for another name', serverLingers: true, entry: (s) => tlsHop(s.wrongName.port, s), code: 'ERR_TLS', stage: 'tls', kind: 'connect', cause: /altnames|does not match|ERR_TLS_CERT_ALTNAME_INVALID/i },
  {
    name: 'TLS certificate expired',
    serverLingers: true,
    entry: (s) => tlsHop((s.expired as TestConnectProxy).port, s),
    code: 'ERR_TLS',
    stage: 'tls',
    kind: 'connect',
    cause: /expired|CERT_HAS_EXPIRED/i,
    skip: (s) => (s.expired === undefined ? 'openssl could not make an expired certificate here' : undefined),
  },
  { name: 'TLS version too low (TLS 1.1 only)', entry: (s) => tlsHop((s.tlsOld.address() as net.AddressInfo).port, s), code: 'ERR_TLS', stage: 'tls', kind: 'connect' },
  { name: 'CONNECT refused (403)', entry: (s) => s.refused.url, code: 'ERR_CONNECT_STATUS', stage: 'connect-response', kind: 'connect' },
  { name: 'CONNECT answered 407 (no credentials)', entry: (s) => s.auth.url, code: 'ERR_PROXY_AUTH', stage: 'connect-response', kind: 'connect' },
  { name: 'CONNECT answered with garbage', entry: (s) => s.garbage.url, code: 'ERR_HTTP_PARSE', stage: 'connect-response', kind: 'connect' },
  { name: 'connection closed in the middle of the CONNECT reply', entry: (s) => s.closeMid.url, code: 'ERR_HTTP_PARSE', stage: 'connect-response', kind: 'connect' },
  { name: 'connection closed before the CONNECT reply', entry: (s) => s.closeBefore.url, code: 'ERR_CONNECTION_CLOSED', stage: 'connect-response', kind: 'connect' },
  { name: 'HTTP/2 CONNECT refused (403)', entry: (s) => `h2c://127.0.0.1:${s.h2Refused.port}`, code: 'ERR_CONNECT_STATUS', stage: 'connect-response', kind: 'connect' },
  { name: 'HTTP/2 CONNECT stream reset', entry: (s) => `h2c://127.0.0.1:${s.h2Reset.port}`, code: 'ERR_STREAM_RESET', stage: 'connect-response', kind: 'connect' },
  ...[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08].map(
    (code): Fault => ({ name: `SOCKS5 reply 0x0${code}`, entry: (s) => `socks5h://127.0.0.1:${(s.socks.get(code) as TestSocks5Server).port}`, code: 'ERR_SOCKS_REPLY', stage: 'socks-reply', kind: 'socks5' }),
  ),
  { name: 'SOCKS5 greeting answered with garbage', entry: (s) => `socks5h://127.0.0.1:${s.socksGarbage.port}`, code: 'ERR_SOCKS_PROTOCOL', stage: 'socks-auth', kind: 'socks5' },
  { name: 'SOCKS5 password rejected', entry: (s) => `socks5h://u:wrong@127.0.0.1:${s.socksAuth.port}`, code: 'ERR_SOCKS_AUTH', stage: 'socks-auth', kind: 'socks5' },
  { name: 'SOCKS5 connection closed in the middle of the reply', entry: (s) => `socks5h://127.0.0.1:${s.socksCloseMid.port}`, code: 'ERR_SOCKS_PROTOCOL', stage: 'socks-reply', kind: 'socks5' },
];

type Kind = 'first request' | 'streamed upload';

interface Case {
  readonly name: string;
  readonly hops: number;
  readonly at: number;
  readonly fault: Fault;
  readonly kind: Kind;
}

const CASES: Case[] = [];
for (const kind of ['first request', 'streamed upload'] as const) {
  for (let hops = 1; hops <= 3; hops++) {
    for (let at = 0; at < hops; at++) {
      for (const fault of FAULTS) {
        if ((fault.firstOnly === true && at !== 0) || (fault.behindOnly === true && at === 0)) continue;
        CASES.push({ name: `${kind}, ${hops}-hop chain, hop ${at}: ${fault.name}`, hops, at, fault, kind });
      }
    }
  }
}

/** Resolves every name to 127.0.0.1 but the unknown one. */
const lookup: LookupFunction = (host) =>
  host === UNKNOWN_NAME ? Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })) : Promise.resolve([{ address: '127.0.0.1', family: 4 as const }]);

/** A server certificate whose validity ended yesterday, signed by the test CA, or undefined where openssl cannot make one. */
function expiredCert(pki: TestPki): { cert: string; key: string } | undefined {
  try {
    const kp = pki.issue('localhost', ['127.0.0.1'], 'server', { validity: 'expired' });
    return new Date(new X509Certificate(kp.cert).validTo) < new Date() ? kp : undefined;
  } catch {
    return undefined;
  }
}

describe('request(): the fault matrix — every hop position, every set-up stage', () => {
  let s: Servers;

  before(async () => {
    const pki = createTestPki();
    const other = createTestPki();
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const tlsReset = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.resetAndDestroy());
    });
    await new Promise<void>((r) => tlsReset.listen(0, '127.0.0.1', r));
    const tlsOld = tls.createServer({ ...pki.server, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }, (socket) => socket.destroy());
    tlsOld.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => tlsOld.listen(0, '127.0.0.1', r));
    const wrongPki: TestPki = { ...pki, server: pki.issue('other.burrow.test', ['other.burrow.test'], 'server') };
    const expired = expiredCert(pki);
    const socks = new Map<number, TestSocks5Server>();
    for (let code = 1; code <= 8; code++) socks.set(code, await startSocks5Server({ behavior: { reply: code } }));
    s = {
      pki,
      origin: await startOrigin({ transport: 'tcp', protocol: 'http' }),
      healthy: [await startConnectProxy(), await startConnectProxy(), await startConnectProxy()],
      closedPort,
      tlsReset,
      tlsOld,
      untrusted: await startConnectProxy({ transport: 'tls', pki: other }),
      wrongName: await startConnectProxy({ transport: 'tls', pki: wrongPki }),
      expired: expired === undefined ? undefined : await startConnectProxy({ transport: 'tls', pki: { ...pki, server: expired } }),
      refused: await startConnectProxy({ behavior: { status: 403 } }),
      auth: await startConnectProxy({ auth: { username: 'u', password: 'p' } }),
      garbage: await startConnectProxy({ behavior: { garbage: 'SSH-2.0-OpenSSH\r\n' } }),
      closeMid: await startConnectProxy({ behavior: { closeMidResponse: true } }),
      closeBefore: await startConnectProxy({ behavior: { closeAfterHead: true } }),
      h2Refused: await startH2ConnectProxy({ behavior: { status: 403 } }),
      h2Reset: await startH2ConnectProxy({ behavior: { rst: true } }),
      socks,
      socksGarbage: await startSocks5Server({ behavior: { garbage: Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') } }),
      socksAuth: await startSocks5Server({ auth: { username: 'u', password: 'p' } }),
      socksCloseMid: await startSocks5Server({ behavior: { closeMidHandshake: 'connect' } }),
    };
  });

  after(async () => {
    await Promise.all([
      s.origin.close(), ...s.healthy.map((h) => h.close()), s.untrusted.close(), s.wrongName.close(), s.expired?.close(), s.refused.close(), s.auth.close(), s.garbage.close(),
      s.closeMid.close(), s.closeBefore.close(), s.h2Refused.close(), s.h2Reset.close(), s.socksGarbage.close(), s.socksAuth.close(), s.socksCloseMid.close(),
      ...[...s.socks.values()].map((x) => x.close()),
      new Promise<void>((r) => s.tlsReset.close(() => r())),
      new Promise<void>((r) => s.tlsOld.close(() => r())),
    ]);
  });

  for (const c of CASES) {
    it(c.name, async (t) => {
      const why = c.fault.skip?.(s);
      if (why !== undefined) {
        t.skip(why);
        return;
      }
      const baseline = resourceSnapshot();
      const via: ViaEntry[] = [];
      for (let i = 0; i < c.hops; i++) via.push(i === c.at ? c.fault.entry(s) : (s.healthy[i] as TestConnectProxy).url);
      // The client's own sockets: those to hop 0 (test proxies open sockets to the hops after it).
      const first = via[0] as ViaEntry;
      const firstPort = Number(new URL(typeof first === 'string' || first instanceof URL ? first : first.url).port) || undefined;
      const clientBaseline = clientSnapshot(firstPort);
      let chunksRead = 0;
      let bodyClosed = false;
      async function* upload(): AsyncGenerator<Buffer> {
        try {
          for (;;) {
            chunksRead++;
            yield Buffer.from('chunk');
          }
        } finally {
          bodyClosed = true;
        }
      }
      const pool = new Pool();
      const err = await request(`http://127.0.0.1:${s.origin.port}/echo`, {
        via,
        pool,
        lookup,
        ...(c.kind === 'streamed upload' ? { method: 'POST', body: upload() } : {}),
      }).then(
        () => assert.fail('the request succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BurrowError, String(err));
      const named = c.fault.namedByPrevious === true ? c.at - 1 : c.at;
      assert.equal(err.code, c.fault.code, err.message);
      assert.equal(err.stage, c.fault.stage, err.message);
      assert.equal(err.hop?.index, named, err.message);
      assert.equal(err.hop?.kind, c.fault.namedByPrevious === true ? 'connect' : c.fault.kind, err.message);
      assert.match(err.message, new RegExp(`^hop ${named} \\(`));
      if (c.fault.cause !== undefined) {
        const causes: string[] = [];
        for (let e: unknown = err.cause; e instanceof Error; e = e.cause) causes.push(`${(e as { code?: string }).code ?? ''} ${e.message}`);
        assert.match(causes.join(' | '), c.fault.cause, `causes: ${causes.join(' | ')}`);
      }
      // The upload never started: the route failed before the request was sent (no body byte read, or the iterator closed).
      if (c.kind === 'streamed upload') assert.ok(chunksRead === 0 || bodyClosed, `the upload body was read (${chunksRead} chunks) and left open`);
      await pool.close();
      await assertNoClientLeaks(clientBaseline, firstPort);
      if (c.fault.serverLingers !== true) await assertNoLeaks(baseline);
    });
  }
});
