// Server-sent events from a real origin (nginx's echo module writing chunked text/event-stream) through real
// chains: squid over TLS, and nghttpx (HTTP/2 CONNECT over TLS) → stunnel + dante (SOCKS5 over TLS): res.events()
// and EventSource, whose reconnection after the stream's retry sends Last-Event-ID through the same chain.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource, request, type SseEvent, type TlsOptions, type ViaEntry } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { within } from '../regressions/util.js';
import { startPeers, type Peers } from './harness.js';

const TEST_TIMEOUT = { timeout: 60_000 };

describe('server-sent events with real peers (nginx, squid, nghttpx, stunnel + dante)', () => {
  let peers: Peers;
  let tls: TlsOptions;
  let baseline: string[];

  before(async () => {
    peers = await startPeers();
    tls = { ca: peers.ca };
    baseline = resourceSnapshot();
  });
  after(async () => {
    await peers?.stop();
  });

  const chains: ReadonlyArray<{ name: string; via: () => ViaEntry[] }> = [
    { name: 'squid (TLS)', via: () => [{ url: `https://localhost:${peers.ports.squidTls}`, tls }] },
    { name: 'nghttpx (h2) → stunnel + dante (socks5hs)', via: () => [{ url: `h2://localhost:${peers.ports.nghttpxTls}`, tls }, { url: `socks5hs://localhost:${peers.ports.stunnelSocks}`, tls }] },
  ];

  for (const chain of chains) {
    it(`res.events() through ${chain.name}, HTTP/1.1 and HTTP/2 at nginx`, TEST_TIMEOUT, async () => {
      for (const [port, protocols] of [[peers.ports.nginxTls, ['http2'] as const], [peers.ports.nginxTlsH1, ['http'] as const]] as const) {
        const res = await request(`https://localhost:${port}/sse`, { via: chain.via(), tls, protocols, pool: false, headers: { accept: 'text/event-stream', 'last-event-id': 'x' } });
        assert.equal(res.status, 200);
        assert.equal(res.header('content-type'), 'text/event-stream');
        if (protocols[0] === 'http') assert.equal(res.header('transfer-encoding'), 'chunked');
        const got: SseEvent[] = [];
        for await (const e of res.events()) got.push(e);
        assert.deepEqual(got, [
          { event: 'message', data: 'one', id: '1', retry: undefined },
          { event: 'tick', data: 'two\nlines', id: '1', retry: undefined },
          { event: 'message', data: 'last-event-id=x', id: '2', retry: 20 },
        ], `protocols ${protocols[0]}`);
      }
      await assertNoLeaks(baseline);
    });

    it(`EventSource through ${chain.name}: events, then the reconnection with Last-Event-ID`, TEST_TIMEOUT, async () => {
      const es = new EventSource(`https://localhost:${peers.ports.nginxTls}/sse`, { via: chain.via(), tls, pool: false });
      const got: string[] = [];
      let errors = 0;
      es.onerror = () => void errors++;
      es.addEventListener('tick', (e) => got.push(`tick:${String((e as MessageEvent).data)}`));
      const reconnected = new Promise<void>((resolve) => {
        es.onmessage = (e) => {
          const m = e as MessageEvent;
          got.push(`${String(m.data)}@${m.lastEventId}`);
          if (m.data === 'last-event-id=2') {
            es.close();
            resolve();
          }
        };
      });
      await within(reconnected, 30_000, 'the event of the second connection');
      assert.deepEqual(got, ['one@1', 'tick:two\nlines', 'last-event-id=@2', 'one@1', 'tick:two\nlines', 'last-event-id=2@2']);
      assert.equal(errors, 1, 'one error event: the end of the first stream');
      assert.equal(es.readyState, EventSource.CLOSED);
      await assertNoLeaks(baseline);
    });
  }
});
