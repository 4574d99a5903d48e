// The PAC helpers as a script sees them: every standard one, the Ex (IPv6) variants, DNS through the given
// lookup, myIpAddress() without any socket, and the date helpers on a fixed clock.
import { describe, it, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { PacScript } from '../../src/pac/engine.js';
import { inPrefix, ipv4InNet, myIpAddress, sortIpAddressList, type PacLookup } from '../../src/pac/helpers.js';

/** good.test has an IPv4 and an IPv6 address; v6only.test only IPv6; anything else fails. */
const lookup: PacLookup = (host) => {
  if (host === 'good.test') return Promise.resolve([{ address: '10.1.2.3', family: 4 }, { address: '2001:db8::1', family: 6 }]);
  if (host === 'v6only.test') return Promise.resolve([{ address: '2001:db8::7', family: 6 }]);
  return Promise.reject(new Error(`ENOTFOUND ${host}`));
};

/** Runs `expr` (a JS expression) in a PAC script and returns its value. */
async function evalInPac(expr: string): Promise<unknown> {
  const script = await PacScript.compile(`function FindProxyForURL(url, host) { return JSON.stringify(${expr}); }`, 'test');
  try {
    return JSON.parse((await script.find('http://x.test/', 'x.test', lookup)) as string);
  } finally {
    script.dispose();
  }
}

afterEach(() => mock.restoreAll());

describe('PAC helpers: the standard ones', () => {
  it('isPlainHostName, dnsDomainIs, localHostOrDomainIs, dnsDomainLevels, shExpMatch', async () => {
    const r = await evalInPac(`[isPlainHostName('www'), isPlainHostName('www.a.com'),
      dnsDomainIs('www.a.com', '.a.com'), dnsDomainIs('www.b.com', '.a.com'),
      localHostOrDomainIs('www', 'www.a.com'), localHostOrDomainIs('www.a.com', 'www.a.com'), localHostOrDomainIs('www.b.com', 'www.a.com'),
      dnsDomainLevels('www'), dnsDomainLevels('www.a.com'),
      shExpMatch('http://x.a.com/p', '*.a.com/*'), shExpMatch('abc', 'a?c'), shExpMatch('abd', 'a?c')]`);
    assert.deepEqual(r, [true, false, true, false, true, true, false, 0, 2, true, true, false]);
  });

  it('isResolvable, dnsResolve and isInNet resolve through the given lookup (IPv4 only)', async () => {
    const r = await evalInPac(`[isResolvable('good.test'), isResolvable('bad.test'), isResolvable('v6only.test'),
      dnsResolve('good.test'), dnsResolve('bad.test'), dnsResolve('10.9.9.9'),
      isInNet('good.test', '10.1.0.0', '255.255.0.0'), isInNet('10.2.3.4', '10.1.0.0', '255.255.0.0'),
      isInNet('bad.test', '0.0.0.0', '0.0.0.0'), isInNet('10.1.2.3', 'junk', '255.0.0.0')]`);
    assert.deepEqual(r, [true, false, false, '10.1.2.3', null, '10.9.9.9', true, false, false, false]);
  });

  it('myIpAddress reads the interfaces and opens no socket (pac-resolver would connect to 8.8.8.8:53)', async () => {
    const connect = mock.method(net.Socket.prototype, 'connect');
    const netConnect = mock.method(net, 'connect');
    const r = await evalInPac('[myIpAddress(), myIpAddressEx()]');
    assert.equal(connect.mock.callCount(), 0);
    assert.equal(netConnect.mock.callCount(), 0);
    const external = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal && a.family === 'IPv4').map((a) => a?.address);
    assert.deepEqual(r, [external[0] ?? '127.0.0.1', (r as string[])[1]]);
    assert.equal(myIpAddress(), external[0] ?? '127.0.0.1');
    for (const a of ((r as string[])[1] as string).split(';')) assert.notEqual(net.isIP(a), 0, a);
  });

  it('weekdayRange, dateRange and timeRange on a fixed clock (Tuesday 8 December 2026, 10:30 GMT)', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 11, 8, 10, 30) });
    const r = await evalInPac(`[weekdayRange('MON', 'FRI', 'GMT'), weekdayRange('SAT', 'SUN', 'GMT'), weekdayRange('TUE', 'GMT'),
      dateRange('DEC', 'GMT'), dateRange('JAN', 'NOV', 'GMT'), dateRange(2026, 'GMT'), dateRange(1, 7, 'GMT'), dateRange(8, 'GMT'),
      timeRange(10, 'GMT'), timeRange(10, 11, 'GMT'), timeRange(12, 13, 'GMT'), timeRange(10, 0, 10, 45, 'GMT')]`);
    assert.deepEqual(r, [true, false, true, true, false, true, false, true, true, true, false, true]);
    const more = await evalInPac(`[dateRange('NOV', 'FEB', 'GMT'), dateRange('FEB', 'NOV', 'GMT'), dateRange(1, 'DEC', 31, 'DEC', 'GMT'),
      dateRange('DEC', 2026, 'JAN', 2027, 'GMT'), dateRange(1, 'JAN', 2025, 31, 'DEC', 2025, 'GMT'), dateRange(2025, 2027, 'GMT'), dateRange('nonsense')]`);
    assert.deepEqual(more, [true, false, true, true, false, true, false]);
  });
});

describe('PAC helpers: the Ex (IPv6) variants', () => {
  it('dnsResolveEx, isResolvableEx, isInNetEx, sortIpAddressList, getClientVersion', async () => {
    const r = await evalInPac(`[dnsResolveEx('good.test'), dnsResolveEx('bad.test'), isResolvableEx('v6only.test'), isResolvableEx('bad.test'),
      isInNetEx('good.test', '2001:db8::/32'), isInNetEx('v6only.test', '10.0.0.0/8'), isInNetEx('10.1.2.3', '10.0.0.0/8'), isInNetEx('10.1.2.3', 'junk'),
      sortIpAddressList('10.2.0.1;2001:db8::2;10.1.0.1;2001:db8::1'), sortIpAddressList('10.0.0.1;nope'), getClientVersion()]`);
    assert.deepEqual(r, ['10.1.2.3;2001:db8::1', '', true, false, true, false, true, false, '2001:db8::1;2001:db8::2;10.1.0.1;10.2.0.1', '', '1.0']);
  });

  it('ipv4InNet, inPrefix and sortIpAddressList on the edges', () => {
    assert.equal(ipv4InNet('192.168.1.1', '192.168.0.0', '255.255.0.0'), true);
    assert.equal(ipv4InNet('192.169.1.1', '192.168.0.0', '255.255.0.0'), false);
    assert.equal(ipv4InNet('255.255.255.255', '255.255.255.255', '255.255.255.255'), true);
    assert.equal(inPrefix('::ffff:10.0.0.1', '::ffff:0:0/96'), true);
    assert.equal(inPrefix('10.0.0.1', '10.0.0.0/33'), false);
    assert.equal(inPrefix('10.0.0.1', '2001:db8::/32'), false);
    assert.equal(sortIpAddressList('::ffff:1.2.3.4;::1;1.2.3.4'), '::1;::ffff:1.2.3.4;1.2.3.4');
  });

  it('a lookup that never answers resolves as failed when the call runs out of time', async () => {
    const script = await PacScript.compile(`function FindProxyForURL(url, host) { return String(dnsResolve('hang.test')); }`, 'test', { cpuMs: 1000, timeoutMs: 100, memoryBytes: 32 * 1024 * 1024 });
    try {
      const started = performance.now();
      const r = await script.find('http://x.test/', 'x.test', () => new Promise(() => {}));
      assert.equal(r, 'null');
      assert.ok(performance.now() - started < 2000);
    } finally {
      script.dispose();
    }
  });
});
