// ChainAgent with real clients (Node's http/https, axios, got, node-fetch, ws) through real proxies
// (test/peers/harness.ts): for each client, a GET and a POST with a streamed body through squid over
// TLS; nghttpx's HTTP/2 proxy then stunnel's SOCKS5 over TLS; and three hops with TLS three deep. The
// origin is nginx (https:, and http: once per client) or, for ws, a WebSocket echo server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { WebSocketServer, type WebSocket } from 'ws';
import { ChainAgent, type ChainAgentOptions } from '../../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../../helpers/leaks.js';
import { startPeers, type Peers } from '../../peers/harness.js';
import { CLIENTS, streamedBody } from './clients.js';

const TEST_TIMEOUT = { timeout: 60_000 };

describe('ChainAgent with real clients through real proxies', () => {
  let peers: Peers;
  let wsServer: Server;
  let baseline: string[];
  // The echo server's side of each WebSocket: it closes after the client's, once the close went through the chain.
  const serverSide = new Set<WebSocket>();
  const idleWaiters: Array<() => void> = [];
  const serverIdle = (): Promise<void> => (serverSide.size === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve)));

  before(async () => {
    peers = await startPeers();
    // The WebSocket echo server listens on the port every proxy's ACL allows and nothing else uses.
    wsServer = createServer({ cert: peers.pki.server.cert, key: peers.pki.server.key });
    const wss = new WebSocketServer({ server: wsServer });
    wss.on('connection', (ws) => {
      serverSide.add(ws);
      ws.on('close', () => {
        serverSide.delete(ws);
        if (serverSide.size === 0) for (const w of idleWaiters.splice(0)) w();
      });
      ws.send('hello from ws');
      ws.on('message', (data: Buffer) => ws.send(data));
    });
    await new Promise<void>((resolve) => wsServer.listen(peers.ports.closed, '127.0.0.1', resolve));
    baseline = resourceSnapshot();
  });
  after(async () => {
    wsServer?.closeAllConnections();
    await new Promise<void>((resolve) => (wsServer ? wsServer.close(() => resolve()) : resolve()));
    await peers?.stop();
  });

  const chains: Record<string, () => NonNullable<ChainAgentOptions['via']>> = {
    'squid over TLS': () => [{ url: `https://localhost:${peers.ports.squidTls}`, tls: { ca: peers.ca } }],
    "nghttpx's HTTP/2 proxy, then stunnel's SOCKS5 over TLS": () => [
      { url: `h2://localhost:${peers.ports.nghttpxTls}`, tls: { ca: peers.ca } },
      { url: `socks5hs://localhost:${peers.ports.stunnelSocks}`, tls: { ca: peers.ca } },
    ],
    'three hops, TLS three deep (squid, nghttpx, stunnel+dante)': () => [
      { url: `https://localhost:${peers.ports.squidTls}`, tls: { ca: peers.ca } },
      { url: `h2://localhost:${peers.ports.nghttpxTls}`, tls: { ca: peers.ca } },
      { url: `socks5hs://localhost:${peers.ports.stunnelSocks}`, tls: { ca: peers.ca } },
    ],
  };

  for (const client of CLIENTS) {
    describe(client.name, () => {
      const origin = (): string => (client.name === 'ws' ? `https://localhost:${peers.ports.closed}` : `https://localhost:${peers.ports.nginxTls}`);
      for (const [chainName, via] of Object.entries(chains)) {
        it(`GET through ${chainName}`, TEST_TIMEOUT, async () => {
          // node-fetch and axios take no TLS options per request: the agent's originTls gives the CA.
          const agent = new ChainAgent({ via: via(), originTls: { ca: peers.ca } });
          try {
            const r = await client.get(`${origin()}/small`, agent, peers.ca);
            if (client.name === 'ws') assert.equal(r.body.toString(), 'hello from ws');
            else {
              assert.equal(r.status, 200);
              assert.equal(r.body.toString(), 'hello from nginx\n');
            }
          } finally {
            agent.destroy();
          }
          await serverIdle();
          await assertNoLeaks(baseline);
        });

        it(`POST with a streamed body through ${chainName}`, TEST_TIMEOUT, async () => {
          const agent = new ChainAgent({ via: via(), originTls: { ca: peers.ca } });
          try {
            const { body, size, sha256 } = streamedBody(64);
            const r = await client.post(`${origin()}/echo`, agent, peers.ca, body);
            assert.equal(r.body.length, size);
            assert.equal(createHash('sha256').update(r.body).digest('hex'), sha256);
          } finally {
            agent.destroy();
          }
          await serverIdle();
          await assertNoLeaks(baseline);
        });
      }

      if (client.name !== 'ws') {
        it('GET of an http: origin through squid over TLS (the same agent serves http: and https:)', TEST_TIMEOUT, async () => {
          const agent = new ChainAgent({ via: chains['squid over TLS']?.() ?? [], originTls: { ca: peers.ca } });
          try {
            const plain = await client.get(`http://localhost:${peers.ports.nginxHttp}/info`, agent, peers.ca);
            assert.equal(plain.status, 200);
            assert.match(plain.body.toString(), /^HTTP\/1\.1 http /);
            const secure = await client.get(`https://localhost:${peers.ports.nginxTls}/info`, agent, peers.ca);
            assert.match(secure.body.toString(), /^HTTP\/1\.1 https .* http\/1\.1/);
          } finally {
            agent.destroy();
          }
          await assertNoLeaks(baseline);
        });
      }
    });
  }
});
