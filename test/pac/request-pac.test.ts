// request() with a PAC script: served by a local HTTP origin and read from disk, choosing among the test
// proxies with the first choice down (the second taken, the dead one remembered); `pac+…` in via and the
// environment; the PAC hop followed by the rest of via; what the script is shown; scripts that throw, loop
// forever or return garbage, each a typed error of stage `pac`.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { request, type RouteAttempt } from '../../src/request/request.js';
import { forgetDeadRoutes } from '../../src/request/failover.js';
import { Pool } from '../../src/request/pool.js';
import { BurrowError } from '../../src/errors/errors.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function isCode(code: string, stage?: string) {
  return (e: unknown): boolean => e instanceof BurrowError && e.code === code && (stage === undefined || e.stage === stage);
}

describe('request() with a PAC script', () => {
  let origin: TestOrigin;
  let live: TestConnectProxy;
  let refusing: TestConnectProxy;
  let socks: TestSocks5Server;
  let closed: number;
  let pacServer: http.Server;
  let pacUrl: string;
  let pacFetches = 0;
  let dir: string;
  let pool: Pool;
  let baseline: string[];
  /** The script the PAC server serves. */
  let served = '';

  before(async () => {
    baseline = resourceSnapshot();
    origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    live = await startConnectProxy();
    refusing = await startConnectProxy({ behavior: { refuseTarget: true } });
    socks = await startSocks5Server();
    closed = await closedPort();
    pacServer = http.createServer((req, res) => {
      if (req.url === '/slow.pac') return void setTimeout(() => res.writeHead(200, { 'cache-control': 'no-store' }).end(served), 400);
      pacFetches++;
      res.writeHead(200, { 'content-type': 'application/x-ns-proxy-autoconfig', 'cache-control': 'max-age=300' }).end(served);
    });
    await new Promise<void>((r) => pacServer.listen(0, '127.0.0.1', r));
    pacUrl = `http://127.0.0.1:${(pacServer.address() as net.AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'burrow-pac-'));
  });
  beforeEach(() => {
    forgetDeadRoutes();
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    for (const s of [origin, live, refusing, socks]) await s.close();
    await new Promise<void>((r) => pacServer.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
    await assertNoLeaks(baseline);
  });

  const pacFile = (name: string, script: string): string => {
    const path = join(dir, name);
    writeFileSync(path, script);
    return path;
  };

  it('served over HTTP: the first choice down (refused), the second taken, then the dead one remembered', async () => {
    served = `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${refusing.port}; PROXY 127.0.0.1:${live.port}; DIRECT"; }`;
    const seen: RouteAttempt[] = [];
    const res = await request(`${origin.url}/`, { pac: `${pacUrl}/a.pac`, pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(seen.map((a) => [a.source, a.route, a.error?.code]), [
      [`pac (PROXY 127.0.0.1:${refusing.port})`, [`http://127.0.0.1:${refusing.port}`], 'ERR_CONNECT_STATUS'],
      [`pac (PROXY 127.0.0.1:${live.port})`, [`http://127.0.0.1:${live.port}`], undefined],
    ]);
    const refused = refusing.connections;
    const viaLive = live.connections;
    const again = await request(`${origin.url}/`, { pac: `${pacUrl}/a.pac`, pool: false });
    assert.equal(await again.text(), 'hello');
    assert.equal(refusing.connections, refused);
    assert.equal(live.connections, viaLive + 1);
    assert.equal(pacFetches, 1);
  });

  it('from disk (pac+file:// in via): a closed port first, the live proxy second', async () => {
    const path = pacFile('closed.pac', `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${closed}; PROXY 127.0.0.1:${live.port}"; }`);
    const seen: RouteAttempt[] = [];
    const before = live.requests.length;
    const res = await request(`${origin.url}/`, { via: [`pac+${pathToFileURL(path).href}`], pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(seen.map((a) => a.error?.code), ['ERR_CONNECT', undefined]);
    assert.equal(live.requests.length, before + 1);
  });

  it('the PAC hop is followed by the rest of via: pac+file, then a SOCKS5 proxy', async () => {
    const path = pacFile('chain.pac', `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${live.port}"; }`);
    const before = socks.connections;
    const res = await request(`${origin.url}/`, { via: [`pac+file://${path}`, socks.url], pool });
    assert.equal(await res.text(), 'hello');
    assert.equal(socks.connections, before + 1);
    assert.equal(live.requests.at(-1)?.target, `127.0.0.1:${socks.port}`);
  });

  it('DIRECT: no proxy', async () => {
    const before = live.connections;
    const res = await request(`${origin.url}/`, { pac: 'function FindProxyForURL() { return "DIRECT"; }', pool });
    assert.equal(await res.text(), 'hello');
    assert.equal(live.connections, before);
  });

  it('pac+http:// in the proxy environment', async () => {
    served = `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${live.port}"; }`;
    const before = live.requests.length;
    const res = await request(`${origin.url}/`, { env: { http_proxy: `pac+${pacUrl}/env.pac` }, pool });
    assert.equal(await res.text(), 'hello');
    assert.equal(live.requests.length, before + 1);
  });

  it('the script sees the full URL for http:, the origin only for https:, and the host', async () => {
    const script = 'function FindProxyForURL(url, host) { return url === "http://a.test/p?q=1" && host === "a.test" ? "DIRECT" : "PROXY wrong.test:1"; }';
    const res = await request(`${origin.url}/`, { pac: script.replace('http://a.test/p?q=1', `${origin.url}/`).replace('"a.test"', '"127.0.0.1"'), pool });
    assert.equal(res.status, 200);
    await res.text();
    const { urlForScript } = await import('../../src/pac/find.js');
    assert.deepEqual(urlForScript('https://u:p@a.test:8443/secret?token=1#f'), { url: 'https://a.test:8443/', host: 'a.test' });
    assert.deepEqual(urlForScript('http://u:p@a.test/p?q=1#f'), { url: 'http://a.test/p?q=1', host: 'a.test' });
    assert.deepEqual(urlForScript('http://[::1]:8080/'), { url: 'http://[::1]:8080/', host: '::1' });
  });

  it('SOCKS is read as SOCKS4, as browsers do: a dead SOCKS4 gateway, then DIRECT', async () => {
    const seen: RouteAttempt[] = [];
    const res = await request(`${origin.url}/`, { pac: 'function FindProxyForURL() { return "SOCKS 127.0.0.1:1; DIRECT"; }', pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(seen.map((a) => [a.route, a.error?.code]), [[['socks4://127.0.0.1:1'], 'ERR_CONNECT'], [[], undefined]]);
  });

  it('a script that throws: ERR_PAC_SCRIPT, stage pac', async () => {
    await assert.rejects(request(`${origin.url}/`, { pac: 'function FindProxyForURL() { throw new Error("no"); }', pool }), isCode('ERR_PAC_SCRIPT', 'pac'));
  });

  it('a script that loops forever: ERR_PAC_TIMEOUT, stage pac, no hang', async () => {
    const started = performance.now();
    await assert.rejects(request(`${origin.url}/`, { pac: { script: 'function FindProxyForURL() { for (;;) {} }', cpuTimeout: 100 }, pool }), isCode('ERR_PAC_TIMEOUT', 'pac'));
    assert.ok(performance.now() - started < 5000);
  });

  it('a script that returns garbage or a non-string: ERR_PAC_RESULT, stage pac', async () => {
    await assert.rejects(request(`${origin.url}/`, { pac: 'function FindProxyForURL() { return "garbage here"; }', pool }), isCode('ERR_PAC_RESULT', 'pac'));
    await assert.rejects(request(`${origin.url}/`, { pac: 'function FindProxyForURL() { return 7; }', pool }), isCode('ERR_PAC_RESULT', 'pac'));
  });

  it('a missing file: ERR_PAC_FETCH; bad pac options: ERR_INVALID_OPTION', async () => {
    await assert.rejects(request(`${origin.url}/`, { pac: join(dir, 'nope.pac'), pool }), isCode('ERR_PAC_FETCH', 'pac'));
    await assert.rejects(request(`${origin.url}/`, { pac: 'ftp://x/y.pac', pool }), isCode('ERR_INVALID_OPTION'));
    await assert.rejects(request(`${origin.url}/`, { pac: {}, pool }), isCode('ERR_INVALID_OPTION'));
    await assert.rejects(request(`${origin.url}/`, { pac: { script: 'function FindProxyForURL() {}', cpuTimeout: -1 }, pool }), isCode('ERR_INVALID_OPTION'));
    await assert.rejects(request(`${origin.url}/`, { via: [live.url, 'pac+file:///x.pac'], pool }), isCode('ERR_INVALID_OPTION'));
  });

  it('the abort signal and the total timeout cover the PAC step', async () => {
    served = 'function FindProxyForURL() { return "DIRECT"; }';
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(request(`${origin.url}/`, { pac: `${pacUrl}/abort.pac`, pool, signal: ac.signal }), isCode('ERR_ABORTED'));
    const started = performance.now();
    await assert.rejects(request(`${origin.url}/`, { pac: `${pacUrl}/slow.pac`, pool, timeouts: { total: 100 } }), isCode('ERR_REQUEST_TIMEOUT', 'timeout'));
    assert.ok(performance.now() - started < 390);
    const late = new AbortController();
    const pending = request(`${origin.url}/`, { pac: `${pacUrl}/slow.pac`, pool, signal: late.signal });
    late.abort();
    await assert.rejects(pending, isCode('ERR_ABORTED'));
    // The fetches abandoned finish on their own; the next request shares nothing with them.
    const res = await request(`${origin.url}/`, { pac: `${pacUrl}/slow.pac`, pool });
    assert.equal(res.status, 200);
    await res.text();
  });
});

describe('request() with a failing PAC script and fallback chains', () => {
  it('the script\'s failure is one failed route; the fallback chain carries the request', async () => {
    forgetDeadRoutes();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const pool = new Pool();
    try {
      const seen: RouteAttempt[] = [];
      const res = await request(`${origin.url}/`, { pac: 'function FindProxyForURL() { throw new Error("broken"); }', fallback: [[]], pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
      assert.equal(await res.text(), 'hello');
      assert.deepEqual(seen.map((a) => [a.source, a.error?.code]), [['pac (given as a string)', 'ERR_PAC_SCRIPT'], ['fallback[0]', undefined]]);
    } finally {
      await pool.close();
      await origin.close();
    }
  });
});
