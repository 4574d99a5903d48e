// `burrow [options] URL` as a child process against servers started here, over loopback:
// exit codes per failure class, outputs, bodies, redirects, proxies from the environment,
// -v and --trace-json, and the progress bar.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestPki,
  startConnectProxy,
  startH2ConnectProxy,
  startOrigin,
  startSocks5Server,
  type TestConnectProxy,
  type TestH2ConnectProxy,
  type TestOrigin,
  type TestSocks5Server,
} from '../../src/testing/index.js';
import { bin, cleanEnv, closedPort, hasScript, runCli, shQuote, startHelperServer, type HelperServer } from './helpers.js';

let dir: string;
let caFile: string;
let originH1: TestOrigin;
let originH2: TestOrigin;
let h2proxy: TestH2ConnectProxy;
let socksTls: TestSocks5Server;
let socksPlain: TestSocks5Server;
let socksRefusing: TestSocks5Server;
let socksSilent: TestSocks5Server;
let connectProxy: TestConnectProxy;
let connect403: TestConnectProxy;
let helper: HelperServer;

/** `-x h2://... -x socks5hs://...` with their CAs, and the origin's CA. */
function chainArgs(): string[] {
  return ['-x', `h2://localhost:${h2proxy.port}`, '-x', `socks5hs://localhost:${socksTls.port}`, '--proxy-cacert', `1:${caFile}`, '--proxy-cacert', `2:${caFile}`, '--cacert', caFile];
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

function json(b: Buffer): Record<string, unknown> {
  return JSON.parse(b.toString('utf8')) as Record<string, unknown>;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (Array.isArray(headers)) {
    const h = (headers as Array<[string, string]>).find(([k]) => k.toLowerCase() === name);
    return h?.[1];
  }
  const v = (headers as Record<string, string | undefined>)[name];
  return v;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-cli-'));
  const pki = createTestPki();
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, pki.ca);
  [originH1, originH2, h2proxy, socksTls, socksPlain, socksRefusing, socksSilent, connectProxy, connect403, helper] = await Promise.all([
    startOrigin({ protocol: 'http', transport: 'tcp' }),
    startOrigin({ protocol: 'http2', transport: 'tls', pki }),
    startH2ConnectProxy({ transport: 'tls', pki }),
    startSocks5Server({ transport: 'tls', pki }),
    startSocks5Server({}),
    startSocks5Server({ behavior: { reply: 5 } }),
    startSocks5Server({ behavior: { neverAnswer: 'greeting' } }),
    startConnectProxy({}),
    startConnectProxy({ behavior: { status: 403 } }),
    startHelperServer(),
  ]);
});

after(async () => {
  await Promise.all([originH1, originH2, h2proxy, socksTls, socksPlain, socksRefusing, socksSilent, connectProxy, connect403, helper].map((s) => s?.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('burrow URL: exit codes, one per failure class', () => {
  it('2: a usage error (bad proxy URL, hop out of the chain)', async () => {
    const r = await runCli(['-x', 'ftp://proxy:21', `http://localhost:${originH1.port}/`]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /unsupported scheme "ftp:"/);
    const r2 = await runCli(['-x', `http://localhost:${connectProxy.port}`, '--proxy-insecure', '2', `http://localhost:${originH1.port}/`]);
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /hop 2 is not in the proxy chain/);
  });

  it('6: a DNS failure, direct and at a socks5:// hop (which leaves the lookup to the client)', async (t) => {
    // No network needed: `.invalid` never resolves (RFC 6761); skipped when the resolver here is slow to say so.
    const fast = await Promise.race([
      lookup('nonexistent.invalid').then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND'),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
    ]);
    if (!fast) {
      t.skip('the resolver here does not fail fast for .invalid names');
      return;
    }
    const r = await runCli(['http://nonexistent.invalid/']);
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, /^burrow: hop 0 \(origin tcp:\/\/nonexistent\.invalid:80\): DNS lookup of nonexistent\.invalid failed.*\[stage dns\]/);
    const s = await runCli(['-x', `socks5://localhost:${socksPlain.port}`, 'http://nonexistent.invalid/']);
    assert.equal(s.status, 6, s.stderr);
    assert.match(s.stderr, /hop 0 \(socks5 tcp:\/\/localhost:\d+\): DNS lookup of nonexistent\.invalid .*\[stage dns\]/);
  });

  it('7: connection refused (a closed port)', async () => {
    const port = await closedPort();
    const r = await runCli([`http://127.0.0.1:${port}/`]);
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr, new RegExp(`hop 0 \\(origin tcp://127\\.0\\.0\\.1:${port}\\): .*ECONNREFUSED.*\\[stage tcp\\]`));
    const viaProxy = await runCli(['-x', `h2://127.0.0.1:${port}`, `https://localhost:${originH2.port}/`]);
    assert.equal(viaProxy.status, 7);
    assert.match(viaProxy.stderr, /hop 0 \(connect tls:/);
  });

  it('35: TLS failure, at the origin (no --cacert) and at a proxy (no --proxy-cacert)', async () => {
    const r = await runCli([`https://localhost:${originH2.port}/`]);
    assert.equal(r.status, 35, r.stderr);
    assert.match(r.stderr, /hop 0 \(origin tls:\/\/localhost:\d+\): TLS handshake .*\[stage tls\]/);
    const p = await runCli(['-x', `h2://localhost:${h2proxy.port}`, '--cacert', caFile, `https://localhost:${originH2.port}/`]);
    assert.equal(p.status, 35, p.stderr);
    assert.match(p.stderr, /hop 0 \(connect tls:\/\/localhost:\d+\): TLS handshake .*\[stage tls\]/);
    // The origin's TLS, three layers deep, without its CA.
    const deep = await runCli(['-x', `h2://localhost:${h2proxy.port}`, '-x', `socks5hs://localhost:${socksTls.port}`, '--proxy-cacert', `1:${caFile}`, '--proxy-cacert', `2:${caFile}`, `https://localhost:${originH2.port}/`]);
    assert.equal(deep.status, 35, deep.stderr);
    assert.match(deep.stderr, /hop 2 \(origin tls:\/\/localhost:\d+\): TLS handshake .*\[stage tls\]/);
  });

  it('56: a CONNECT proxy refuses the tunnel (403)', async () => {
    const r = await runCli(['-x', `http://localhost:${connect403.port}`, `http://localhost:${originH1.port}/`]);
    assert.equal(r.status, 56, r.stderr);
    assert.match(r.stderr, /^burrow: hop 0 \(connect tcp:\/\/localhost:\d+\): .*403 \[stage connect-response\]/);
  });

  it('97: a SOCKS5 server refuses the CONNECT (reply 5)', async () => {
    const r = await runCli(['-x', `socks5h://localhost:${socksRefusing.port}`, `http://localhost:${originH1.port}/`]);
    assert.equal(r.status, 97, r.stderr);
    assert.match(r.stderr, /^burrow: hop 0 \(socks5 tcp:\/\/localhost:\d+\): SOCKS5 server replied connection_refused \(5\).* \[stage socks-reply\]/);
  });

  it('28: -m 0.3 against a response that never comes; --connect-timeout against a silent SOCKS server', async () => {
    const r = await runCli(['-m', '0.3', `http://localhost:${originH1.port}/never`]);
    assert.equal(r.status, 28, r.stderr);
    assert.match(r.stderr, /\[stage timeout\]/);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    const c = await runCli(['--connect-timeout', '0.3', '-x', `socks5h://localhost:${socksSilent.port}`, `http://localhost:${originH1.port}/`]);
    assert.equal(c.status, 28, c.stderr);
    assert.match(c.stderr, /hop 0 \(socks5 tcp:\/\/localhost:\d+\): .*\[stage timeout\]/);
    // The stage it was waiting for: a greeting never answered is the SOCKS5 method negotiation.
    assert.match(c.stderr, /\(waiting for socks-auth\) \[stage timeout\] \(ERR_CONNECT_TIMEOUT\)/);
    assert.ok(c.ms < 10_000, `took ${c.ms} ms`);
  });

  it('22: --fail on 404 writes nothing; without --fail the 404 body is written and the exit is 0', async () => {
    const r = await runCli(['--fail', `http://localhost:${originH1.port}/status/404`]);
    assert.equal(r.status, 22, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.match(r.stderr, /returned HTTP 404/);
    const plain = await runCli([`http://localhost:${originH1.port}/status/404`]);
    assert.equal(plain.status, 0);
    assert.equal(plain.stdout.toString(), 'status 404');
  });

  it('23: the output file cannot be written; 26: the body file cannot be read; 77: the CA file cannot be read', async () => {
    const w = await runCli(['-o', join(dir, 'no-such-dir', 'out'), `http://localhost:${originH1.port}/`]);
    assert.equal(w.status, 23, w.stderr);
    assert.match(w.stderr, /cannot create/);
    const r = await runCli(['--data-binary', `@${join(dir, 'missing.bin')}`, `http://localhost:${originH1.port}/echo`]);
    assert.equal(r.status, 26, r.stderr);
    const c = await runCli(['--cacert', join(dir, 'missing.pem'), `https://localhost:${originH2.port}/`]);
    assert.equal(c.status, 77, c.stderr);
  });

  it('47: more redirects than --max-redirs', async () => {
    const r = await runCli(['-L', '--max-redirs', '3', `${helper.url}/loop`]);
    assert.equal(r.status, 47, r.stderr);
    assert.match(r.stderr, /more than 3 redirects/);
  });
});

describe('burrow URL: output', () => {
  it('writes the body to stdout', async () => {
    const r = await runCli([`http://localhost:${originH1.port}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    assert.equal(r.stderr, '');
  });

  it('-o FILE through h2 proxy -> SOCKS5 -> HTTPS origin: every byte, nothing on stdout or stderr', async () => {
    const file = join(dir, 'download.bin');
    const r = await runCli([...chainArgs(), '-o', file, `https://localhost:${originH2.port}/bytes/3000000`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.equal(r.stderr, '');
    assert.ok(readFileSync(file).equals(pattern(3_000_000)));
  });

  it('-O names the file after the last path segment (in the working directory)', async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const r = await runCli(['-O', '--cacert', caFile, `https://localhost:${originH2.port}/bytes/4321`], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(join(cwd, '4321')).equals(pattern(4321)));
    const bad = await runCli(['-O', `http://localhost:${originH1.port}/`], { cwd });
    assert.equal(bad.status, 23);
    assert.match(bad.stderr, /no file name/);
  });

  it('-i writes the status line and headers, then the body', async () => {
    const r = await runCli(['-i', `http://localhost:${originH1.port}/`]);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(out, /\r\ncontent-length: 5\r\n/);
    assert.ok(out.endsWith('\r\n\r\nhello'));
  });

  it('--compressed asks for gzip, deflate, br and writes the body decoded; -i shows the headers as received', async () => {
    const r = await runCli(['-i', '--compressed', `${helper.url}/gzip`]);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.toString('latin1');
    assert.match(out, /\r\ncontent-encoding: gzip\r\n/);
    const body = json(Buffer.from(out.slice(out.indexOf('\r\n\r\n') + 4), 'latin1'));
    assert.match(String(headerOf(body['headers'], 'accept-encoding')), /^gzip, deflate, br/);
    // Without it: no accept-encoding, nothing decoded (the helper then answers uncompressed).
    const plain = await runCli([`${helper.url}/gzip`]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(headerOf(json(plain.stdout)['headers'], 'accept-encoding'), undefined);
  });

  it('-I sends HEAD and writes the headers only (HTTP/2)', async () => {
    const before = originH2.requests.length;
    const r = await runCli(['-I', '--cacert', caFile, `https://localhost:${originH2.port}/bytes/1000`]);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(out, /^HTTP\/2 200\r\n/);
    assert.match(out, /content-length: 1000\r\n/);
    assert.ok(out.endsWith('\r\n\r\n'));
    assert.equal(originH2.requests[before]?.method, 'HEAD');
  });

  it('--http1.1 and --http2 choose the origin protocol', async () => {
    const h1 = await runCli(['--http1.1', '--cacert', caFile, `https://localhost:${originH2.port}/echo`]);
    assert.equal(h1.status, 0, h1.stderr);
    assert.equal(json(h1.stdout)['httpVersion'], '1.1');
    const h2 = await runCli(['--http2', '--cacert', caFile, `https://localhost:${originH2.port}/echo`]);
    assert.equal(h2.status, 0, h2.stderr);
    assert.equal(json(h2.stdout)['httpVersion'], '2.0');
  });

  it('-k reaches an origin without its CA, with a warning on stderr', async () => {
    const r = await runCli(['-k', `https://localhost:${originH2.port}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    assert.match(r.stderr, /warning: -k\/--insecure: the origin's certificate is NOT verified/);
  });
});

describe('burrow URL: request bodies and headers', () => {
  it('-d joins values with & and POSTs them as a form; -d @file drops CR and LF', async () => {
    const r = await runCli(['-d', 'a=1', '-d', 'b=2', `http://localhost:${originH1.port}/echo`]);
    assert.equal(r.status, 0, r.stderr);
    const j = json(r.stdout);
    assert.equal(j['method'], 'POST');
    assert.equal(j['body'], 'a=1&b=2');
    assert.equal(headerOf(j['headers'], 'content-type'), 'application/x-www-form-urlencoded');
    const file = join(dir, 'form.txt');
    writeFileSync(file, 'x=1\r\ny=2\n');
    const f = await runCli(['-d', `@${file}`, `http://localhost:${originH1.port}/echo`]);
    assert.equal(json(f.stdout)['body'], 'x=1y=2');
  });

  it('--data-binary @file streams the exact bytes through the chain to an HTTP/2 origin', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 40_000; i++) lines.push(`${i} ünïcødé → ${'x'.repeat(i % 37)}\r`);
    const text = `${lines.join('\n')}\n`;
    const file = join(dir, 'upload.txt');
    writeFileSync(file, text);
    const r = await runCli([...chainArgs(), '--data-binary', `@${file}`, `https://localhost:${originH2.port}/echo`]);
    assert.equal(r.status, 0, r.stderr);
    const j = json(r.stdout);
    assert.equal(j['method'], 'POST');
    assert.equal(j['bodyLength'], Buffer.byteLength(text));
    assert.equal(j['body'], text);
  });

  it('--data-binary @file (binary) through a CONNECT proxy, and @- from stdin: the server sees the same sha256', async () => {
    const data = Buffer.alloc(5_000_003);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 9)) & 0xff;
    const file = join(dir, 'upload.bin');
    writeFileSync(file, data);
    const sha = createHash('sha256').update(data).digest('hex');
    const r = await runCli(['-x', `http://localhost:${connectProxy.port}`, '--data-binary', `@${file}`, `${helper.url}/sha256`]);
    assert.equal(r.status, 0, r.stderr);
    const j = json(r.stdout);
    assert.equal(j['length'], data.length);
    assert.equal(j['sha256'], sha);
    assert.equal(headerOf(j['headers'], 'content-length'), String(data.length));
    const s = await runCli(['--data-binary', '@-', `${helper.url}/sha256`], { input: data });
    assert.equal(s.status, 0, s.stderr);
    assert.equal(json(s.stdout)['sha256'], sha);
  });

  it('-X and -H: the method and headers sent; -H "Name:" removes a default header', async () => {
    const r = await runCli(['-X', 'PUT', '-H', 'X-Test: yes', '-H', 'Accept:', '-A', 'agent/9', `http://localhost:${originH1.port}/echo`]);
    assert.equal(r.status, 0, r.stderr);
    const j = json(r.stdout);
    assert.equal(j['method'], 'PUT');
    assert.equal(headerOf(j['headers'], 'x-test'), 'yes');
    assert.equal(headerOf(j['headers'], 'accept'), undefined);
    assert.equal(headerOf(j['headers'], 'user-agent'), 'agent/9');
  });
});

describe('burrow URL: redirects', () => {
  const secrets = ['-H', 'Authorization: Bearer s3cret', '-H', 'Cookie: session=1', '-H', 'X-Keep: 1'];

  it('-L to another origin drops authorization and cookie, keeps the rest', async () => {
    const to = `http://localhost:${originH1.port}/echo`;
    const r = await runCli(['-L', '-v', ...secrets, `${helper.url}/redirect/302?to=${encodeURIComponent(to)}`]);
    assert.equal(r.status, 0, r.stderr);
    const j = json(r.stdout);
    assert.equal(j['path'], '/echo');
    assert.equal(headerOf(j['headers'], 'authorization'), undefined);
    assert.equal(headerOf(j['headers'], 'cookie'), undefined);
    assert.equal(headerOf(j['headers'], 'x-keep'), '1');
    assert.equal(headerOf(j['headers'], 'host'), `localhost:${originH1.port}`);
    assert.match(r.stderr, /redirect 302 -> GET http:\/\/localhost:\d+\/echo \(another origin: not sending authorization, cookie\)/);
  });

  it('-L within the origin keeps them; 307 re-sends the method and the streamed body', async () => {
    const data = Buffer.from('0123456789'.repeat(100_000));
    const file = join(dir, 'redirect-body.bin');
    writeFileSync(file, data);
    const r = await runCli(['-L', '-v', ...secrets, '--data-binary', `@${file}`, `${helper.url}/redirect/307?to=/sha256`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /redirect 307 -> POST http:\/\/127\.0\.0\.1:\d+\/sha256\n/);
    // If the origin answered the 307 before the whole body was sent, that HTTP/1.1 connection cannot carry
    // another request (the rest of the body would be read as one) and the redirect goes on a new connection;
    // if the body was all sent first, the connection is reused. Which one depends on timing.
    const connects = r.stderr.match(/TCP {5}connected/g)?.length ?? 0;
    assert.ok(connects === 2 || (connects === 1 && /re-using a pooled connection \(HTTP\/1\.1\)/.test(r.stderr)), r.stderr);
    const j = json(r.stdout);
    assert.equal(j['method'], 'POST');
    assert.equal(j['sha256'], createHash('sha256').update(data).digest('hex'));
    assert.equal(headerOf(j['headers'], 'authorization'), 'Bearer s3cret');
    assert.equal(headerOf(j['headers'], 'cookie'), 'session=1');
  });

  it('-L after a POST: 303 becomes a GET without the body', async () => {
    const r = await runCli(['-L', '-d', 'a=1', `${helper.url}/redirect/303?to=/echo`]);
    assert.equal(r.status, 0, r.stderr);
    const j = json(r.stdout);
    assert.equal(j['method'], 'GET');
    assert.equal(j['body'], '');
    assert.equal(headerOf(j['headers'], 'content-length'), undefined);
  });

  it('-L chooses the route again for each URL: -x with --noproxy decides per origin; the stdin body is not sent twice', async () => {
    const to = `http://localhost:${originH1.port}/echo`;
    const n = connectProxy.requests.length;
    const r = await runCli(['-L', '-v', '-x', `http://localhost:${connectProxy.port}`, '--noproxy', 'localhost', `${helper.url}/redirect/302?to=${encodeURIComponent(to)}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(json(r.stdout)['path'], '/echo');
    assert.deepEqual(connectProxy.requests.slice(n).map((q) => q.target), [new URL(helper.url).host], 'only the first origin went through the proxy');
    const s = await runCli(['-L', '--data-binary', '@-', `${helper.url}/redirect/307?to=/echo`], { input: 'once' });
    assert.equal(s.status, 1, s.stderr);
    assert.match(s.stderr, /cannot send the body from stdin again for the 307 redirect/);
  });

  it('without -L the redirect itself is the answer; -i shows it', async () => {
    const r = await runCli(['-i', `${helper.url}/redirect/302?to=/echo`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), /^HTTP\/1\.1 302 Found\r\n[\s\S]*location: \/echo\r\n/);
  });
});

describe('burrow URL: proxies from the environment', () => {
  it('http_proxy is used by default; --noproxy "*" and NO_PROXY bypass it; -x "" ignores it', async () => {
    const url = `http://localhost:${originH1.port}/`;
    const env = cleanEnv({ http_proxy: `http://localhost:${connectProxy.port}` });
    const n0 = connectProxy.requests.length;
    const r = await runCli(['-v', url], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    assert.equal(connectProxy.requests.length, n0 + 1);
    assert.match(r.stderr, /proxies from the environment/);
    for (const [args, e] of [
      [['--noproxy', '*', url], env],
      [['--noproxy', 'localhost', url], env],
      [[url], cleanEnv({ http_proxy: `http://localhost:${connectProxy.port}`, NO_PROXY: 'localhost' })],
      [['-x', '', url], env],
    ] as const) {
      const d = await runCli(args, { env: e });
      assert.equal(d.status, 0, d.stderr);
      assert.equal(d.stdout.toString(), 'hello');
    }
    assert.equal(connectProxy.requests.length, n0 + 1);
  });

  it('https_proxy may hold a chain; --proxy-cacert N applies to its hops', async () => {
    const env = cleanEnv({ https_proxy: `h2://localhost:${h2proxy.port}, socks5hs://localhost:${socksTls.port}` });
    const n0 = h2proxy.requests.length;
    const r = await runCli(['--proxy-cacert', `1:${caFile}`, '--proxy-cacert', `2:${caFile}`, '--cacert', caFile, `https://localhost:${originH2.port}/`], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    assert.equal(h2proxy.requests.length, n0 + 1);
    const bad = await runCli(['--proxy-cacert', `3:${caFile}`, '--cacert', caFile, `https://localhost:${originH2.port}/`], { env });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /hop 3 is not in the proxy chain \(2 proxies\)/);
  });
});

describe('burrow URL: -v and --trace-json', () => {
  it('-v shows every layer in order with timings, then > request and < response headers', async () => {
    const r = await runCli(['-v', ...chainArgs(), `https://localhost:${originH2.port}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello');
    const order = [
      /\* GET https:\/\/localhost:\d+\/ \(proxies from -x\)/,
      /hop 0\s+CONNECT proxy\s+h2:\/\/localhost:\d+ \(TLS\)/,
      /hop 1\s+SOCKS5 proxy\s+socks5hs:\/\/localhost:\d+ \(TLS\)/,
      /hop 2\s+origin\s+https:\/\/localhost:\d+/,
      /\d+\.\d\d ms\s+hop 0\s+DNS\s+localhost -> /,
      /ms\s+hop 0\s+TCP\s+connected 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+/,
      /ms\s+hop 0\s+TLS\s+TLSv1\.\d, \S+, ALPN h2; TLS depth 1; certificate CN=localhost.*; verified/,
      /ms\s+hop 0\s+CONNECT\s+localhost:\d+ -> 200 \(HTTP\/2 CONNECT/,
      /ms\s+hop 1\s+TLS\s+TLS depth 2; certificate CN=localhost.*; verified/,
      /ms\s+hop 1\s+SOCKS5\s+CONNECT localhost:\d+ -> succeeded/,
      /ms\s+hop 2\s+TLS\s+TLS depth 3; certificate CN=localhost.*; verified/,
      /ms\s+hop 2\s+HTTP\s+HTTP\/2 with the origin/,
      /\n> GET \/ HTTP\/2\n> host: localhost:\d+\n> user-agent: burrow\/[\d.]+\n> accept: \*\/\*\n>\n/,
      /< HTTP\/2 200\n< content-type: text\/plain/,
      /done: 200, 5 body bytes/,
    ];
    let at = 0;
    for (const re of order) {
      const m = re.exec(r.stderr.slice(at));
      assert.ok(m, `${re} after offset ${at} in:\n${r.stderr}`);
      at += m.index + m[0].length;
    }
  });

  it('-v on a failure shows the layers that came up, then the error naming hop and stage', async () => {
    const r = await runCli(['-v', '-x', `h2://localhost:${h2proxy.port}`, '--proxy-cacert', `1:${caFile}`, '-x', `socks5h://localhost:${socksRefusing.port}`, `http://localhost:${originH1.port}/`]);
    assert.equal(r.status, 97, r.stderr);
    assert.match(r.stderr, /hop 0\s+TLS .*verified/);
    assert.match(r.stderr, /burrow: hop 1 \(socks5 tcp:\/\/localhost:\d+\): SOCKS5 server replied connection_refused \(5\).*\[stage socks-reply\]/);
  });

  it('--trace-json writes the run and every burrow event (the channels\' payloads) as JSON lines', async () => {
    const trace = join(dir, 'trace.jsonl');
    const r = await runCli([...chainArgs(), '--trace-json', trace, '-o', join(dir, 'traced.bin'), `https://localhost:${originH2.port}/bytes/100000`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    type Line = { event: string; t: number; layer?: { kind: string; hop: { index: number }; tls?: { version: string; certificate?: { subject: string } } }; status?: number; bytes?: number };
    const events = readFileSync(trace, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Line);
    const names = events.map((e) => e.event);
    assert.equal(names[0], 'start');
    // The run ends with `done`; then the pooled connection closes (its layers go down).
    assert.equal(names.at(-1), 'burrow:connection:closed');
    const ups = events.filter((e) => e.event === 'burrow:layer:up').map((e) => `${e.layer?.kind}@${e.layer?.hop.index}`);
    assert.deepEqual(ups, ['tcp@0', 'tls@0', 'http2@0', 'http2-connect@0', 'tls@1', 'socks5@1', 'tls@2', 'http2@2']);
    for (const e of events.filter((x) => x.event === 'burrow:layer:up' && x.layer?.kind === 'tls')) {
      assert.match(e.layer?.tls?.version ?? '', /^TLSv1\.[23]$/);
      assert.match(e.layer?.tls?.certificate?.subject ?? '', /CN=localhost/);
    }
    for (const name of ['burrow:connection:created', 'burrow:dns:start', 'burrow:dns:end', 'burrow:connection:up', 'request', 'burrow:stream:start', 'burrow:stream:headers-sent', 'burrow:stream:response', 'response', 'burrow:stream:end']) {
      assert.ok(names.includes(name), `${name} in ${names.join(' ')}`);
    }
    for (let i = 1; i < events.length; i++) assert.ok((events[i]?.t ?? 0) >= (events[i - 1]?.t ?? 0), 'times never go back');
    assert.equal(events.find((e) => e.event === 'done')?.bytes, 100000);
    assert.equal(events.find((e) => e.event === 'burrow:stream:end' && e.bytes === 100000)?.event, 'burrow:stream:end');
    assert.ok(names.indexOf('done') < names.indexOf('burrow:connection:closed'));
    const fail = await runCli(['--trace-json', trace, '-x', `http://localhost:${connect403.port}`, `http://localhost:${originH1.port}/`]);
    assert.equal(fail.status, 56);
    const last = JSON.parse(readFileSync(trace, 'utf8').trimEnd().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    assert.equal(last['event'], 'error');
    assert.equal(last['code'], 'ERR_CONNECT_STATUS');
    assert.equal(last['stage'], 'connect-response');
    assert.equal(last['exit'], 56);
    assert.deepEqual(last['hop'], { index: 0, kind: 'connect', host: 'localhost', port: connect403.port, transport: 'tcp' });
  });
});

describe('burrow URL: -v and --trace-json show no credential', () => {
  it('proxy passwords, authorization headers and URL passwords appear in neither -v nor --trace-json, on success and on failure', async () => {
    const secrets = ['PROXY-PW-8a1f', 'SOCKS-PW-77c2', 'HEADER-TOKEN-5d0e', 'URL-PW-c3b9', 'FAIL-PW-e41a'];
    const forms = secrets.flatMap((x) => [x, Buffer.from(`pu:${x}`).toString('base64'), encodeURIComponent(x)]);
    const socksAuth = await startSocks5Server({ auth: { username: 'su', password: 'SOCKS-PW-77c2' } });
    const trace = join(dir, 'secret-trace.jsonl');
    const failTrace = join(dir, 'secret-fail-trace.jsonl');
    try {
      const r = await runCli([
        '-v', '--trace-json', trace, '-H', 'Authorization: Bearer HEADER-TOKEN-5d0e',
        '-x', `http://pu:PROXY-PW-8a1f@localhost:${connectProxy.port}`, '-x', `socks5://su:SOCKS-PW-77c2@localhost:${socksAuth.port}`,
        `http://uu:URL-PW-c3b9@localhost:${originH1.port}/`,
      ]);
      assert.equal(r.status, 0, r.stderr);
      // The credentials were used: the CONNECT proxy got its password, the SOCKS5 server accepted its own.
      const connect = connectProxy.requests.find((q) => q.port === socksAuth.port);
      assert.equal(connect?.headers.find(([k]) => k === 'proxy-authorization')?.[1], `Basic ${Buffer.from('pu:PROXY-PW-8a1f').toString('base64')}`);
      assert.match(r.stderr, /hop 0\s+CONNECT proxy\s+http:\/\/pu:\*\*\*@localhost:\d+/);
      assert.match(r.stderr, /\* GET http:\/\/uu:\*\*\*@localhost:\d+\//);
      assert.match(r.stderr, /> authorization: Bearer \*\*\*/);
      const fail = await runCli(['-v', '--trace-json', failTrace, '-x', `http://pu:FAIL-PW-e41a@localhost:${connect403.port}`, `http://localhost:${originH1.port}/`]);
      assert.equal(fail.status, 56, fail.stderr);
      assert.match(fail.stderr, /http:\/\/pu:\*\*\*@localhost:\d+ refused CONNECT/);
      const usage = await runCli(['-x', `http://pu:FAIL-PW-e41a@localhost:${connect403.port}`, 'http://uu:FAIL-PW-e41a@[bad/']);
      assert.equal(usage.status, 2, usage.stderr);
      const published = [r.stderr, readFileSync(trace, 'utf8'), fail.stderr, readFileSync(failTrace, 'utf8'), usage.stderr].join('\n');
      assert.ok(published.includes('burrow:stream:start') && published.includes('"proxy-authorization","Basic ***"'), 'the trace has the CONNECT with its credential masked');
      for (const f of forms) assert.equal(published.includes(f), false, `${f} appears in:\n${published}`);
    } finally {
      await socksAuth.close();
    }
  });
});

describe('burrow URL: -v names a hop reached through a socks5:// hop as given', () => {
  it('the SOCKS5 line shows the next hop by name and the address sent for it; later hops keep their names', async () => {
    const r = await runCli(['-v', '-x', `socks5://localhost:${socksPlain.port}`, '-x', `http://localhost:${connectProxy.port}`, `http://localhost:${originH1.port}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /ms\s+hop 1\s+DNS\s+localhost -> 127\.0\.0\.1/);
    assert.match(r.stderr, new RegExp(`ms\\s+hop 0\\s+SOCKS5\\s+CONNECT localhost:${connectProxy.port} \\(sent as 127\\.0\\.0\\.1:${connectProxy.port}, resolved by the client\\) -> succeeded`));
    assert.match(r.stderr, new RegExp(`ms\\s+hop 1\\s+CONNECT\\s+localhost:${originH1.port} -> 200 \\(HTTP/1\\.1 CONNECT via http://localhost:${connectProxy.port}\\)`));
    assert.match(r.stderr, new RegExp(`ms\\s+hop 2\\s+HTTP\\s+HTTP/1\\.1 with the origin localhost:${originH1.port}`));
    const direct = await runCli(['-v', '-x', `socks5://localhost:${socksPlain.port}`, `http://localhost:${originH1.port}/`]);
    assert.equal(direct.status, 0, direct.stderr);
    assert.match(direct.stderr, new RegExp(`ms\\s+hop 0\\s+SOCKS5\\s+CONNECT localhost:${originH1.port} \\(sent as 127\\.0\\.0\\.1:${originH1.port}, resolved by the client\\) -> succeeded`));
    assert.match(direct.stderr, new RegExp(`ms\\s+hop 1\\s+HTTP\\s+HTTP/1\\.1 with the origin localhost:${originH1.port}`));
    // A socks5h:// hop gets the name: nothing was resolved by the client.
    const remote = await runCli(['-v', '-x', `socks5h://localhost:${socksPlain.port}`, `http://localhost:${originH1.port}/`]);
    assert.match(remote.stderr, new RegExp(`ms\\s+hop 0\\s+SOCKS5\\s+CONNECT localhost:${originH1.port} -> succeeded`));
  });
});

describe('burrow URL: progress bar', () => {
  const url = (): string => `http://localhost:${originH1.port}/bytes/2000000`;

  it('not a terminal: stderr stays empty', async () => {
    const file = join(dir, 'quiet.bin');
    const r = await runCli(['-o', file, url()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(statSync(file).size, 2_000_000);
  });

  it('BURROW_FORCE_PROGRESS=1 draws it (and -s silences it)', async () => {
    const file = join(dir, 'forced.bin');
    const r = await runCli(['-o', file, url()], { env: cleanEnv({ BURROW_FORCE_PROGRESS: '1' }) });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /100\.0% \[#{30}\] 2\.0 MB \/ 2\.0 MB/);
    const s = await runCli(['-s', '-o', file, url()], { env: cleanEnv({ BURROW_FORCE_PROGRESS: '1' }) });
    assert.equal(s.status, 0);
    assert.equal(s.stderr, '');
  });

  it('stderr a terminal (script from util-linux): the bar appears; to stdout: no bar', async (t) => {
    if (!hasScript()) {
      t.skip('script (util-linux) is not available');
      return;
    }
    const file = join(dir, 'tty.bin');
    const cmd = [process.execPath, bin, '-o', file, url()].map(shQuote).join(' ');
    const r = await runCli(['-qfec', cmd, '/dev/null'], { command: ['script'] });
    assert.equal(r.status, 0, r.stdout.toString());
    assert.match(r.stdout.toString(), /100\.0% \[#{30}\]/);
    assert.ok(existsSync(file));
    const toStdout = await runCli(['-qfec', [process.execPath, bin, `http://localhost:${originH1.port}/`].map(shQuote).join(' '), '/dev/null'], { command: ['script'] });
    assert.equal(toStdout.status, 0);
    assert.equal(toStdout.stdout.toString(), 'hello');
  });
});
