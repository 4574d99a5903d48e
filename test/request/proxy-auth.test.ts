// request() through proxies that answer 407: Digest and NTLM at hop 1 and hop 2, over HTTP/1.1 and HTTP/2 CONNECT;
// bounded failures; no credential to another hop, the origin, the events or an error message.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { isBurrowError, type BurrowError } from '../../src/errors/errors.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { digestGate, ntlmGate, type DigestGate, type NtlmGate } from '../../src/testing/auth-gate.js';
import { digestCache } from '../../src/protocols/proxy-auth/cache.js';
import { ntowfv2 } from '../../src/protocols/proxy-auth/ntlm.js';
import { createHmac } from 'node:crypto';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const PASSWORD = 'hunter2-s3cret';

/** Checks the NTv2 proof of a type 3 against the gate's challenge (0123456789abcdef) and PASSWORD. */
function verifyNtlm(user: string, domain: string) {
  return (m: Buffer): boolean => {
    const len = m.readUInt16LE(20);
    const off = m.readUInt32LE(24);
    const nt = m.subarray(off, off + len);
    const key = ntowfv2(user, PASSWORD, domain);
    const proof = createHmac('md5', key).update(Buffer.concat([Buffer.from('0123456789abcdef', 'hex'), nt.subarray(16)])).digest();
    return proof.equals(nt.subarray(0, 16));
  };
}

function authError(code: 'ERR_PROXY_AUTH', hopIndex: number) {
  return (e: unknown): boolean => {
    assert.ok(isBurrowError(e, code), String(e));
    const b = e as BurrowError;
    assert.equal(b.stage, 'connect-response');
    assert.equal(b.hop?.index, hopIndex);
    assert.equal(b.details['status'], 407);
    assert.ok(!b.message.includes(PASSWORD), b.message);
    return true;
  };
}

describe('request() with proxy authentication', () => {
  let pki: TestPki;
  let origin: TestOrigin;
  let digest: DigestGate;
  let digestH1: TestConnectProxy;
  let ntlm: NtlmGate;
  let ntlmH1: TestConnectProxy;
  let digestH2: TestH2ConnectProxy;
  let ntlmH2: TestH2ConnectProxy;
  let plain: TestConnectProxy;
  let plainH2: TestH2ConnectProxy;
  let closing: TestConnectProxy;
  let ntlmClosing: TestConnectProxy;
  let baseline: string[];
  const pool = (): Pool => new Pool();
  before(async () => {
    baseline = resourceSnapshot();
    pki = createTestPki();
    origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    digest = digestGate({ username: 'alice', password: PASSWORD });
    digestH1 = await startConnectProxy({ auth: digest });
    ntlm = ntlmGate({ username: 'bob', verify: verifyNtlm('bob', 'CORP') });
    ntlmH1 = await startConnectProxy({ auth: ntlm });
    digestH2 = await startH2ConnectProxy({ transport: 'tls', pki, auth: digestGate({ username: 'alice', password: PASSWORD, algorithm: 'SHA-256' }) });
    ntlmH2 = await startH2ConnectProxy({ transport: 'tls', pki, auth: ntlmGate({ username: 'bob' }) });
    plain = await startConnectProxy();
    plainH2 = await startH2ConnectProxy({ transport: 'tls', pki });
    closing = await startConnectProxy({ auth: digestGate({ username: 'alice', password: PASSWORD, close: true }) });
    ntlmClosing = await startConnectProxy({ auth: ntlmGate({ username: 'bob', close: true }) });
  });
  after(async () => {
    for (const s of [origin, digestH1, ntlmH1, digestH2, ntlmH2, plain, plainH2, closing, ntlmClosing]) await s.close();
    await assertNoLeaks(baseline);
  });
  beforeEach(() => digestCache.clear());

  const url = (): string => `http://127.0.0.1:${origin.port}/`;
  const tls = (): { ca: string } => ({ ca: pki.ca });
  const noCredential = (headers: ReadonlyArray<readonly [string, string]>): void => {
    for (const [k, v] of headers) {
      assert.notEqual(k.toLowerCase(), 'proxy-authorization');
      assert.ok(!v.includes(PASSWORD));
    }
  };

  it('Digest at hop 1 (HTTP/1.1 CONNECT): the 407 answered on the same connection; no Basic sent when not allowed', async () => {
    const p = pool();
    const before = digestH1.requests.length;
    const res = await request(url(), { via: [{ url: `http://alice:${PASSWORD}@127.0.0.1:${digestH1.port}`, auth: { schemes: ['digest'] } }], pool: p });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello');
    const reqs = digestH1.requests.slice(before);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]?.connectionId, reqs[1]?.connectionId);
    assert.equal(reqs[0]?.headers.find(([k]) => k === 'proxy-authorization'), undefined);
    assert.match(reqs[1]?.headers.find(([k]) => k === 'proxy-authorization')?.[1] ?? '', /^Digest username="alice"/);
    noCredential(origin.requests.at(-1)?.headers ?? []);
    await p.close();
  });

  it('Digest: preemptive Basic refused, then Digest; the next CONNECT to that proxy reuses the nonce at once (nc 2)', async () => {
    const p = pool();
    const before = digestH1.requests.length;
    const via = [`http://alice:${PASSWORD}@127.0.0.1:${digestH1.port}`];
    assert.equal((await request(url(), { via, pool: p })).status, 200);
    assert.match(digestH1.requests[before]?.headers.find(([k]) => k === 'proxy-authorization')?.[1] ?? '', /^Basic /);
    await p.close();
    const n = digestH1.requests.length;
    const res = await request(url(), { via, pool: false });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(digestH1.requests.length, n + 1, 'one CONNECT, no 407');
    assert.deepEqual(digest.accepted.slice(-2).map((a) => a.nc), [1, 2]);
    assert.equal(digest.accepted.at(-1)?.nonce, digest.accepted.at(-2)?.nonce);
  });

  it('Digest stale=true: retried with the new nonce, not counted as a failed round', async () => {
    const via = [{ url: `http://127.0.0.1:${digestH1.port}`, auth: { username: 'alice', password: PASSWORD, schemes: ['digest' as const], maxRounds: 1 } }];
    const first = await request(url(), { via, pool: false });
    await first.text();
    digest.expire();
    const n = digestH1.requests.length;
    const res = await request(url(), { via, pool: false });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(digestH1.requests.length, n + 2, 'cached nonce (stale) then the new one');
  });

  it('Digest at hop 1 over HTTP/2 CONNECT (SHA-256), then a plain hop 2', async () => {
    const p = pool();
    const res = await request(url(), { via: [{ url: `h2://alice:${PASSWORD}@localhost:${digestH2.port}`, tls: tls(), auth: { schemes: ['digest'] } }, `http://127.0.0.1:${plain.port}`], pool: p });
    assert.equal(res.status, 200);
    await res.text();
    const reqs = digestH2.requests.slice(-2);
    assert.equal(reqs[0]?.sessionId, reqs[1]?.sessionId);
    assert.match(reqs[1]?.headers.find(([k]) => k === 'proxy-authorization')?.[1] ?? '', /^Digest .*algorithm=SHA-256/);
    noCredential(plain.requests.at(-1)?.headers ?? []);
    noCredential(origin.requests.at(-1)?.headers ?? []);
    await p.close();
  });

  it('Digest at hop 2, behind an HTTP/2 proxy and behind an HTTP/1.1 proxy; hop 1 sees no credential', async () => {
    for (const first of [{ url: `h2://localhost:${plainH2.port}`, tls: tls() }, { url: `http://127.0.0.1:${plain.port}` }]) {
      const p = pool();
      const res = await request(url(), { via: [first, { url: `http://alice:${PASSWORD}@127.0.0.1:${digestH1.port}`, auth: { preemptive: false } }], pool: p });
      assert.equal(res.status, 200);
      await res.text();
      noCredential(plainH2.requests.at(-1)?.headers ?? []);
      noCredential(plain.requests.at(-1)?.headers ?? []);
      await p.close();
    }
  });

  it('NTLM at hop 1: type 1, type 2, type 3 on one connection; the NTv2 proof checks with DOMAIN\\user', async () => {
    const p = pool();
    const before = ntlmH1.requests.length;
    const res = await request(url(), { via: [{ url: `http://127.0.0.1:${ntlmH1.port}`, auth: { username: 'CORP\\bob', password: PASSWORD } }], pool: p });
    assert.equal(res.status, 200);
    await res.text();
    const reqs = ntlmH1.requests.slice(before);
    // Preemptive Basic, refused (NTLM offered), type 1, type 3.
    assert.deepEqual(reqs.map((r) => /^(\w+)/.exec(r.headers.find(([k]) => k === 'proxy-authorization')?.[1] ?? '')?.[1]), ['Basic', 'NTLM', 'NTLM']);
    assert.equal(new Set(reqs.map((r) => r.connectionId)).size, 1);
    assert.equal(ntlm.accepted.at(-1)?.domain, 'CORP');
    await p.close();
  });

  it('NTLM at hop 2 behind an HTTP/2 proxy: allowed (the CONNECT to the NTLM proxy is HTTP/1.1 inside the stream)', async () => {
    const p = pool();
    const res = await request(url(), { via: [{ url: `h2://localhost:${plainH2.port}`, tls: tls() }, { url: `http://127.0.0.1:${ntlmH1.port}`, auth: { username: 'bob', password: PASSWORD, domain: 'CORP', schemes: ['ntlm'] } }], pool: p });
    assert.equal(res.status, 200);
    await res.text();
    await p.close();
  });

  it('NTLM to an HTTP/2 proxy: a typed error naming the hop, no loop', async () => {
    await assert.rejects(
      request(url(), { via: [{ url: `h2://localhost:${ntlmH2.port}`, tls: tls(), auth: { username: 'bob', password: PASSWORD, schemes: ['ntlm'] } }], pool: false }),
      (e: unknown) => authError('ERR_PROXY_AUTH', 0)(e) && /cannot run over an HTTP\/2 CONNECT stream/.test(String(e)),
    );
    await assert.rejects(
      request(url(), { via: [`http://127.0.0.1:${plain.port}`, { url: `h2://localhost:${ntlmH2.port}`, tls: tls(), auth: { username: 'bob', password: PASSWORD } }], pool: false }),
      authError('ERR_PROXY_AUTH', 1),
    );
  });

  it('no credentials → ERR_PROXY_AUTH; a wrong password → ERR_PROXY_AUTH after one answer, no loop; the password in no message', async () => {
    await assert.rejects(request(url(), { via: [`http://127.0.0.1:${digestH1.port}`], pool: false }), (e: unknown) => authError('ERR_PROXY_AUTH', 0)(e) && /no credentials/.test(String(e)));
    const n = digestH1.requests.length;
    await assert.rejects(
      request(url(), { via: [{ url: `http://127.0.0.1:${digestH1.port}`, auth: { username: 'alice', password: 'wrong', schemes: ['digest'] } }], pool: false }),
      (e: unknown) => authError('ERR_PROXY_AUTH', 0)(e) && /refused the digest credentials/.test(String(e)),
    );
    assert.equal(digestH1.requests.length, n + 2);
    await assert.rejects(
      request(url(), { via: [`http://127.0.0.1:${plain.port}`, `http://alice:${PASSWORD}x@127.0.0.1:${digestH1.port}`], pool: false }),
      (e: unknown) => authError('ERR_PROXY_AUTH', 1)(e) && !String(e).includes(`${PASSWORD}x`),
    );
  });

  it('a proxy that closes after each 407: the route opens again and the answer goes on the new connection', async () => {
    const before = closing.requests.length;
    const res = await request(url(), { via: [{ url: `http://127.0.0.1:${closing.port}`, auth: { username: 'alice', password: PASSWORD, schemes: ['digest'] } }], pool: false });
    assert.equal(res.status, 200);
    await res.text();
    const reqs = closing.requests.slice(before);
    assert.equal(reqs.length, 2);
    assert.notEqual(reqs[0]?.connectionId, reqs[1]?.connectionId);
  });

  it('a proxy that closes after its 407 without saying so: the answer goes on a new connection', async () => {
    const silent = await startConnectProxy({ auth: digestGate({ username: 'alice', password: PASSWORD, close: 'silently' }) });
    try {
      const res = await request(url(), { via: [{ url: `http://127.0.0.1:${silent.port}`, auth: { username: 'alice', password: PASSWORD, schemes: ['digest'] } }], pool: false });
      assert.equal(res.status, 200);
      await res.text();
      assert.equal(silent.requests.length, 2);
      assert.notEqual(silent.requests[0]?.connectionId, silent.requests[1]?.connectionId);
    } finally {
      await silent.close();
    }
  });

  it('NTLM with a proxy that closes after its type 2: a clear error', async () => {
    await assert.rejects(
      request(url(), { via: [{ url: `http://127.0.0.1:${ntlmClosing.port}`, auth: { username: 'bob', password: PASSWORD, schemes: ['ntlm'] } }], pool: false }),
      (e: unknown) => authError('ERR_PROXY_AUTH', 0)(e) && /closed the connection in the middle of the NTLM handshake/.test(String(e)),
    );
  });

  it('a 407 loop: bounded by maxRounds', async () => {
    const loop = await startConnectProxy({ auth: () => ({ challenges: ['Basic realm="a"', 'Digest realm="r", nonce="x", qop="auth"', 'NTLM'] }) });
    try {
      await assert.rejects(
        request(url(), { via: [{ url: `http://127.0.0.1:${loop.port}`, auth: { username: 'u', password: PASSWORD, maxRounds: 2 } }], pool: false }),
        (e: unknown) => authError('ERR_PROXY_AUTH', 0)(e) && (e as BurrowError).details['rounds'] === 3,
      );
      assert.ok(loop.requests.length <= 3);
    } finally {
      await loop.close();
    }
  });

  it('events: the proxy-authorization of every CONNECT is published masked to its scheme', async () => {
    const seen: string[] = [];
    const onStart = (m: unknown): void => {
      for (const [k, v] of (m as { headers: Array<[string, string]> }).headers) if (k === 'proxy-authorization') seen.push(v);
    };
    subscribe('burrow:stream:start', onStart);
    try {
      const res = await request(url(), { via: [{ url: `http://alice:${PASSWORD}@127.0.0.1:${digestH1.port}` }], pool: false });
      await res.text();
    } finally {
      unsubscribe('burrow:stream:start', onStart);
    }
    assert.deepEqual(seen, ['Basic ***', 'Digest ***']);
  });
});
