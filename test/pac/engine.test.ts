// The PAC sandbox: a script that throws, loops forever (at load or in FindProxyForURL), eats memory, or looks
// for Node; each a typed error of stage `pac`, and the script usable again afterwards.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BurrowError } from '../../src/errors/errors.js';
import { PacScript, type PacLimits } from '../../src/pac/engine.js';

const FAST: PacLimits = { cpuMs: 100, timeoutMs: 2000, memoryBytes: 32 * 1024 * 1024 };

async function rejectsWith(p: Promise<unknown>, code: string): Promise<BurrowError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BurrowError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.stage, 'pac');
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('PAC engine', () => {
  it('runs FindProxyForURL with the url and host', async () => {
    const s = await PacScript.compile('function FindProxyForURL(url, host) { return "PROXY p:1 " + url + " " + host; }', 'test');
    assert.equal(await s.find('http://a.test/x', 'a.test'), 'PROXY p:1 http://a.test/x a.test');
    s.dispose();
  });

  it('a script that throws: ERR_PAC_SCRIPT with the message', async () => {
    const s = await PacScript.compile('function FindProxyForURL(url, host) { throw new Error("boom"); }', 'test');
    const e = await rejectsWith(s.find('http://a.test/', 'a.test'), 'ERR_PAC_SCRIPT');
    assert.match(e.message, /boom/);
    s.dispose();
  });

  it('a syntax error or no FindProxyForURL: ERR_PAC_SCRIPT at load', async () => {
    await rejectsWith(PacScript.compile('function FindProxyForURL(url, host) { return ', 'test'), 'ERR_PAC_SCRIPT');
    await rejectsWith(PacScript.compile('var x = 1;', 'test'), 'ERR_PAC_SCRIPT');
  });

  it('a FindProxyForURL that loops forever is stopped: ERR_PAC_TIMEOUT, and the next call works', async () => {
    const s = await PacScript.compile('function FindProxyForURL(url, host) { if (host === "loop") { for (;;) {} } return "DIRECT"; }', 'test', FAST);
    const started = performance.now();
    const e = await rejectsWith(s.find('http://loop/', 'loop'), 'ERR_PAC_TIMEOUT');
    assert.ok(performance.now() - started < 3000);
    assert.equal(e.details['limit'], 'cpu');
    assert.equal(e.details['timeoutMs'], 100);
    assert.equal(await s.find('http://a.test/', 'a.test'), 'DIRECT');
    s.dispose();
  });

  it('a script that loops forever while loading: ERR_PAC_TIMEOUT', async () => {
    await rejectsWith(PacScript.compile('while (true) {} function FindProxyForURL() { return "DIRECT"; }', 'test', FAST), 'ERR_PAC_TIMEOUT');
  });

  it('a script that eats memory: ERR_PAC_SCRIPT (reason memory) under the limit', async () => {
    const s = await PacScript.compile('function FindProxyForURL(url, host) { var a = []; for (;;) a.push("x".repeat(1 << 16) + a.length); }', 'test', { cpuMs: 10_000, timeoutMs: 20_000, memoryBytes: 4 * 1024 * 1024 });
    const e = await rejectsWith(s.find('http://a.test/', 'a.test'), 'ERR_PAC_SCRIPT');
    assert.equal(e.details['reason'], 'memory');
    s.dispose();
  });

  it('the script sees nothing of Node', async () => {
    const s = await PacScript.compile('function FindProxyForURL() { return [typeof require, typeof process, typeof fetch, typeof setTimeout, typeof Buffer, typeof globalThis.console].join(","); }', 'test');
    assert.equal(await s.find('http://a.test/', 'a.test'), 'undefined,undefined,undefined,undefined,undefined,undefined');
    s.dispose();
  });

  it('returns what the script returned, a non-string included (the caller checks it)', async () => {
    const s = await PacScript.compile('function FindProxyForURL() { return 42; }', 'test');
    assert.equal(await s.find('http://a.test/', 'a.test'), 42);
    s.dispose();
  });

  it('regression: DNS helpers nested in other calls or in array literals are answered (pac-resolver\'s rewriting left them pending or broke the script)', async () => {
    const s = await PacScript.compile('function FindProxyForURL(url, host) { return String(dnsResolve(host)) + "|" + [isResolvable(host), isInNet(dnsResolve(host), "10.0.0.0", "255.0.0.0")].join(); }', 'test');
    const lookup = (): Promise<{ address: string; family: 4 }[]> => Promise.resolve([{ address: '10.0.0.9', family: 4 }]);
    assert.equal(await s.find('http://a.test/', 'a.test', lookup), '10.0.0.9|true,true');
    s.dispose();
  });

  it('concurrent calls run one at a time and each gets its answer', async () => {
    const s = await PacScript.compile('function FindProxyForURL(url, host) { return isResolvable(host) ? "PROXY " + host + ":1" : "DIRECT"; }', 'test');
    const lookup = (h: string): Promise<{ address: string; family: 4 }[]> => Promise.resolve(h.startsWith('r') ? [{ address: '10.0.0.1', family: 4 }] : []);
    const r = await Promise.all(['r1', 'n2', 'r3'].map((h) => s.find(`http://${h}/`, h, lookup)));
    assert.deepEqual(r, ['PROXY r1:1', 'DIRECT', 'PROXY r3:1']);
    s.dispose();
  });
});
