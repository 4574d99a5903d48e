// Every timeout of request() names the hop and the stage it was waiting for: a proxy that accepts the
// connection and never answers (CONNECT over HTTP/1.1 or HTTP/2, SOCKS5 greeting, authentication or reply, TLS handshake),
// at every position of 1-, 2- and 3-hop chains, ended by the hop's own budget or by the request's total
// timeout, with no socket or timer left behind. The cases come from one table.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type ViaEntry } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { BurrowError, type ErrorCode } from '../../src/errors/errors.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { startScriptedServer, type ScriptedServer } from '../../src/testing/scripted.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** A hop's own budget in the cases where it fires, ms. */
const BUDGET = 150;
/** The total timeout in the cases where it fires (every hop budget left at its default), ms. */
const TOTAL = 250;
/** Generous: the error must come long before this, ms. */
const UPPER_BOUND = 5000;

interface Servers {
  origin: TestOrigin;
  healthy: TestConnectProxy;
  connectH1: TestConnectProxy;
  connectH2: TestH2ConnectProxy;
  socksGreeting: TestSocks5Server;
  socksReply: TestSocks5Server;
  socksAuth: TestSocks5Server;
  /** Accepts TCP and never says a word: a TLS handshake with it stalls. */
  silent: ScriptedServer;
}

/** A proxy that stalls, how to reach it, and what its timeout says. */
interface Stall {
  readonly name: string;
  readonly url: (s: Servers) => string;
  /** The per-hop option that bounds the wait. */
  readonly budget: 'connectTimeout' | 'socksTimeout' | 'tlsHandshakeTimeout';
  readonly code: ErrorCode;
  readonly kind: 'connect' | 'socks5';
  readonly during: string;
}

const STALLS: readonly Stall[] = [
  { name: 'CONNECT never answered (HTTP/1.1 proxy)', url: (s) => s.connectH1.url, budget: 'connectTimeout', code: 'ERR_CONNECT_RESPONSE_TIMEOUT', kind: 'connect', during: 'connect-response' },
  { name: 'CONNECT never answered (HTTP/2 proxy)', url: (s) => `h2c://127.0.0.1:${s.connectH2.port}`, budget: 'connectTimeout', code: 'ERR_CONNECT_RESPONSE_TIMEOUT', kind: 'connect', during: 'connect-response' },
  { name: 'SOCKS5 greeting never answered', url: (s) => `socks5h://127.0.0.1:${s.socksGreeting.port}`, budget: 'socksTimeout', code: 'ERR_SOCKS_TIMEOUT', kind: 'socks5', during: 'socks-auth' },
  { name: 'SOCKS5 username/password never answered', url: (s) => `socks5h://u:p@127.0.0.1:${s.socksAuth.port}`, budget: 'socksTimeout', code: 'ERR_SOCKS_TIMEOUT', kind: 'socks5', during: 'socks-auth' },
  { name: 'SOCKS5 reply never answered', url: (s) => `socks5h://127.0.0.1:${s.socksReply.port}`, budget: 'socksTimeout', code: 'ERR_SOCKS_TIMEOUT', kind: 'socks5', during: 'socks-reply' },
  { name: 'TLS handshake with the proxy stalled', url: (s) => `https://127.0.0.1:${s.silent.port}`, budget: 'tlsHandshakeTimeout', code: 'ERR_TLS_HANDSHAKE_TIMEOUT', kind: 'connect', during: 'tls' },
];

/** Which timeout ends the wait. */
type Ender = 'hop budget' | 'total timeout';

interface Case {
  readonly name: string;
  readonly hops: number;
  readonly at: number;
  readonly stall: Stall;
  readonly ender: Ender;
}

const CASES: Case[] = [];
for (const ender of ['hop budget', 'total timeout'] as const) {
  for (let hops = 1; hops <= 3; hops++) {
    for (let at = 0; at < hops; at++) {
      for (const stall of STALLS) CASES.push({ name: `${hops}-hop chain, hop ${at}: ${stall.name}, ended by the ${ender}`, hops, at, stall, ender });
    }
  }
}

function viaFor(c: Case, s: Servers): ViaEntry[] {
  const via: ViaEntry[] = [];
  for (let i = 0; i < c.hops; i++) {
    if (i !== c.at) via.push(s.healthy.url);
    else via.push(c.ender === 'hop budget' ? { url: c.stall.url(s), [c.stall.budget]: BUDGET } : c.stall.url(s));
  }
  return via;
}

describe('request(): a hop that never answers is named, with the stage, by its timeout', () => {
  let s: Servers;

  before(async () => {
    const silent = await startScriptedServer({
      onConnection: (conn) => {
        // Reads the ClientHello and answers nothing; closes when the client goes.
        conn.socket.on('end', () => conn.socket.destroy());
        conn.socket.on('error', () => conn.socket.destroy());
        conn.socket.resume();
      },
    });
    s = {
      origin: await startOrigin({ transport: 'tcp', protocol: 'http' }),
      healthy: await startConnectProxy(),
      connectH1: await startConnectProxy({ behavior: { neverAnswer: true } }),
      connectH2: await startH2ConnectProxy({ behavior: { neverAnswer: true } }),
      socksGreeting: await startSocks5Server({ behavior: { neverAnswer: 'greeting' } }),
      socksReply: await startSocks5Server({ behavior: { neverAnswer: 'connect' } }),
      socksAuth: await startSocks5Server({ auth: { username: 'u', password: 'p' }, behavior: { neverAnswer: 'auth' } }),
      silent,
    };
  });

  after(async () => {
    await Promise.all([s.origin.close(), s.healthy.close(), s.connectH1.close(), s.connectH2.close(), s.socksGreeting.close(), s.socksReply.close(), s.socksAuth.close(), s.silent.close()]);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const baseline = resourceSnapshot();
      const pool = new Pool();
      const t0 = performance.now();
      const err = await request(`http://127.0.0.1:${s.origin.port}/`, {
        via: viaFor(c, s),
        pool,
        timeouts: c.ender === 'total timeout' ? { total: TOTAL } : { total: UPPER_BOUND * 2 },
      }).then(
        () => assert.fail('the request succeeded'),
        (e: unknown) => e,
      );
      const elapsed = performance.now() - t0;
      assert.ok(err instanceof BurrowError, String(err));
      assert.equal(err.code, c.ender === 'hop budget' ? c.stall.code : 'ERR_REQUEST_TIMEOUT', err.message);
      assert.equal(err.stage, 'timeout');
      assert.equal(err.hop?.index, c.at, err.message);
      assert.equal(err.hop?.kind, c.stall.kind, err.message);
      assert.equal(err.hop?.port, Number(new URL(c.stall.url(s)).port));
      assert.equal(err.details['during'], c.stall.during, err.message);
      assert.equal(err.details['timeoutMs'], c.ender === 'hop budget' ? BUDGET : TOTAL);
      assert.match(err.message, new RegExp(`^hop ${c.at} \\(${c.stall.kind} `));
      assert.ok(elapsed < UPPER_BOUND, `took ${elapsed} ms`);
      await pool.close();
      await assertNoLeaks(baseline);
    });
  }
});

describe('request(): aborted while a hop is coming up', () => {
  it('ERR_ABORTED names the hop and the stage it was waiting for (hop 1 of 2, CONNECT unanswered)', async () => {
    const baseline = resourceSnapshot();
    const ac = new AbortController();
    const origin = await startOrigin({ transport: 'tcp', protocol: 'http' });
    const first = await startConnectProxy();
    // Aborts as soon as the CONNECT reaches the second proxy, which never answers it.
    const second = await startConnectProxy({
      behavior: () => {
        ac.abort(new Error('enough'));
        return { neverAnswer: true };
      },
    });
    const pool = new Pool();
    try {
      const err = await request(`http://127.0.0.1:${origin.port}/`, { via: [first.url, second.url], pool, signal: ac.signal }).then(
        () => assert.fail('the request succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BurrowError, String(err));
      assert.equal(err.code, 'ERR_ABORTED');
      assert.equal(err.hop?.index, 1);
      assert.equal(err.hop?.kind, 'connect');
      assert.equal(err.hop?.port, second.port);
      assert.equal(err.details['during'], 'connect-response');
      assert.equal((err.cause as Error).message, 'enough');
    } finally {
      await pool.close();
      await Promise.all([origin.close(), first.close(), second.close()]);
    }
    await assertNoLeaks(baseline);
  });
});
