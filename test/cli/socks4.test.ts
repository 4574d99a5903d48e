// `burrow` with SOCKS4 hops: `--socks4` / `--socks4a` as curl's, `-x socks4://` / `socks4a://`, their -v lines,
// and a refusal's exit code and message.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { startOrigin, startSocks4Server, type TestOrigin, type TestSocks4Server } from '../../src/testing/index.js';
import { runCli } from './helpers.js';

describe('burrow: SOCKS4 hops', () => {
  let origin: TestOrigin;
  let socks: TestSocks4Server;
  let refusing: TestSocks4Server;
  before(async () => {
    [origin, socks, refusing] = await Promise.all([startOrigin({ protocol: 'http', transport: 'tcp' }), startSocks4Server(), startSocks4Server({ behavior: { reply: 0x5b } })]);
  });
  after(async () => {
    await Promise.all([origin, socks, refusing].map((s) => s.close()));
  });

  it('--socks4 and --socks4a add a hop to the chain, in order with -x', () => {
    const c = parseArgs(['-x', 'h2://a:1', '--socks4', 'b:2', '--socks4a=c', 'http://o/']);
    assert.ok(c.type === 'request');
    assert.deepEqual(c.options.proxies, ['h2://a:1', 'socks4://b:2', 'socks4a://c']);
    assert.throws(() => parseArgs(['--socks4', 'socks4://b:2', 'http://o/']), (e: unknown) => e instanceof UsageError && /without a scheme/.test(e.message));
    assert.throws(() => parseArgs(['--socks4a', '', 'http://o/']), (e: unknown) => e instanceof UsageError && /needs HOST\[:PORT\]/.test(e.message));
  });

  it('--socks4 -v: the hop, then the SOCKS4 line with the address the client resolved', async () => {
    const r = await runCli(['-v', '--socks4', `localhost:${socks.port}`, `http://localhost:${origin.port}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    assert.match(r.stderr, /hop 0\s+SOCKS4 proxy\s+socks4:\/\/localhost:\d+\n/);
    assert.match(r.stderr, new RegExp(`ms\\s+hop 0\\s+SOCKS4\\s+CONNECT localhost:${origin.port} \\(sent as 127\\.0\\.0\\.1:${origin.port}, resolved by the client\\) -> granted \\(bound 0\\.0\\.0\\.0:0\\)`));
  });

  it('-x socks4a://user@… -v: the name goes to the proxy, with the user id', async () => {
    const r = await runCli(['-v', '-x', `socks4a://alice@localhost:${socks.port}`, `http://localhost:${origin.port}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`ms\\s+hop 0\\s+SOCKS4a\\s+CONNECT localhost:${origin.port} -> granted`));
    const last = socks.events[socks.events.length - 1];
    assert.deepEqual([last?.version, last?.host, last?.userId], ['4a', 'localhost', 'alice']);
  });

  it('a refusal: exit 97 (CURLE_PROXY), the message naming the hop, the code and the stage', async () => {
    const r = await runCli(['--socks4a', `localhost:${refusing.port}`, `http://localhost:${origin.port}/`]);
    assert.equal(r.status, 97, r.stderr);
    assert.match(r.stderr, /^burrow: hop 0 \(socks4 tcp:\/\/localhost:\d+\): SOCKS4a server refused the CONNECT request for localhost:\d+: request rejected or failed \(reply 0x5b\) \[stage socks-reply\]/);
  });
});
