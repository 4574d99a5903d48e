// burrow's diagnostics_channel channels for each chain kind of the tunnel matrix: the exact sequence,
// the payloads (TLS, CONNECT, SOCKS5 details, parents, bytes, timings), the events handler seeing the
// same messages, and failures at every stage naming the hop and stage of the typed error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { open, type EventHandler, type LayerInfo } from '../../src/index.js';
import { startScriptedServer } from '../../src/testing/scripted.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { CHAINS, startServers, type Servers } from './chains.js';
import { EventLog, render, type Logged } from './event-log.js';

/** What a request through each chain publishes, from open() to close(); `CONNECT` is the target of the tunnel. */
const SEQUENCES: Readonly<Record<string, readonly string[]>> = {
  'HTTP/1.1 CONNECT': [
    'connection:created', 'layer:start tcp@0', 'dns:start localhost@0', 'stream:start CONNECT', 'stream:start GET /', 'dns:end localhost@0 127.0.0.1',
    'layer:up tcp@0', 'layer:start http1@0', 'layer:up http1@0', 'connection:up http [tcp@0,http1@0]',
    'layer:start http1-connect@0', 'stream:headers-sent', 'stream:response 200', 'layer:down http1@0', 'layer:up http1-connect@0',
    'layer:start http1@1', 'layer:up http1@1',
    'stream:headers-sent', 'stream:body-sent', 'stream:response 200', 'stream:end 5',
    'layer:down http1@1', 'layer:down http1-connect@0', 'layer:down tcp@0', 'stream:error ERR_CLOSED', 'connection:closed null',
  ],
  'HTTP/1.1 CONNECT, TLS at each hop': [
    'connection:created', 'layer:start tcp@0', 'dns:start localhost@0', 'stream:start CONNECT', 'stream:start GET /', 'dns:end localhost@0 127.0.0.1',
    'layer:up tcp@0', 'layer:start tls@0', 'layer:up tls@0', 'layer:start http1@0', 'layer:up http1@0', 'connection:up http [tcp@0,tls@0,http1@0]',
    'layer:start http1-connect@0', 'stream:headers-sent', 'stream:response 200', 'layer:down http1@0', 'layer:up http1-connect@0',
    'layer:start tls@1', 'layer:up tls@1', 'layer:start http1@1', 'layer:up http1@1',
    'stream:headers-sent', 'stream:body-sent', 'stream:response 200', 'stream:end 5',
    'layer:down http1@1', 'layer:down tls@1', 'layer:down http1-connect@0', 'layer:down tls@0', 'layer:down tcp@0', 'stream:error ERR_CLOSED', 'connection:closed null',
  ],
  'HTTP/2 CONNECT': [
    'connection:created', 'layer:start tcp@0', 'dns:start localhost@0', 'stream:start CONNECT', 'stream:start GET /', 'dns:end localhost@0 127.0.0.1',
    'layer:up tcp@0', 'layer:start http2@0', 'layer:up http2@0', 'connection:up http2 [tcp@0,http2@0]',
    'layer:start http2-connect@0', 'stream:headers-sent', 'stream:response 200', 'layer:up http2-connect@0',
    'layer:start http1@1', 'layer:up http1@1',
    'stream:headers-sent', 'stream:body-sent', 'stream:response 200', 'stream:end 5',
    'layer:down http1@1', 'layer:down http2-connect@0', 'layer:down http2@0', 'layer:down tcp@0', 'stream:error ERR_CLOSED', 'connection:closed null',
  ],
  'HTTP/2 CONNECT, TLS at each hop': [
    'connection:created', 'layer:start tcp@0', 'dns:start localhost@0', 'stream:start CONNECT', 'stream:start GET /', 'dns:end localhost@0 127.0.0.1',
    'layer:up tcp@0', 'layer:start tls@0', 'layer:up tls@0', 'layer:start http2@0', 'layer:up http2@0', 'connection:up http2 [tcp@0,tls@0,http2@0]',
    'layer:start http2-connect@0', 'stream:headers-sent', 'stream:response 200', 'layer:up http2-connect@0',
    'layer:start tls@1', 'layer:up tls@1', 'layer:start http2@1', 'layer:up http2@1',
    'stream:headers-sent', 'stream:body-sent', 'stream:response 200', 'stream:end 5',
    'layer:down http2@1', 'layer:down tls@1', 'layer:down http2-connect@0', 'layer:down http2@0', 'layer:down tls@0', 'layer:down tcp@0',
    'stream:error ERR_CLOSED', 'connection:closed null',
  ],
  SOCKS5: [
    'connection:created', 'layer:start tcp@0', 'dns:start localhost@0', 'stream:start GET /', 'dns:end localhost@0 127.0.0.1',
    'layer:up tcp@0', 'layer:start socks5@0', 'layer:up socks5@0', 'layer:start http1@1', 'layer:up http1@1', 'connection:up http [tcp@0,socks5@0,http1@1]',
    'stream:headers-sent', 'stream:body-sent', 'stream:response 200', 'stream:end 5',
    'layer:down http1@1', 'layer:down socks5@0', 'layer:down tcp@0', 'connection:closed null',
  ],
  'SOCKS5, TLS at each hop': [
    'connection:created', 'layer:start tcp@0', 'dns:start localhost@0', 'stream:start GET /', 'dns:end localhost@0 127.0.0.1',
    'layer:up tcp@0', 'layer:start tls@0', 'layer:up tls@0', 'layer:start socks5@0', 'layer:up socks5@0',
    'layer:start tls@1', 'layer:up tls@1', 'layer:start http1@1', 'layer:up http1@1', 'connection:up http [tcp@0,tls@0,socks5@0,tls@1,http1@1]',
    'stream:headers-sent', 'stream:body-sent', 'stream:response 200', 'stream:end 5',
    'layer:down http1@1', 'layer:down tls@1', 'layer:down socks5@0', 'layer:down tls@0', 'layer:down tcp@0', 'connection:closed null',
  ],
  'three hops, TLS three deep (HTTP/2 CONNECT, SOCKS5 over TLS, HTTPS)': [
    'connection:created', 'layer:start tcp@0', 'dns:start localhost@0', 'stream:start CONNECT', 'stream:start GET /', 'dns:end localhost@0 127.0.0.1',
    'layer:up tcp@0', 'layer:start tls@0', 'layer:up tls@0', 'layer:start http2@0', 'layer:up http2@0', 'connection:up http2 [tcp@0,tls@0,http2@0]',
    'layer:start http2-connect@0', 'stream:headers-sent', 'stream:response 200', 'layer:up http2-connect@0',
    'layer:start tls@1', 'layer:up tls@1', 'layer:start socks5@1', 'layer:up socks5@1', 'layer:start tls@2', 'layer:up tls@2', 'layer:start http2@2', 'layer:up http2@2',
    'stream:headers-sent', 'stream:body-sent', 'stream:response 200', 'stream:end 5',
    'layer:down http2@2', 'layer:down tls@2', 'layer:down socks5@1', 'layer:down tls@1', 'layer:down http2-connect@0', 'layer:down http2@0', 'layer:down tls@0', 'layer:down tcp@0',
    'stream:error ERR_CLOSED', 'connection:closed null',
  ],
};

/** The line of a CONNECT start without its port (it changes every run). */
function stable(line: string): string {
  return line.replace(/^stream:start CONNECT .*$/, 'stream:start CONNECT');
}

describe('channels: every layer of every chain kind', () => {
  let s: Servers;
  before(async () => {
    s = await startServers();
  });
  after(() => s.close());

  for (const [name, build] of Object.entries(CHAINS)) {
    it(`${name}: the exact sequence, and the handler sees the same messages`, async () => {
      const log = new EventLog();
      const handled: Logged[] = [];
      const handler: EventHandler = {};
      const rec = (channel: Logged['channel']) => (message: unknown): void => {
        handled.push({ channel, message });
      };
      for (const [method, channel] of [
        ['connectionCreated', 'burrow:connection:created'], ['connectionUp', 'burrow:connection:up'], ['connectionDown', 'burrow:connection:down'],
        ['connectionRetry', 'burrow:connection:retry'], ['connectionClosed', 'burrow:connection:closed'], ['layerStart', 'burrow:layer:start'],
        ['layerUp', 'burrow:layer:up'], ['layerError', 'burrow:layer:error'], ['layerDown', 'burrow:layer:down'], ['streamStart', 'burrow:stream:start'],
        ['streamHeadersSent', 'burrow:stream:headers-sent'], ['streamBodySent', 'burrow:stream:body-sent'], ['streamInform', 'burrow:stream:inform'],
        ['streamResponse', 'burrow:stream:response'], ['streamTrailers', 'burrow:stream:trailers'], ['streamEnd', 'burrow:stream:end'],
        ['streamError', 'burrow:stream:error'], ['streamCancel', 'burrow:stream:cancel'], ['streamPush', 'burrow:stream:push'],
        ['dnsStart', 'dns:start'], ['dnsEnd', 'dns:end'],
      ] as const) (handler as Record<string, unknown>)[method] = rec(channel);
      const { conn, tunnel } = build(s, { events: handler });
      try {
        const r = conn.get('/', {}, tunnel ? { tunnel } : {});
        assert.equal((await conn.awaitBody(r, 3000)).body.toString(), 'hello');
      } finally {
        await conn.close();
        log.stop();
      }
      assert.deepEqual(log.lines(conn.id).map(stable), SEQUENCES[name]);
      assert.deepEqual(handled.map(render).map(stable), SEQUENCES[name]);
      // The same payloads, not copies of another shape.
      const fromChannels = log.of(conn.id).filter((e) => !e.channel.startsWith('dns'));
      const fromHandler = handled.filter((e) => !e.channel.startsWith('dns'));
      assert.deepEqual(fromHandler.map((e) => e.message), fromChannels.map((e) => e.message));
    });
  }

  it('payloads: parents, tunnels, TLS details, CONNECT answer, SOCKS5 reply, timings and bytes (three hops)', async () => {
    const log = new EventLog();
    const { conn, tunnel } = CHAINS['three hops, TLS three deep (HTTP/2 CONNECT, SOCKS5 over TLS, HTTPS)']?.(s) ?? assert.fail();
    let during: LayerInfo[] = [];
    try {
      const r = conn.get('/bytes/100000', {}, { tunnel });
      const body = await conn.awaitBody(r, 3000);
      assert.equal(body.body.length, 100000);
      during = conn.streamInfo(tunnel as NonNullable<typeof tunnel>)?.layers ?? [];
    } finally {
      await conn.close();
      log.stop();
    }
    const ups = log.on(conn.id, 'burrow:layer:up').map((e) => e.layer);
    const downs = log.on(conn.id, 'burrow:layer:down').map((e) => e.layer);
    const byKind = (k: string, hop: number): LayerInfo => ups.find((l) => l.kind === k && l.hop.index === hop) ?? assert.fail(`no ${k}@${hop}`);
    const tcp = byKind('tcp', 0);
    const tls0 = byKind('tls', 0);
    const h2 = byKind('http2', 0);
    const connect = byKind('http2-connect', 0);
    const tls1 = byKind('tls', 1);
    const socks = byKind('socks5', 1);
    const tls2 = byKind('tls', 2);
    const origin = byKind('http2', 2);
    // Each layer runs over the one before it.
    assert.deepEqual([tcp.parent, tls0.parent, h2.parent, connect.parent, tls1.parent, socks.parent, tls2.parent, origin.parent], [undefined, tcp.id, tls0.id, h2.id, connect.id, tls1.id, socks.id, tls2.id]);
    assert.equal(tcp.tunnel, undefined);
    assert.deepEqual(connect.tunnel, tunnel?.path);
    assert.deepEqual(origin.tunnel, tunnel?.path);
    // Hops: the first hop is an `origin` until it is sent a CONNECT, then a `connect` proxy (each event
    // shows the layer as it was then); the SOCKS server and the origin.
    assert.deepEqual([tcp.hop.kind, connect.hop.kind, socks.hop.kind, origin.hop.kind], ['origin', 'connect', 'socks5', 'origin']);
    assert.deepEqual(downs.filter((l) => l.hop.index === 0).map((l) => l.hop.kind), ['connect', 'connect', 'connect', 'connect']);
    assert.deepEqual([socks.hop.port, origin.hop.port], [s.socksTls.port, s.h2.port]);
    // TLS: version, ALPN, SNI, and the certificate each hop presented.
    const fingerprint = new X509Certificate(s.pki.server.cert).fingerprint256;
    for (const [l, alpn] of [[tls0, 'h2'], [tls1, null], [tls2, 'h2']] as const) {
      assert.equal(l.tls?.version, 'TLSv1.3');
      assert.equal(l.tls?.alpn, alpn);
      assert.equal(l.tls?.servername, 'localhost');
      assert.equal(l.tls?.authorized, true);
      assert.equal(l.tls?.certificate?.fingerprint256, fingerprint);
      assert.match(l.tls?.certificate?.subject ?? '', /CN=localhost/);
      assert.match(l.tls?.certificate?.issuer ?? '', /CN=burrow test CA/);
      assert.ok(typeof l.tls?.cipher === 'string' && l.tls.cipher.length > 0);
    }
    assert.equal(tcp.tcp?.remotePort, s.h2tls.port);
    assert.equal(connect.connect?.target, `localhost:${s.socksTls.port}`);
    assert.equal(connect.connect?.status, 200);
    assert.equal(connect.connect?.earlyBytes, 0);
    assert.deepEqual({ ...socks.socks5, bound: socks.socks5?.bound }, { target: `localhost:${s.h2.port}`, method: 'none', reply: 0, bound: { host: '1.2.3.4', port: 33333 } });
    // Timings: each layer started before it came up, and after the one below came up.
    for (const l of ups) {
      assert.equal(l.state, 'up');
      assert.ok(l.upAt !== undefined && l.upAt >= l.startedAt && l.durationMs === l.upAt - l.startedAt, l.kind);
    }
    for (const [below, above] of [[tcp, tls0], [tls0, h2], [connect, tls1], [tls1, socks], [socks, tls2], [tls2, origin]] as const) {
      assert.ok((below.upAt as number) <= above.startedAt + 1, `${below.kind} up before ${above.kind} started`);
    }
    // Bytes: the 100 kB body went through every layer, as ciphertext below each TLS layer.
    assert.equal(downs.length, 8);
    for (const l of downs) {
      assert.equal(l.state, 'down');
      if (l.kind !== 'http2' || l.hop.index === 2) assert.ok(l.bytesIn > 100000, `${l.kind}@${l.hop.index} read ${l.bytesIn}`);
      assert.ok(l.bytesOut > 0, `${l.kind}@${l.hop.index} wrote ${l.bytesOut}`);
    }
    const down = (k: string, hop: number): LayerInfo => downs.find((l) => l.kind === k && l.hop.index === hop) ?? assert.fail();
    assert.ok(down('tls', 0).bytesIn > down('tls', 1).bytesIn && down('tls', 1).bytesIn > down('tls', 2).bytesIn, 'each TLS layer adds its overhead');
    // streamInfo() while the tunnel was open listed the same chain.
    assert.deepEqual(during.map((l) => `${l.kind}@${l.hop.index}`), ['tcp@0', 'tls@0', 'http2@0', 'http2-connect@0', 'tls@1', 'socks5@1', 'tls@2', 'http2@2']);
    assert.deepEqual(during.map((l) => l.id), [tcp, tls0, h2, connect, tls1, socks, tls2, origin].map((l) => l.id));
  });
});

/** One failing stage: how to make it fail, and the error line expected. */
interface FailureCase {
  readonly name: string;
  /** Opens the chain; the request goes in `tunnel` when given. */
  readonly run: (s: Servers) => { conn: ReturnType<typeof open>; tunnel?: ReturnType<ReturnType<typeof open>['connect']> };
  /** The `layer:error` line. */
  readonly error: string;
  /** The layers that were up and went down, in order. */
  readonly down: readonly string[];
}

const FAILURES: readonly FailureCase[] = [
  {
    name: 'dns (hop 0)',
    run: (s) => ({ conn: open({ host: 'no-such-host.test', port: s.http.port, protocols: ['http'], retry: 0, lookup: () => Promise.reject(new Error('NXDOMAIN')) }) }),
    error: 'layer:error tcp@0 ERR_DNS/dns@0',
    down: [],
  },
  {
    name: 'tcp (hop 0, refused)',
    run: () => ({ conn: open({ host: '127.0.0.1', port: 1, protocols: ['http'], retry: 0 }) }),
    error: 'layer:error tcp@0 ERR_CONNECT/tcp@0',
    down: [],
  },
  {
    name: 'tls (hop 0, an untrusted certificate)',
    run: (s) => ({ conn: open({ host: 'localhost', port: s.proxyTls.port, transport: 'tls', tls: { ca: s.otherPki.ca }, protocols: ['http'], retry: 0 }) }),
    error: 'layer:error tls@0 ERR_TLS/tls@0',
    down: ['tcp@0'],
  },
  {
    name: 'tls (hop 1, inside an HTTP/2 CONNECT tunnel)',
    run: (s) => {
      const conn = open({ host: 'localhost', port: s.h2c.port, protocols: ['http2'], retry: 0 });
      return { conn, tunnel: conn.connect({ host: 'localhost', port: s.https.port, transport: 'tls', tls: { ca: s.otherPki.ca }, protocols: ['http'] }) };
    },
    error: 'layer:error tls@1 ERR_TLS/tls@1',
    down: ['http2-connect@0', 'http2@0', 'tcp@0'],
  },
  {
    name: 'connect-response (HTTP/1.1 proxy answers 403)',
    run: (s) => {
      const conn = open({ host: 'localhost', port: s.refusing.port, protocols: ['http'], retry: 0 });
      return { conn, tunnel: conn.connect({ host: 'localhost', port: s.http.port }) };
    },
    error: 'layer:error http1-connect@0 ERR_CONNECT_STATUS/connect-response@0',
    down: ['http1@0', 'tcp@0'],
  },
  {
    name: 'timeout (the proxy never answers the CONNECT)',
    run: (s) => {
      const conn = open({ host: 'localhost', port: s.silent.port, protocols: ['http'], retry: 0 });
      return { conn, tunnel: conn.connect({ host: 'localhost', port: s.http.port, connectTimeout: 50 }) };
    },
    error: 'layer:error http1-connect@0 ERR_CONNECT_RESPONSE_TIMEOUT/timeout@0',
    down: ['http1@0', 'tcp@0'],
  },
  {
    name: 'socks-auth (the server wants credentials, none offered)',
    run: (s) => ({ conn: open({ host: 'localhost', port: s.socksAuth.port, protocols: [{ socks: { host: 'localhost', port: s.http.port } }], retry: 0 }) }),
    error: 'layer:error socks5@0 ERR_SOCKS_NO_ACCEPTABLE_METHOD/socks-auth@0',
    down: ['tcp@0'],
  },
  {
    name: 'socks-reply (the server refuses the destination)',
    run: (s) => ({ conn: open({ host: 'localhost', port: s.socksRefusing.port, protocols: [{ socks: { host: 'localhost', port: s.http.port } }], retry: 0 }) }),
    error: 'layer:error socks5@0 ERR_SOCKS_REPLY/socks-reply@0',
    down: ['tcp@0'],
  },
];

describe('channels: a failure at every stage names its layer, hop and stage', () => {
  let s: Servers;
  before(async () => {
    s = await startServers();
  });
  after(() => s.close());

  for (const c of FAILURES) {
    it(c.name, async () => {
      const baseline = resourceSnapshot();
      const log = new EventLog();
      const { conn, tunnel } = c.run(s);
      try {
        const r = conn.get('/', {}, tunnel ? { tunnel } : {});
        await assert.rejects(conn.awaitBody(r, 3000));
      } finally {
        await conn.close();
        log.stop();
      }
      const lines = log.lines(conn.id);
      const errors = lines.filter((l) => l.startsWith('layer:error'));
      assert.deepEqual(errors, [c.error], lines.join('\n'));
      assert.deepEqual(lines.filter((l) => l.startsWith('layer:down')).map((l) => l.slice('layer:down '.length)), c.down, lines.join('\n'));
      // Every layer that started ended once: up then down, or failed.
      const started = log.on(conn.id, 'burrow:layer:start').map((e) => e.layer.id);
      const ended = [...log.on(conn.id, 'burrow:layer:down'), ...log.on(conn.id, 'burrow:layer:error').filter((e) => e.layer.state === 'failed')].map((e) => e.layer.id);
      assert.deepEqual([...ended].sort(), [...started].sort(), lines.join('\n'));
      assert.equal(lines.at(-1)?.startsWith('connection:closed'), true);
      await assertNoLeaks(baseline);
    });
  }

  it('http (the origin sends garbage): the protocol layer that was up reports the error, then goes down', async () => {
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        await c.readRequestHead();
        await c.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxGARBAGE\r\n\r\n');
      },
    });
    const log = new EventLog();
    const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 0 });
    try {
      const a = conn.get('/a');
      const b = conn.get('/b');
      assert.equal((await conn.awaitBody(a, 2000)).body.toString(), 'x');
      await assert.rejects(conn.awaitBody(b, 2000));
      const lines = log.lines(conn.id);
      assert.deepEqual(lines.filter((l) => l.startsWith('layer:')), ['layer:start tcp@0', 'layer:up tcp@0', 'layer:start http1@0', 'layer:up http1@0', 'layer:error http1@0 ERR_HTTP_PARSE/http@0', 'layer:down http1@0', 'layer:down tcp@0']);
      assert.ok(lines.includes('connection:down ERR_HTTP_PARSE retry=false'), lines.join('\n'));
    } finally {
      await conn.close();
      log.stop();
      await srv.close();
    }
  });
});

describe('channels: a connection lost, retried and given up', () => {
  it('connection:down says whether a retry follows; connection:retry has the delay; connection:closed the last error', async () => {
    const baseline = resourceSnapshot();
    const srv = await startScriptedServer({ onConnection: (c) => c.destroy() });
    const log = new EventLog();
    const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 1, retryTimeout: 7 });
    const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    try {
      await closed;
    } finally {
      await conn.close();
      log.stop();
      await srv.close();
    }
    const lines = log.lines(conn.id).filter((l) => l.startsWith('connection:'));
    assert.deepEqual(lines, [
      'connection:created',
      'connection:up http [tcp@0,http1@0]',
      'connection:down ERR_CONNECTION_CLOSED retry=true',
      'connection:retry ERR_CONNECTION_CLOSED',
      'connection:up http [tcp@0,http1@0]',
      'connection:down ERR_CONNECTION_CLOSED retry=false',
      'connection:closed ERR_CONNECTION_CLOSED',
    ]);
    const retry = log.on(conn.id, 'burrow:connection:retry')[0];
    assert.equal(retry?.delayMs, 0, 'the first retry is immediate (Gun)');
    assert.equal(retry?.retriesLeft, 0);
    await assertNoLeaks(baseline);
  });
});
