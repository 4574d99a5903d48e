// The OpenTelemetry example of docs/events.md (docs/examples/opentelemetry.ts), run with the real
// @opentelemetry/api and an in-memory exporter: a request() through three hops makes one request span
// and one span per layer, all of one trace, each layer a child of the request.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { request, Pool, CHANNEL_NAMES, type BurrowError, type LayerEvent } from '../../src/index.js';
import { instrumentBurrow } from '../../docs/examples/opentelemetry.js';
import { startServers, type Servers } from './chains.js';

describe('docs/examples/opentelemetry.ts', () => {
  let s: Servers;
  before(async () => {
    s = await startServers();
  });
  after(() => s.close());

  it('one span per request() and per layer of its chain, parented to the request, with the layers’ details', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const otel = instrumentBurrow(provider.getTracer('burrow-test'));
    const pool = new Pool();
    try {
      const res = await request(`https://localhost:${s.h2.port}/`, {
        via: [{ url: `h2://localhost:${s.h2tls.port}`, tls: { ca: s.pki.ca } }, { url: `socks5hs://localhost:${s.socksTls.port}`, tls: { ca: s.pki.ca } }],
        tls: { ca: s.pki.ca },
        pool,
      });
      assert.equal(await res.text(), 'hello');
      // A failing one: its span and the failed layer's carry the error.
      await assert.rejects(request(`http://localhost:${s.http.port}/`, { via: [`http://localhost:${s.refusing.port}`], pool }));
    } finally {
      await pool.close();
      otel.stop();
    }
    const spans = exporter.getFinishedSpans();
    const req = spans.filter((sp) => sp.name === 'burrow GET');
    assert.equal(req.length, 2);
    const [ok, failed] = req as [typeof spans[number], typeof spans[number]];
    const childrenOf = (parent: typeof ok): typeof spans => spans.filter((sp) => sp.parentSpanContext?.spanId === parent.spanContext().spanId);
    assert.deepEqual(childrenOf(ok).map((sp) => sp.name).sort(), ['http2 hop 0', 'http2 hop 2', 'http2-connect hop 0', 'socks5 hop 1', 'tcp hop 0', 'tls hop 0', 'tls hop 1', 'tls hop 2'].sort());
    for (const sp of childrenOf(ok)) assert.equal(sp.spanContext().traceId, ok.spanContext().traceId);
    assert.equal(ok.attributes['http.response.status_code'], 200);
    const tls2 = childrenOf(ok).find((sp) => sp.name === 'tls hop 2');
    assert.equal(tls2?.attributes['tls.protocol.version'], 'TLSv1.3');
    assert.equal(tls2?.attributes['tls.next_protocol'], 'h2');
    assert.match(String(tls2?.attributes['tls.server.subject']), /CN=localhost/);
    const socks = childrenOf(ok).find((sp) => sp.name === 'socks5 hop 1');
    assert.equal(socks?.attributes['burrow.socks5.reply'], 0);
    assert.equal(socks?.attributes['burrow.layer.parent'], childrenOf(ok).find((sp) => sp.name === 'tls hop 1')?.attributes['burrow.layer.id']);
    const refused = childrenOf(failed).find((sp) => sp.name === 'http1-connect hop 0');
    assert.equal(refused?.status.code, 2);
    assert.equal(refused?.attributes['error.type'], 'ERR_CONNECT_STATUS');
    assert.equal(failed.status.code, 2);
  });

  it('holds nothing after requests that succeed, fail, time out and are aborted, and every span it started ended', async () => {
    let started = 0;
    let ended = 0;
    const counting: SpanProcessor = {
      onStart: () => void started++,
      onEnd: () => void ended++,
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const provider = new BasicTracerProvider({ spanProcessors: [counting] });
    const otel = instrumentBurrow(provider.getTracer('burrow-test'));
    const pool = new Pool();
    // Aborts the request whose CONNECT to the silent proxy is starting (once the event is handled).
    let abortOnConnect: AbortController | undefined;
    const onLayerStart = (m: unknown): void => {
      const ac = abortOnConnect;
      if ((m as LayerEvent).layer.kind === 'http1-connect' && ac !== undefined) queueMicrotask(() => ac.abort());
    };
    dc.subscribe('burrow:layer:start', onLayerStart);
    const codes: string[] = [];
    const failing = async (p: Promise<unknown>): Promise<void> => {
      await assert.rejects(p, (e: BurrowError) => {
        codes.push(e.code);
        return true;
      });
    };
    try {
      for (let i = 0; i < 3; i++) {
        const ok = await request(`https://localhost:${s.https.port}/`, { via: [{ url: `https://localhost:${s.proxyTls.port}`, tls: { ca: s.pki.ca } }], tls: { ca: s.pki.ca }, pool });
        await ok.text();
        await failing(request(`http://localhost:${s.http.port}/`, { via: [`http://localhost:${s.refusing.port}`], pool }));
        await failing(request(`https://localhost:${s.https.port}/`, { via: [`socks5h://localhost:${s.socksRefusing.port}`], tls: { ca: s.pki.ca }, pool }));
        // A TLS layer that fails: the origin's certificate is not trusted.
        await failing(request(`https://localhost:${s.https.port}/`, { via: [`http://localhost:${s.proxy.port}`], pool }));
        await failing(request(`http://localhost:${s.http.port}/`, { via: [{ url: `http://localhost:${s.silent.port}`, connectTimeout: 50 }], pool }));
        abortOnConnect = new AbortController();
        await failing(request(`http://localhost:${s.http.port}/`, { via: [`http://localhost:${s.silent.port}`], pool, signal: abortOnConnect.signal }));
        abortOnConnect = undefined;
        // A response cancelled before its body is read.
        const cancelled = await request(`http://localhost:${s.http.port}/`, { via: [`h2c://localhost:${s.h2c.port}`], pool });
        cancelled.cancel();
      }
    } finally {
      dc.unsubscribe('burrow:layer:start', onLayerStart);
      await pool.close();
    }
    assert.deepEqual(otel.held(), { requests: 0, layers: 0, connections: 0 });
    assert.deepEqual(
      [...new Set(codes)].sort(),
      ['ERR_ABORTED', 'ERR_CONNECT_RESPONSE_TIMEOUT', 'ERR_CONNECT_STATUS', 'ERR_SOCKS_REPLY', 'ERR_TLS'].sort(),
    );
    assert.ok(started > 3 * 7, `${started} spans`);
    assert.equal(ended, started, 'every span started was ended');
    otel.stop();
    for (const name of CHANNEL_NAMES) assert.equal(dc.channel(name).hasSubscribers, false, name);
    for (const event of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) assert.equal(dc.channel(`tracing:burrow:request:${event}`).hasSubscribers, false, event);
  });
});
