// The CLI's proxy authentication options (curl's): --proxy-user, --proxy-basic/-digest/-ntlm/-anyauth, per hop;
// a run through a Digest proxy and an NTLM proxy, with -v and --trace-json free of credentials.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, UsageError, type CliOptions } from '../../src/cli/args.js';
import { hopAuth, parseProxyUser } from '../../src/cli/proxy-auth-args.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { digestGate, ntlmGate } from '../../src/testing/auth-gate.js';
import { runCli } from './helpers.js';

function opts(argv: string[]): CliOptions {
  const c = parseArgs(argv);
  if (c.type !== 'request') throw new Error('not a request');
  return c.options;
}

const PASSWORD = 'pa55-w0rd-s3cret';

describe('burrow: proxy authentication options', () => {
  it('--proxy-user [N:]USER:PASSWORD (-U); scheme flags for every hop or =N', () => {
    const o = opts(['-x', 'http://a', '-x', 'http://b', '-U', '2:CORP\\bob:p:w', '--proxy-digest', '--proxy-ntlm=2', 'http://o/']);
    assert.deepEqual(o.proxyUsers, [{ hop: 2, username: 'CORP\\bob', password: 'p:w' }]);
    assert.deepEqual(o.proxyAuth, [{ hop: undefined, mode: 'digest' }, { hop: 2, mode: 'ntlm' }]);
    assert.deepEqual(hopAuth(o.proxyUsers, o.proxyAuth, 1, 2), { schemes: ['digest'], preemptive: false });
    assert.deepEqual(hopAuth(o.proxyUsers, o.proxyAuth, 2, 2), { username: 'CORP\\bob', password: 'p:w', schemes: ['ntlm'], preemptive: false });
    assert.deepEqual(parseProxyUser('alice:1:2'), { hop: undefined, username: 'alice', password: '1:2' });
    assert.deepEqual(parseProxyUser('1:42:pw'), { hop: 1, username: '42', password: 'pw' });
    assert.deepEqual(hopAuth([], [{ hop: undefined, mode: 'anyauth' }], 1, 1), { preemptive: false });
    assert.deepEqual(hopAuth([], [{ hop: undefined, mode: 'basic' }], 1, 1), { schemes: ['basic'], preemptive: true });
    assert.equal(hopAuth([], [], 1, 1), undefined);
  });

  it('usage errors: no credentials form, a bad hop, a hop outside the chain, a hop-less --proxy-user with two proxies', () => {
    const usage = (argv: string[], re: RegExp): void => assert.throws(() => parseArgs(argv), (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes(PASSWORD));
    usage(['-U', 'nocolon', 'http://o/'], /\[N:\]USER:PASSWORD/);
    usage(['--proxy-digest=x', 'http://o/'], /position in the proxy chain/);
    usage(['-x', 'http://a', '--proxy-ntlm=2', 'http://o/'], /hop 2 is not in the proxy chain/);
    usage(['-x', 'http://a', '-U', `3:u:${PASSWORD}`, 'http://o/'], /hop 3 is not in the proxy chain/);
    assert.throws(() => hopAuth([{ hop: undefined, username: 'u', password: PASSWORD }], [], 1, 2), /say which proxy/);
  });

  describe('runs', () => {
    let origin: TestOrigin;
    let digestProxy: TestConnectProxy;
    let ntlmProxy: TestConnectProxy;
    let dir: string;
    before(async () => {
      origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
      digestProxy = await startConnectProxy({ auth: digestGate({ username: 'alice', password: PASSWORD }) });
      ntlmProxy = await startConnectProxy({ auth: ntlmGate({ username: 'bob' }) });
      dir = mkdtempSync(join(tmpdir(), 'burrow-proxy-auth-'));
    });
    after(async () => {
      for (const s of [origin, digestProxy, ntlmProxy]) await s.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('--proxy-digest through a Digest proxy; -v and --trace-json show no credential', async () => {
      const trace = join(dir, 'digest.json');
      const r = await runCli(['-v', '--trace-json', trace, '-x', `http://127.0.0.1:${digestProxy.port}`, '-U', `alice:${PASSWORD}`, '--proxy-digest', `http://127.0.0.1:${origin.port}/`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'hello');
      const auths = digestProxy.requests.map((q) => q.headers.find(([k]) => k === 'proxy-authorization')?.[1]);
      assert.deepEqual(auths.map((a) => a?.split(' ')[0]), [undefined, 'Digest']);
      const digestResponse = /response="([0-9a-f]+)"/.exec(auths[1] ?? '')?.[1] ?? 'none';
      assert.match(r.stderr, /hop 0 {2}CONNECT 127\.0\.0\.1:\d+ -> 407 \(HTTP\/1\.1 CONNECT via http:\/\/127\.0\.0\.1:\d+\), proxy authentication required: Digest offered/);
      assert.match(r.stderr, /hop 0 {2}CONNECT 127\.0\.0\.1:\d+ -> 200 .*tunnel up/);
      const logs = r.stderr + readFileSync(trace, 'utf8');
      assert.match(readFileSync(trace, 'utf8'), /"event":"burrow:layer:error".*"status":407/);
      assert.ok(!logs.includes(PASSWORD));
      assert.ok(!logs.includes(digestResponse));
      assert.ok(!logs.includes(Buffer.from(`alice:${PASSWORD}`).toString('base64')));
    });

    it('--proxy-ntlm through an NTLM proxy; a 407 without credentials is exit 56 with ERR_PROXY_AUTH', async () => {
      const r = await runCli(['-x', `http://127.0.0.1:${ntlmProxy.port}`, '-U', `bob:${PASSWORD}`, '--proxy-ntlm', `http://127.0.0.1:${origin.port}/`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'hello');
      const f = await runCli(['-x', `http://127.0.0.1:${ntlmProxy.port}`, `http://127.0.0.1:${origin.port}/`]);
      assert.equal(f.status, 56);
      assert.match(f.stderr, /ERR_PROXY_AUTH|proxy authentication failed/);
    });
  });
});
