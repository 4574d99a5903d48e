// The http-state cookie tests (test/cookies/vectors/, see its README) run against CookieJar: each test's
// Set-Cookie lines are received from http://home.example.org:8888/cookie-parser?NAME, then the Cookie header
// for its Location (by default /cookie-parser-result?NAME) is compared with the expected one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CookieJar } from '../../src/cookies/jar.js';
import { parseCookieDate } from '../../src/cookies/date.js';

const dir = fileURLToPath(new URL('../../../test/cookies/vectors/', import.meta.url));
// The tests were written around 2011: their "future" Expires dates are in the 2010s.
const NOW = Date.UTC(2011, 2, 1);

/**
 * Where RFC 6265bis (which burrow implements) and these 2011 vectors (RFC 6265 era) disagree: the test name and
 * why. Every other vector must pass.
 */
const NAMELESS =
  'RFC 6265bis §5.6 step 3: a name-value pair without "=" (or with an empty name) is a cookie with an empty name, sent as its value alone; RFC 6265 ignored it';
export const KNOWN_DISAGREEMENTS: Readonly<Record<string, string>> = {
  '0004': NAMELESS,
  '0021': NAMELESS,
  '0023': NAMELESS,
  '0024': NAMELESS,
  '0025': NAMELESS,
  '0026': NAMELESS,
  '0027': NAMELESS,
  '0028': NAMELESS,
  'chromium0009': NAMELESS,
  'chromium0010': NAMELESS,
  'chromium0012': NAMELESS,
  'mozilla0012': NAMELESS,
  'mozilla0014': NAMELESS,
  'mozilla0015': NAMELESS,
  'mozilla0016': NAMELESS,
  'mozilla0017': NAMELESS,
  'name0017': NAMELESS,
  'name0023': NAMELESS,
  'name0025': NAMELESS,
  'name0028': NAMELESS,
  'name0031': NAMELESS,
  'name0032': NAMELESS,
  'name0033': NAMELESS,
  // Disabled upstream (the "disabled-" prefix): no browser passes them.
  'disabled-chromium0022': 'disabled upstream; the value holds a NUL: RFC 6265bis §5.6 step 1 ignores the whole Set-Cookie (RFC 6265 cut the value there)',
  'disabled-path0029': 'disabled upstream; paths are compared as sent, not percent-decoded (RFC 6265bis §5.1.4), so /f%6Fo/bar does not path-match /foo/bar',
};

interface Outcome {
  readonly name: string;
  readonly expected: string | null;
  readonly actual: string | null;
}

function run(name: string): Outcome {
  const test = readFileSync(`${dir}parser/${name}-test`, 'latin1');
  const expectedFile = readFileSync(`${dir}parser/${name}-expected`, 'latin1');
  const jar = new CookieJar({ now: () => NOW });
  const setUrl = new URL(`http://home.example.org:8888/cookie-parser?${name}`);
  let location = `/cookie-parser-result?${name}`;
  for (const line of test.split('\n')) {
    const m = /(\S+):\s*(.*)/.exec(line);
    if (m === null) continue;
    const header = (m[1] as string).toLowerCase();
    if (header === 'set-cookie') jar.setCookie(m[2] as string, setUrl);
    else if (header === 'location') location = m[2] as string;
  }
  const expectedLines = [...expectedFile.matchAll(/Cookie:\s*(.*)/g)];
  const expected = expectedLines.length === 1 ? ((expectedLines[0] as RegExpMatchArray)[1] as string) : null;
  const header = jar.getCookieHeader(new URL(location, setUrl));
  return { name, expected, actual: header === '' ? null : header };
}

describe('http-state cookie vectors', () => {
  const names = readdirSync(`${dir}parser`).filter((f) => f.endsWith('-test')).map((f) => f.slice(0, -'-test'.length)).sort();

  it('agree with CookieJar, known disagreements aside (N pass / M total reported)', () => {
    const outcomes = names.map(run);
    const failed = outcomes.filter((o) => o.actual !== o.expected);
    const pass = outcomes.length - failed.length;
    // The agreement, in the test output.
    console.log(`http-state parser vectors: ${pass} pass / ${outcomes.length} total; ${failed.length} known disagreements`);
    for (const f of failed) console.log(`  ${f.name}: expected ${JSON.stringify(f.expected)}, got ${JSON.stringify(f.actual)}`);
    assert.equal(outcomes.length, 222);
    assert.deepEqual(failed.map((f) => f.name), Object.keys(KNOWN_DISAGREEMENTS).sort());
  });

  it('the date examples parse as expected (cookie-date algorithm)', () => {
    const read = (file: string): Array<{ test: string; expected: string | null }> => JSON.parse(readFileSync(`${dir}dates/${file}`, 'utf8').replace(/^\/\/.*$/gm, '')) as Array<{ test: string; expected: string | null }>;
    const examples = [...read('examples.json'), ...read('bsd-examples.json')];
    const wrong = examples.filter((e) => {
      const t = parseCookieDate(e.test);
      return (t === undefined ? null : new Date(t).toUTCString()) !== e.expected;
    });
    console.log(`http-state date examples: ${examples.length - wrong.length} pass / ${examples.length} total`);
    assert.deepEqual(wrong, []);
  });
});
