// The `burrow` command, run as a child process the way users run it: help, version, commands, demo.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runCli } from './helpers.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('burrow CLI', () => {
  it('--help prints usage and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.status, 0);
    const out = r.stdout.toString();
    assert.match(out, /Usage:/);
    assert.match(out, /burrow demo/);
    for (const opt of ['--proxy', '--proxy-cacert', '--proxy-insecure', '--noproxy', '--data-binary', '--trace-json', '--connect-timeout', '--max-time', '--fail', '--http1.1', '--http2', '--cacert', '--insecure']) {
      assert.ok(out.includes(opt), `--help mentions ${opt}`);
    }
  });

  it('no arguments prints usage and exits 0; --version prints the package version', async () => {
    const r = await runCli([]);
    assert.equal(r.status, 0);
    assert.match(r.stdout.toString(), /Usage:/);
    const v = await runCli(['--version']);
    assert.equal(v.status, 0);
    assert.equal(v.stdout.toString(), `${pkg.version}\n`);
  });

  it('an unknown command exits 2 with usage on stderr', async () => {
    const r = await runCli(['no-such-command']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command/);
    assert.match(r.stderr, /Usage:/);
  });

  it('an unknown option exits 2 naming it', async () => {
    const r = await runCli(['--frobnicate', 'http://127.0.0.1:1/']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option --frobnicate/);
    assert.equal(r.stdout.length, 0);
  });

  it('demo runs a request and a 100 MB download through h2 proxy -> SOCKS5 -> HTTPS origin, prints the layers, exits 0', async () => {
    const r = await runCli(['demo'], { timeoutMs: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(out, /GET \/\s+-> 200 "hello"/);
    assert.match(out, /100000000 bytes in/);
    assert.match(out, /TLS depth 3/);
    // Each layer, in stacking order.
    const order = [/TCP\s+127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+/, /TLS\s+depth 1 with the HTTP\/2 CONNECT proxy/, /CONNECT localhost:\d+ -> 200/, /TLS\s+depth 2 with the SOCKS5 server/, /SOCKS5\s+CONNECT localhost:\d+/, /TLS\s+depth 3 with the origin/, /HTTP\/2\s+with the origin/];
    let at = 0;
    for (const re of order) {
      const m = re.exec(out.slice(at));
      assert.ok(m, `${re} after offset ${at} in:\n${out}`);
      at += m.index + m[0].length;
    }
    assert.match(out, /\d+ MB\/s/);
    assert.match(out, /verified: byte i = i % 251/);
    assert.doesNotMatch(out, /NOT verified/);
  });
});
