// `burrow --proxy-pac` and `--proxy-fallback`: parsing, and runs of the built command against a PAC file
// whose first choice is down, with -v telling which route failed and which was taken; a pac+ URL in the
// proxy environment.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { startConnectProxy, startOrigin, type TestConnectProxy, type TestOrigin } from '../../src/testing/index.js';
import { cleanEnv, closedPort, runCli } from './helpers.js';

describe('burrow --proxy-pac / --proxy-fallback: arguments', () => {
  it('reads --proxy-pac and repeated --proxy-fallback chains (split like -x, schemes added)', () => {
    const c = parseArgs(['--proxy-pac', '/etc/proxy.pac', '--proxy-fallback', 'p1:3128, socks5h://p2:1080', '--proxy-fallback=', 'http://x/']);
    assert.equal(c.type, 'request');
    if (c.type !== 'request') return;
    assert.equal(c.options.proxyPac, '/etc/proxy.pac');
    assert.deepEqual(c.options.proxyFallback, [['http://p1:3128', 'socks5h://p2:1080'], []]);
  });

  it('--proxy-pac needs a value', () => {
    assert.throws(() => parseArgs(['--proxy-pac=', 'http://x/']), UsageError);
  });
});

describe('burrow --proxy-pac / --proxy-fallback: runs', () => {
  let dir: string;
  let origin: TestOrigin;
  let live: TestConnectProxy;
  let closed: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'burrow-cli-pac-'));
    origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    live = await startConnectProxy();
    closed = await closedPort();
  });
  after(async () => {
    await origin.close();
    await live.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a PAC file whose first proxy is down: the second carries the request; -v names both routes', async () => {
    const pac = join(dir, 'proxy.pac');
    writeFileSync(pac, `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${closed}; PROXY 127.0.0.1:${live.port}"; }`);
    const before = live.requests.length;
    const r = await runCli(['-v', '--proxy-pac', pac, `${origin.url}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    assert.equal(live.requests.length, before + 1);
    assert.match(r.stderr, new RegExp(`route +trying pac \\(PROXY 127\\.0\\.0\\.1:${closed}\\)`));
    assert.match(r.stderr, /route +failed pac .*ERR_CONNECT/);
    assert.match(r.stderr, new RegExp(`route +taken pac \\(PROXY 127\\.0\\.0\\.1:${live.port}\\): http://127\\.0\\.0\\.1:${live.port}`));
  });

  it('--proxy-fallback after a dead -x proxy', async () => {
    const r = await runCli(['-v', '-x', `http://127.0.0.1:${closed}`, '--proxy-fallback', live.url, `${origin.url}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    assert.match(r.stderr, /route +taken fallback\[0\]/);
  });

  it('every route down: a non-zero exit naming ERR_ALL_ROUTES_FAILED', async () => {
    const r = await runCli(['-x', `http://127.0.0.1:${closed}`, '--proxy-fallback', `socks5h://127.0.0.1:${closed}`, '--proxy-fallback', `user:secret@127.0.0.1:${closed}`, `${origin.url}/`]);
    assert.equal(r.status, 7, r.stderr); // the last route's failure: connection refused
    assert.match(r.stderr, /every route failed/);
    assert.doesNotMatch(r.stderr, /secret/);
  });

  it('a pac+file: URL in http_proxy', async () => {
    const pac = join(dir, 'env.pac');
    writeFileSync(pac, `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${live.port}"; }`);
    const before = live.requests.length;
    const r = await runCli([`${origin.url}/`], { env: cleanEnv({ http_proxy: `pac+file://${pac}` }) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(live.requests.length, before + 1);
  });
});
