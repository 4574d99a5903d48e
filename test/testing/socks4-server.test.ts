// The SOCKS4 test server, driven by raw sockets writing SOCKS4 / SOCKS4a bytes by hand: tunnels, the refusals
// (4a when not served, another command, another user id, a reply code on request), a non-SOCKS4 client, events,
// and close() leaving nothing.
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { ScriptedConnection, startEchoServer, startSocks4Server, type StartSocks4ServerOptions, type TestEchoServer, type TestSocks4Server } from '../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const baseline = resourceSnapshot();
let echo: TestEchoServer;
const clients: net.Socket[] = [];
const servers: TestSocks4Server[] = [];

before(async () => {
  echo = await startEchoServer();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
after(async () => {
  await echo.close();
  await assertNoLeaks(baseline);
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** `04 CMD PORT IP USERID 00 [HOST 00]`: a name makes it a 4a request (DSTIP 0.0.0.1). */
function request(host: string, port: number, userId = '', cmd = 1): Buffer {
  const ip = net.isIPv4(host) ? Buffer.from(host.split('.').map(Number)) : hex('00000001');
  const tail = net.isIPv4(host) ? Buffer.alloc(0) : Buffer.concat([Buffer.from(host), Buffer.from([0])]);
  return Buffer.concat([Buffer.from([4, cmd, port >> 8, port & 0xff]), ip, Buffer.from(userId), Buffer.from([0]), tail]);
}

async function server(opts: StartSocks4ServerOptions = {}): Promise<TestSocks4Server> {
  const s = await startSocks4Server(opts);
  servers.push(s);
  return s;
}

async function dial(s: TestSocks4Server): Promise<ScriptedConnection> {
  const socket = net.connect({ host: s.host, port: s.port });
  clients.push(socket);
  await once(socket, 'connect');
  return new ScriptedConnection(socket);
}

describe('startSocks4Server', () => {
  it('SOCKS4: 00 5A, then bytes relayed both ways (those sent with the request first); the event', async () => {
    const s = await server();
    const c = await dial(s);
    await c.write(Buffer.concat([request('127.0.0.1', echo.port, 'alice'), Buffer.from('early')]));
    assert.deepEqual(await c.readExactly(8), hex('00 5a 0000 00000000'));
    assert.equal((await c.readExactly(5)).toString(), 'early');
    await c.write('ping');
    assert.equal((await c.readExactly(4)).toString(), 'ping');
    assert.deepEqual(s.events, [{ type: 'connect', version: '4', command: 1, host: '127.0.0.1', port: echo.port, userId: 'alice' }]);
    assert.equal(s.url, `socks4a://127.0.0.1:${s.port}`);
  });

  it('SOCKS4a: the name after the user id, resolved by the server; the reply written one byte at a time', async () => {
    const s = await server({ behavior: { writeByteAtATime: true, boundHost: '10.1.2.3', boundPort: 4660, extraBytes: 'X' } });
    const c = await dial(s);
    await c.write(request('localhost', echo.port));
    assert.deepEqual(await c.readExactly(9), Buffer.concat([hex('00 5a 1234 0a010203'), Buffer.from('X')]));
    assert.deepEqual(s.events[0], { type: 'connect', version: '4a', command: 1, host: 'localhost', port: echo.port, userId: '' });
  });

  const refusals: Array<[string, StartSocks4ServerOptions, Buffer, string]> = [
    ['a 4a request when socks4a is false', { socks4a: false }, request('localhost', 1), '5b'],
    ['a command other than CONNECT', {}, request('127.0.0.1', 1, '', 2), '5b'],
    ['another user id than the one required', { userId: 'alice' }, request('127.0.0.1', 1, 'bob'), '5d'],
    ['a reply code on request', { behavior: { reply: 0x5c } }, request('127.0.0.1', 1), '5c'],
    ['a target that refuses', {}, request('127.0.0.1', 1), '5b'],
  ];
  for (const [name, opts, req, code] of refusals) {
    it(`refuses ${name} with 00 ${code}, then ends`, async () => {
      const s = await server(opts);
      const c = await dial(s);
      await c.write(req);
      assert.deepEqual(await c.readToEnd(), hex(`00 ${code} 0000 00000000`));
    });
  }

  it('misbehaves on request: another reply version, garbage, half a reply', async () => {
    const s1 = await server({ behavior: { replyVersion: 4 } });
    const c1 = await dial(s1);
    await c1.write(request('127.0.0.1', echo.port));
    assert.deepEqual(await c1.readExactly(2), hex('04 5a'));
    const s2 = await server({ behavior: { garbage: Buffer.from('HTTP/1.1 400 Bad\r\n') } });
    const c2 = await dial(s2);
    await c2.write(request('127.0.0.1', 1));
    assert.equal((await c2.readExactly(18)).toString(), 'HTTP/1.1 400 Bad\r\n');
    const s3 = await server({ behavior: { closeMidHandshake: true } });
    const c3 = await dial(s3);
    await c3.write(request('127.0.0.1', 1));
    assert.deepEqual(await c3.readToEnd(), hex('00 5a 0000'));
  });

  it('a client speaking another version is disconnected without a reply', async () => {
    const s = await server();
    const c = await dial(s);
    await c.write(hex('05 01 00 00 00 00 00 00'));
    assert.deepEqual(await c.readToEnd(), Buffer.alloc(0));
    assert.deepEqual(s.events, []);
  });
});
