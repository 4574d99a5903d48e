// The OpenTelemetry example of docs/events.md (docs/examples/opentelemetry.ts), run with the real
// @opentelemetry/api and an in-memory exporter: a request() through three hops makes one request span
// and one span per layer, all of one trace, each layer a child of the request.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { request, Pool } from '../../src/index.js';
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
    const stop = instrumentBurrow(provider.getTracer('burrow-test'));
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
      stop();
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
});
