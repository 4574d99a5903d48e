// burrow -b / -c / -j (curl's cookie options) as a child process against a server that sets cookies and echoes them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers.js';
import { parseArgs, UsageError } from '../../src/cli/args.js';

let server: Server;
let base: string;
let dir: string;

/** `/set?c=COOKIE&c=...&to=URL`: Set-Cookie each `c` (and 302 to `to`); anything else: the cookie header received, or `-`. */
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-cli-cookies-'));
  server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const set = u.searchParams.getAll('c');
    if (set.length > 0) res.setHeader('set-cookie', set);
    const to = u.searchParams.get('to');
    if (to !== null) {
      res.writeHead(302, { location: to, 'content-length': '0' });
      res.end();
      return;
    }
    res.end(req.headers.cookie ?? '-');
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const set = (...c: string[]): string => `${base}/set?${c.map((x) => `c=${encodeURIComponent(x)}`).join('&')}`;

describe('burrow -b / -c / -j', () => {
  it('-c FILE writes the received cookies in the Netscape format with curl’s header, owner-only', async () => {
    const jarFile = join(dir, 'out.txt');
    const r = await runCli(['-s', '-c', jarFile, set('a=1; Path=/', 'b=2; Path=/; HttpOnly; Max-Age=3600')]);
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(jarFile, 'utf8');
    assert.ok(text.startsWith('# Netscape HTTP Cookie File\n# https://curl.se/docs/http-cookies.html\n'), text);
    assert.match(text, /^127\.0\.0\.1\tFALSE\t\/\tFALSE\t0\ta\t1$/m);
    assert.match(text, /^#HttpOnly_127\.0\.0\.1\tFALSE\t\/\tFALSE\t\d{10}\tb\t2$/m);
    assert.equal(statSync(jarFile).mode & 0o777, 0o600);
  });

  it('-b FILE sends the file’s cookies; with -c the same file is updated', async () => {
    const jarFile = join(dir, 'both.txt');
    writeFileSync(jarFile, `# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\told\tv\nother.test\tFALSE\t/\tFALSE\t0\tno\tx\n`);
    const r = await runCli(['-s', '-b', jarFile, '-c', jarFile, `${base}/echo`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'old=v');
    const r2 = await runCli(['-s', '-b', jarFile, '-c', jarFile, set('new=1; Path=/')]);
    assert.equal(r2.status, 0, r2.stderr);
    const r3 = await runCli(['-s', '-b', jarFile, `${base}/echo`]);
    assert.equal(r3.stdout.toString(), 'old=v; new=1');
    assert.match(readFileSync(jarFile, 'utf8'), /\tno\tx$/m);
  });

  it("-b 'name=value; n2=v2' sends them as they are, with the jar's after them", async () => {
    const jarFile = join(dir, 'pairs.txt');
    writeFileSync(jarFile, '127.0.0.1\tFALSE\t/\tFALSE\t0\tj\t1\n');
    const r = await runCli(['-s', '-b', 'a=1; b=2', '-b', jarFile, `${base}/echo`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'a=1; b=2; j=1');
  });

  it('a missing -b file starts an empty jar (as curl)', async () => {
    const r = await runCli(['-s', '-b', join(dir, 'none.txt'), `${base}/echo`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), '-');
  });

  it('-j drops the session cookies of the -b files', async () => {
    const jarFile = join(dir, 'session.txt');
    writeFileSync(jarFile, `127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t1\n127.0.0.1\tFALSE\t/\tFALSE\t${Math.floor(Date.now() / 1000) + 3600}\tkept\t1\n`);
    const r = await runCli(['-s', '-j', '-b', jarFile, `${base}/echo`]);
    assert.equal(r.stdout.toString(), 'kept=1');
  });

  it('-L: a cookie set by a redirect is sent to the next hop', async () => {
    const r = await runCli(['-s', '-L', '-c', '-', `${set('r=1; Path=/')}&to=${encodeURIComponent('/echo')}`]);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.toString();
    assert.ok(out.startsWith('r=1'), out);
    assert.match(out, /# Netscape HTTP Cookie File/);
  });

  it('parses -b (repeatable), -c and -j; refuses them for WebSocket URLs and empty values', () => {
    const c = parseArgs(['-b', 'a=1', '--cookie', 'f.txt', '-c', 'jar.txt', '-j', 'http://h/']);
    assert.equal(c.type, 'request');
    if (c.type !== 'request') return;
    assert.deepEqual([c.options.cookie, c.options.cookieJar, c.options.junkSessionCookies], [['a=1', 'f.txt'], 'jar.txt', true]);
    assert.throws(() => parseArgs(['-b', 'a=1', 'ws://h/']), UsageError);
    assert.throws(() => parseArgs(['-c', '', 'http://h/']), UsageError);
    assert.throws(() => parseArgs(['-b', '', 'http://h/']), UsageError);
  });
});
