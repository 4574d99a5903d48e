// No credential is published: a chain with passwords in its hop URLs, in the request URL and in the
// headers, watched on every channel, every tracing channel and every handler method, and its errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { request, Pool, CHANNEL_NAMES, TRACING_CHANNEL_NAMES, type EventHandler } from '../../src/index.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { startServers, type Servers } from './chains.js';

const SECRETS = ['proxy-pw-91d3', 'socks-pw-4e7a', 'bearer-tok-0c55', 'proxy-hdr-b2f8', 'url-pw-6a10', 'refused-pw-3f9e', 'bad-url-pw-d7c1'];

describe('credentials are never published', () => {
  let s: Servers;
  let socksAuth: TestSocks5Server;
  before(async () => {
    s = await startServers();
    socksAuth = await startSocks5Server({ auth: { username: 'su', password: 'socks-pw-4e7a' } });
  });
  after(async () => {
    await socksAuth.close();
    await s.close();
  });

  it('no channel, tracing context, handler call or error holds a password or an authorization value', async () => {
    const seen: unknown[] = [];
    const record = (name: string) => (m: unknown): void => void seen.push(name, inspect(m, { depth: Infinity, showHidden: true }));
    const plain = CHANNEL_NAMES.map((name) => [name, record(name)] as const);
    for (const [name, fn] of plain) dc.subscribe(name, fn);
    const tracing = TRACING_CHANNEL_NAMES.map((name) => {
      const sub = { start: record(`${name}:start`), end: record(`${name}:end`), asyncStart: record(`${name}:asyncStart`), asyncEnd: record(`${name}:asyncEnd`), error: record(`${name}:error`) };
      dc.tracingChannel(name).subscribe(sub);
      return [name, sub] as const;
    });
    // Every method there is: the handler answers any name with a recorder.
    const handler = new Proxy({}, { get: (_t, name) => (typeof name === 'string' ? record(`handler ${name}`) : undefined) }) as EventHandler;
    const pool = new Pool();
    try {
      const res = await request(`http://uu:url-pw-6a10@localhost:${s.http.port}/`, {
        via: [`http://pu:proxy-pw-91d3@localhost:${s.proxy.port}`, `socks5://su:socks-pw-4e7a@localhost:${socksAuth.port}`],
        headers: { authorization: 'Bearer bearer-tok-0c55', 'proxy-authorization': 'Basic proxy-hdr-b2f8' },
        pool,
        events: handler,
      });
      assert.equal(await res.text(), 'hello');
      seen.push(inspect(res.info.chain, { depth: Infinity }));
      const refused = await request(`http://localhost:${s.http.port}/`, { via: [`http://pu:refused-pw-3f9e@localhost:${s.refusing.port}`], pool, events: handler }).catch((e: unknown) => e);
      seen.push(inspect(refused, { depth: Infinity, showHidden: true }));
      const invalid = await request(`http://uu:bad-url-pw-d7c1@[bad/`, { pool, events: handler }).catch((e: unknown) => e);
      seen.push(inspect(invalid, { depth: Infinity, showHidden: true }));
    } finally {
      for (const [name, fn] of plain) dc.unsubscribe(name, fn);
      for (const [name, sub] of tracing) dc.tracingChannel(name).unsubscribe(sub);
      await pool.close();
    }
    // The credentials were sent: the proxy got its own, the SOCKS5 server accepted its own.
    const connect = s.proxy.requests.find((q) => q.method === 'CONNECT' && q.port === socksAuth.port);
    assert.equal(connect?.headers.find(([k]) => k === 'proxy-authorization')?.[1], `Basic ${Buffer.from('pu:proxy-pw-91d3').toString('base64')}`);
    const text = seen.join("\n");
    assert.ok(text.includes('handler streamStart') && text.includes('burrow:request:start') && text.includes("'Basic ***'") && text.includes('uu:***@'), 'everything was watched');
    for (const secret of SECRETS) {
      for (const form of [secret, Buffer.from(`pu:${secret}`).toString('base64'), Buffer.from(`su:${secret}`).toString('base64')]) {
        assert.equal(text.includes(form), false, `${form} was published`);
      }
    }
  });
});
