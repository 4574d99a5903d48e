// ChainAgent's behaviour as an http.Agent through real proxies (test/peers/harness.ts): a 100 MiB
// download checked by hash; a refused second hop reaching each client as its own error with the
// BurrowError (hop index and stage) inside; an abort mid-body leaving no socket open; keep-alive reuse
// of a tunnel; maxSockets; the environment's chains (fromEnv, NO_PROXY with a CIDR block).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import axios from 'axios';
import got, { RequestError } from 'got';
import fetch from 'node-fetch';
import { ChainAgent, isBurrowError, type BurrowError, type ChainAgentOptions } from '../../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../../helpers/leaks.js';
import { startPeers, type Peers } from '../../peers/harness.js';
import { CLIENTS } from './clients.js';

const TEST_TIMEOUT = { timeout: 60_000 };
const BIG_TIMEOUT = { timeout: 180_000 };

/** GET with https.get: status, body, the socket it went out on and whether that socket was reused. */
function get(url: string, agent: ChainAgent, ca: string): Promise<{ status: number; body: Buffer; socket: Socket | Duplex; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent, ca }, (res) => {
      // Taken now: after the end of the response, a kept-alive socket is no longer the response's.
      const socket = res.socket;
      assert.ok(socket);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), socket, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('ChainAgent', () => {
  let peers: Peers;
  let baseline: string[];
  before(async () => {
    peers = await startPeers();
    baseline = resourceSnapshot();
  });
  after(async () => {
    await peers?.stop();
  });

  const squidTls = (): NonNullable<ChainAgentOptions['via']> => [{ url: `https://localhost:${peers.ports.squidTls}`, tls: { ca: peers.ca } }];
  const h2ThenSocks = (): NonNullable<ChainAgentOptions['via']> => [
    { url: `h2://localhost:${peers.ports.nghttpxTls}`, tls: { ca: peers.ca } },
    { url: `socks5hs://localhost:${peers.ports.stunnelSocks}`, tls: { ca: peers.ca } },
  ];
  const nginx = (path: string): string => `https://localhost:${peers.ports.nginxTls}${path}`;

  it('downloads 100 MiB through squid over TLS, byte for byte (SHA-256)', BIG_TIMEOUT, async () => {
    const agent = new ChainAgent({ via: squidTls() });
    try {
      const { size, sha256 } = await new Promise<{ size: number; sha256: string }>((resolve, reject) => {
        https
          .get(nginx(peers.big.path), { agent, ca: peers.ca }, (res) => {
            const h = createHash('sha256');
            let n = 0;
            res.on('data', (c: Buffer) => {
              n += c.length;
              h.update(c);
            });
            res.on('end', () => resolve({ size: n, sha256: h.digest('hex') }));
            res.on('error', reject);
          })
          .on('error', reject);
      });
      assert.equal(size, peers.big.size);
      assert.equal(sha256, peers.big.sha256);
    } finally {
      agent.destroy();
    }
    await assertNoLeaks(baseline);
  });

  describe('a refused second hop reaches each client as its own error with the BurrowError inside', () => {
    // squid (hop 1) does not allow CONNECT to the unlisted port: a 403 at hop 1, stage connect-response.
    const via = (): NonNullable<ChainAgentOptions['via']> => [...squidTls(), `http://localhost:${peers.ports.squid}`];
    const burrowErrorOf: Record<string, (e: unknown) => unknown> = {
      'http.request': (e) => e,
      axios: (e) => (axios.isAxiosError(e) ? e.cause : undefined),
      got: (e) => (e instanceof RequestError ? e.cause : undefined),
      ws: (e) => e,
    };
    for (const client of CLIENTS) {
      it(client.name, TEST_TIMEOUT, async () => {
        const agent = new ChainAgent({ via: via(), originTls: { ca: peers.ca } });
        try {
          const e = await client.fail(`https://localhost:${peers.ports.unlisted}/small`, agent, peers.ca);
          assert.ok(e !== undefined, 'the request succeeded');
          if (client.name === 'node-fetch') {
            // node-fetch keeps no cause: its FetchError carries the BurrowError's code and message.
            const f = e as { name?: string; type?: string; code?: string; message: string };
            assert.equal(f.name, 'FetchError');
            assert.equal(f.type, 'system');
            assert.equal(f.code, 'ERR_CONNECT_STATUS');
            assert.match(f.message, /hop 1 \(connect tcp:\/\/localhost:\d+\): .* refused CONNECT .* 403/);
          } else {
            const inner = burrowErrorOf[client.name]?.(e);
            assert.ok(isBurrowError(inner), `no BurrowError in ${String(e)}`);
            const b = inner as BurrowError;
            assert.equal(b.code, 'ERR_CONNECT_STATUS');
            assert.equal(b.stage, 'connect-response');
            assert.equal(b.hop?.index, 1);
            assert.equal(b.hop?.port, peers.ports.squid);
            assert.deepEqual(b.details, { status: 403 });
          }
        } finally {
          agent.destroy();
        }
        await assertNoLeaks(baseline);
      });
    }
  });

  it("a failed TLS handshake with the origin is ERR_TLS at the origin's hop, and closes the chain", TEST_TIMEOUT, async () => {
    const agent = new ChainAgent({ via: h2ThenSocks() });
    try {
      // No CA for the origin: its certificate does not verify.
      const e = await new Promise<unknown>((resolve) => {
        https.get(nginx('/small'), { agent }, () => resolve(undefined)).on('error', resolve);
      });
      assert.ok(isBurrowError(e), String(e));
      assert.equal(e.code, 'ERR_TLS');
      assert.equal(e.stage, 'tls');
      assert.deepEqual({ index: e.hop?.index, kind: e.hop?.kind, port: e.hop?.port }, { index: 2, kind: 'origin', port: peers.ports.nginxTls });
    } finally {
      agent.destroy();
    }
    await assertNoLeaks(baseline);
  });

  it('a request destroyed while its chain opens leaves no socket open', TEST_TIMEOUT, async () => {
    let started!: () => void;
    const layerStarted = new Promise<void>((resolve) => (started = resolve));
    const agent = new ChainAgent({ via: h2ThenSocks(), events: { layerStart: () => started() } });
    const req = https.get(nginx('/small'), { agent, ca: peers.ca });
    const closed = new Promise<void>((resolve) => req.on('close', resolve));
    req.on('error', () => undefined);
    await layerStarted;
    req.destroy();
    await closed;
    await assertNoLeaks(baseline);
    agent.destroy();
  });

  describe('an abort mid-body leaves no socket open', () => {
    const chains = { 'squid over TLS': squidTls, 'nghttpx (HTTP/2) then SOCKS5 over TLS': h2ThenSocks };
    for (const [name, via] of Object.entries(chains)) {
      it(`https.get destroyed after its first chunk, through ${name}`, TEST_TIMEOUT, async () => {
        const agent = new ChainAgent({ via: via(), keepAlive: true });
        await new Promise<void>((resolve, reject) => {
          const req = https.get(nginx(peers.big.path), { agent, ca: peers.ca }, (res) => {
            res.once('data', () => req.destroy());
            res.once('error', () => undefined);
          });
          req.on('error', (e: Error & { code?: string }) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
          req.on('close', resolve);
        });
        // No agent.destroy(): the aborted request's tunnel must be gone on its own.
        await assertNoLeaks(baseline);
        agent.destroy();
      });

      it(`got and node-fetch aborted with a signal mid-body, through ${name}`, TEST_TIMEOUT, async () => {
        const agent = new ChainAgent({ via: via(), originTls: { ca: peers.ca } });
        const ac1 = new AbortController();
        const stream = got.stream(nginx(peers.big.path), { agent: { https: agent }, https: { certificateAuthority: peers.ca }, signal: ac1.signal, retry: { limit: 0 } });
        await new Promise<void>((resolve) => {
          stream.once('data', () => ac1.abort());
          stream.once('error', () => resolve());
        });
        const ac2 = new AbortController();
        const res = await fetch(nginx(peers.big.path), { agent, signal: ac2.signal });
        const body = res.body;
        assert.ok(body);
        await new Promise<void>((resolve) => {
          body.once('data', () => ac2.abort());
          body.once('error', () => resolve());
        });
        await assertNoLeaks(baseline);
        agent.destroy();
      });
    }
  });

  it('keep-alive: a second request to the same origin reuses the tunnel', TEST_TIMEOUT, async () => {
    let connections = 0;
    const agent = new ChainAgent({ via: h2ThenSocks(), keepAlive: true, events: { connectionCreated: () => void connections++ } });
    try {
      const a = await get(nginx('/small'), agent, peers.ca);
      const b = await get(nginx('/small'), agent, peers.ca);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(a.reused, false);
      assert.equal(b.reused, true);
      assert.equal(b.socket, a.socket);
      assert.equal(connections, 1);
      // Another origin is another route: a tunnel of its own.
      const c = await get(`https://localhost:${peers.ports.nginxTlsH1}/small`, agent, peers.ca);
      assert.equal(c.reused, false);
      assert.equal(connections, 2);
    } finally {
      agent.destroy();
    }
    await assertNoLeaks(baseline);
  });

  it('maxSockets bounds the tunnels open at once per origin, tunnels still being opened included', TEST_TIMEOUT, async () => {
    let open = 0;
    let most = 0;
    let created = 0;
    const agent = new ChainAgent({
      via: squidTls(),
      keepAlive: true,
      maxSockets: 2,
      events: {
        connectionCreated: () => {
          created++;
          most = Math.max(most, ++open);
        },
        connectionClosed: () => void open--,
      },
    });
    try {
      const replies = await Promise.all(Array.from({ length: 6 }, () => get(nginx('/small'), agent, peers.ca)));
      for (const r of replies) assert.equal(r.body.toString(), 'hello from nginx\n');
      assert.equal(new Set(replies.map((r) => r.socket)).size, 2);
      assert.equal(created, 2);
      assert.ok(most <= 2, `${most} tunnels were opened at once`);
    } finally {
      agent.destroy();
    }
    await assertNoLeaks(baseline);
  });

  it('maxSockets: requests queued behind a chain that fails each get their own error (none waits forever)', TEST_TIMEOUT, async () => {
    const agent = new ChainAgent({ via: squidTls(), maxSockets: 1 });
    try {
      // squid refuses CONNECT to the unlisted port: every tunnel fails, one at a time.
      const errors = await Promise.all(Array.from({ length: 3 }, () => get(`https://localhost:${peers.ports.unlisted}/small`, agent, peers.ca).then(() => undefined, (e: unknown) => e)));
      for (const e of errors) {
        assert.ok(isBurrowError(e), String(e));
        assert.equal(e.code, 'ERR_CONNECT_STATUS');
      }
    } finally {
      agent.destroy();
    }
    await assertNoLeaks(baseline);
  });

  describe('fromEnv', () => {
    it('takes the chain of an https: URL from HTTPS_PROXY', TEST_TIMEOUT, async () => {
      const layers: string[] = [];
      const agent = ChainAgent.fromEnv({ env: { HTTPS_PROXY: `http://localhost:${peers.ports.squid}` }, events: { layerUp: (e) => void layers.push(e.layer.kind) } });
      try {
        const r = await get(nginx('/small'), agent, peers.ca);
        assert.equal(r.status, 200);
        assert.deepEqual(layers, ['tcp', 'http1', 'http1-connect', 'raw']);
      } finally {
        agent.destroy();
      }
      await assertNoLeaks(baseline);
    });

    it('sends a request whose host NO_PROXY matches by CIDR block directly, the others through the proxy', TEST_TIMEOUT, async () => {
      // The proxy of the environment is a port nothing listens on: only a direct request can succeed.
      const env = { HTTPS_PROXY: `http://127.0.0.1:${peers.ports.closed}`, NO_PROXY: '127.0.0.0/8' };
      const agent = ChainAgent.fromEnv({ env });
      try {
        const direct = await get(`https://127.0.0.1:${peers.ports.nginxTls}/small`, agent, peers.ca);
        assert.equal(direct.status, 200);
        const e = await get(nginx('/small'), agent, peers.ca).then(() => undefined, (err: unknown) => err);
        assert.ok(isBurrowError(e));
        assert.equal(e.code, 'ERR_CONNECT');
        assert.equal(e.hop?.index, 0);
        assert.equal(e.hop?.port, peers.ports.closed);
      } finally {
        agent.destroy();
      }
      await assertNoLeaks(baseline);
    });
  });
});
