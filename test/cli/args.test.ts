// The command-line parser, without running anything.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_REDIRS, parseArgs, parseHeaderArg, splitProxyList, UsageError, withScheme, type CliOptions } from '../../src/cli/args.js';

function opts(argv: string[]): CliOptions {
  const c = parseArgs(argv);
  assert.equal(c.type, 'request');
  if (c.type !== 'request') throw new Error('unreachable');
  return c.options;
}

function usage(argv: string[], re: RegExp): void {
  assert.throws(() => parseArgs(argv), (e: unknown) => e instanceof UsageError && re.test(e.message));
}

describe('burrow argument parser', () => {
  it('commands: demo, help, --help, -h, --version, -V', () => {
    assert.deepEqual(parseArgs(['demo']), { type: 'demo' });
    assert.deepEqual(parseArgs(['help']), { type: 'help' });
    assert.deepEqual(parseArgs(['--help']), { type: 'help' });
    assert.deepEqual(parseArgs(['-h']), { type: 'help' });
    assert.deepEqual(parseArgs(['--version']), { type: 'version' });
    assert.deepEqual(parseArgs(['-V']), { type: 'version' });
  });

  it('defaults for a plain URL', () => {
    const o = opts(['https://example.com/x']);
    assert.equal(o.url, 'https://example.com/x');
    assert.equal(o.proxies, undefined);
    assert.equal(o.method, undefined);
    assert.equal(o.maxRedirs, DEFAULT_MAX_REDIRS);
    assert.equal(o.compressed, false);
    assert.equal(o.insecure, false);
    assert.equal(o.protocols, undefined);
    assert.equal(o.data, undefined);
  });

  it('a URL without a scheme gets http:// (curl); a bare word is an unknown command', () => {
    assert.equal(opts(['example.com:8080/p']).url, 'http://example.com:8080/p');
    assert.equal(opts(['localhost']).url, 'http://localhost');
    assert.throws(() => parseArgs(['no-such-command']), (e: unknown) => e instanceof UsageError && e.showUsage && /unknown command "no-such-command"/.test(e.message));
    usage(['-v', 'demo'], /demo takes no options/);
  });

  it('-x is repeatable and splits comma-separated chains, in order; -x "" means no proxy', () => {
    const o = opts(['-x', 'h2://a:1', '--proxy', 'socks5h://b:2, http://c:3', '--proxy=https://d', 'http://o/']);
    assert.deepEqual(o.proxies, ['h2://a:1', 'socks5h://b:2', 'http://c:3', 'https://d']);
    assert.deepEqual(opts(['-x', '', 'http://o/']).proxies, []);
    assert.deepEqual(splitProxyList(' a,b  c,,'), ['a', 'b', 'c']);
  });

  it('per-hop CA and insecure take 1-based hop positions within the -x chain', () => {
    const o = opts(['-x', 'h2://a', '-x', 'socks5hs://b', '--proxy-cacert', '2:/tmp/ca.pem', '--proxy-cacert=1:c:/x.pem', '--proxy-insecure', '1', 'https://o/']);
    assert.deepEqual(o.proxyCacerts, [{ hop: 2, path: '/tmp/ca.pem' }, { hop: 1, path: 'c:/x.pem' }]);
    assert.deepEqual(o.proxyInsecure, [1]);
    usage(['-x', 'h2://a', '--proxy-cacert', '2:/ca', 'https://o/'], /hop 2 is not in the proxy chain/);
    usage(['--proxy-cacert', '0:/ca', 'https://o/'], /1 for the first proxy/);
    usage(['--proxy-cacert', '/ca', 'https://o/'], /N:FILE/);
    usage(['--proxy-insecure', 'x', 'https://o/'], /position in the proxy chain/);
    // Without -x the chain comes from the environment: checked when the request runs.
    assert.deepEqual(opts(['--proxy-cacert', '3:/ca', 'https://o/']).proxyCacerts, [{ hop: 3, path: '/ca' }]);
  });

  it('combined short options, attached values, and --', () => {
    const o = opts(['-sLkiv', '-XPUT', '-ofile.bin', '-HX-A: 1', '--', 'http://o/']);
    assert.equal(o.silent, true);
    assert.equal(o.location, true);
    assert.equal(o.insecure, true);
    assert.equal(o.include, true);
    assert.equal(o.verbose, true);
    assert.equal(o.method, 'PUT');
    assert.equal(o.output, 'file.bin');
    assert.deepEqual(o.headers, ['X-A: 1']);
    assert.equal(opts(['--', '-weird.example']).url, 'http://-weird.example');
  });

  it('-d values (literal and @file) join; --data-binary is literal or a streamed @file', () => {
    assert.deepEqual(opts(['-d', 'a=1', '-d', '@f.txt', 'http://o/']).data, { kind: 'form', parts: [{ kind: 'literal', value: 'a=1' }, { kind: 'file', path: 'f.txt' }] });
    assert.deepEqual(opts(['--data-binary', '@big.bin', 'http://o/']).data, { kind: 'binary-file', path: 'big.bin' });
    assert.deepEqual(opts(['--data-binary', '@-', 'http://o/']).data, { kind: 'binary-file', path: '-' });
    assert.deepEqual(opts(['--data-binary', 'x=1', 'http://o/']).data, { kind: 'binary-string', value: 'x=1' });
    usage(['-d', 'a', '--data-binary', 'b', 'http://o/'], /--data-binary/);
    usage(['--data-binary', 'a', '-d', 'b', 'http://o/'], /-d cannot be combined/);
    usage(['-d', '@', 'http://o/'], /missing file name/);
    usage(['-I', '-d', 'x', 'http://o/'], /HEAD/);
  });

  it('timeouts are positive seconds, fractions allowed', () => {
    const o = opts(['--connect-timeout', '2.5', '-m', '.3', 'http://o/']);
    assert.equal(o.connectTimeout, 2.5);
    assert.equal(o.maxTime, 0.3);
    usage(['-m', '0', 'http://o/'], /more than 0/);
    usage(['-m', 'soon', 'http://o/'], /number of seconds/);
    usage(['--connect-timeout', '-1', 'http://o/'], /number of seconds/);
  });

  it('protocols, output and misc flags', () => {
    assert.deepEqual(opts(['--http1.1', 'https://o/']).protocols, ['http']);
    assert.deepEqual(opts(['--http2', 'https://o/']).protocols, ['http2']);
    assert.deepEqual(opts(['--http1.0', 'http://o/']).protocols, ['http/1.0']);
    assert.deepEqual(opts(['-0', 'http://o/']).protocols, ['http/1.0']);
    const o = opts(['-O', '-I', '-f', '--noproxy', 'localhost,.internal', '--cacert', 'ca.pem', '--trace-json', 't.jsonl', '--max-redirs', '3', '-A', 'agent/1', 'http://o/f']);
    assert.equal(o.remoteName, true);
    assert.equal(o.head, true);
    assert.equal(o.fail, true);
    assert.equal(o.noproxy, 'localhost,.internal');
    assert.equal(o.cacert, 'ca.pem');
    assert.equal(o.traceJson, 't.jsonl');
    assert.equal(o.maxRedirs, 3);
    assert.equal(o.userAgent, 'agent/1');
    assert.equal(opts(['--compressed', 'http://o/f']).compressed, true);
    usage(['--compressed=yes', 'http://o/f'], /--compressed takes no value/);
    usage(['-o', 'a', '-O', 'http://o/f'], /-o and -O/);
  });

  it('usage errors: unknown options, missing values, no URL, two URLs, bad URLs, bad headers, bad methods', () => {
    usage(['--nope', 'http://o/'], /unknown option --nope/);
    usage(['-Z', 'http://o/'], /unknown option -Z/);
    usage(['http://o/', '-x'], /-x needs a value/);
    usage(['--verbose=1', 'http://o/'], /takes no value/);
    usage(['-v'], /no URL/);
    usage(['http://a/', 'http://b/'], /one URL at a time/);
    usage(['ftp://o/'], /not supported/);
    usage(['http://[::1/'], /not a valid URL/);
    usage(['-H', 'no-colon', 'http://o/'], /Name: value/);
    usage(['-H', 'bad name: v', 'http://o/'], /not a valid header name/);
    usage(['-X', 'GE T', 'http://o/'], /not a valid method/);
    usage(['--max-redirs', 'many', 'http://o/'], /needs a number/);
  });

  it('-H forms: value, removal (Name:) and empty value (Name;)', () => {
    assert.deepEqual(parseHeaderArg('X-A:  b c '), { name: 'X-A', value: 'b c' });
    assert.deepEqual(parseHeaderArg('Accept:'), { name: 'Accept', value: undefined });
    assert.deepEqual(parseHeaderArg('X-Empty;'), { name: 'X-Empty', value: '' });
    assert.equal(withScheme('HTTPS://x'), 'HTTPS://x');
  });
});
