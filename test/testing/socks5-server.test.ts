// The SOCKS5 test server, driven by raw sockets writing RFC 1928/1929 bytes
// by hand: tunnels over TCP and TLS (and TLS through them), authentication,
// every reply code and misbehaviour byte for byte, events, and close()
// leaving nothing.
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  createTestPki,
  ScriptedConnection,
  startEchoServer,
  startOrigin,
  startSocks5Server,
  type StartSocks5ServerOptions,
  type TestEchoServer,
  type TestPki,
  type TestSocks5Server,
} from '../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const baseline = resourceSnapshot();
/** `05 00 00 01 1.2.3.4 33333`: success with the default bound address. */
const SUCCESS = hex('05 00 00 01 01 02 03 04 82 35');

let pki: TestPki;
let echo: TestEchoServer;
const clients: net.Socket[] = [];
const servers: TestSocks5Server[] = [];

before(async () => {
  pki = createTestPki();
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

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function port16(port: number): Buffer {
  return Buffer.from([port >> 8, port & 0xff]);
}

/** `05 CMD 00 ATYP addr port`: IPv4 / IPv6 literals get their ATYP, anything else is a domain. */
function request(host: string, port: number, cmd = 1): Buffer {
  let addr: Buffer;
  if (net.isIPv4(host)) addr = Buffer.from([1, ...host.split('.').map(Number)]);
  else if (host === '::1') addr = Buffer.concat([Buffer.from([4]), Buffer.alloc(15), Buffer.from([1])]);
  else addr = Buffer.concat([Buffer.from([3, Buffer.byteLength(host)]), Buffer.from(host)]);
  return Buffer.concat([Buffer.from([5, cmd, 0]), addr, port16(port)]);
}

function credentials(username: string, password: string): Buffer {
  const u = Buffer.from(username);
  const p = Buffer.from(password);
  return Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]);
}

async function server(opts: StartSocks5ServerOptions = {}): Promise<TestSocks5Server> {
  const s = await startSocks5Server({ pki, ...opts });
  servers.push(s);
  return s;
}

async function dialSocket(s: { host: string; port: number; transport: 'tcp' | 'tls' }): Promise<net.Socket> {
  const socket =
    s.transport === 'tls' ? tls.connect({ host: s.host, port: s.port, ca: pki.ca, servername: 'localhost' }) : net.connect({ host: s.host, port: s.port });
  clients.push(socket);
  socket.setNoDelay(true);
  await once(socket, s.transport === 'tls' ? 'secureConnect' : 'connect');
  return socket;
}

async function dial(s: { host: string; port: number; transport: 'tcp' | 'tls' }): Promise<ScriptedConnection> {
  return new ScriptedConnection(await dialSocket(s));
}

/** Greets without authentication and expects `05 00`. */
async function greet(c: ScriptedConnection): Promise<void> {
  await c.write(hex('05 01 00'));
  assert.deepEqual(await c.readExactly(2), hex('05 00'));
}

/** Waits (event-loop turns, bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The next chunk a socket receives (bounded). */
async function nextChunk(socket: net.Socket): Promise<Buffer> {
  const [chunk] = (await once(socket, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
  return chunk;
}

async function hasIpv6Loopback(): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

for (const transport of ['tcp', 'tls'] as const) {
  describe(`SOCKS5 server over ${transport}: tunnels`, () => {
    it('describes itself', async () => {
      const s = await server({ transport });
      assert.equal(s.host, '127.0.0.1');
      assert.equal(s.transport, transport);
      assert.equal(s.url, `socks5://127.0.0.1:${s.port}`);
      assert.equal(s.pki, transport === 'tls' ? pki : undefined);
      assert.equal(s.connections, 0);
    });

    it('connects to an IPv4 target, replies 05 00 00 01 1.2.3.4 33333 and relays both ways', async () => {
      const s = await server({ transport });
      const c = await dial(s);
      await c.write(hex('05 02 00 80'));
      assert.deepEqual(await c.readExactly(2), hex('05 00'));
      await c.write(request('127.0.0.1', echo.port));
      assert.deepEqual(await c.readExactly(10), SUCCESS);
      await c.write('hello');
      assert.equal((await c.readExactly(5)).toString(), 'hello');
      assert.deepEqual(s.events, [
        { type: 'auth-methods', methods: [0x00, 0x80] },
        { type: 'connect', command: 1, atyp: 1, host: '127.0.0.1', port: echo.port },
      ]);
      assert.equal(s.connections, 1);
    });

    it('connects to a domain (localhost), forwards bytes sent with the request, relays half-close', async () => {
      const s = await server({ transport });
      const c = await dial(s);
      // Greeting, request and data in one write: the server must not read past each message.
      await c.write(Buffer.concat([hex('05 01 00'), request('localhost', echo.port), Buffer.from('early')]));
      assert.deepEqual(await c.readExactly(12), Buffer.concat([hex('05 00'), SUCCESS]));
      assert.equal((await c.readExactly(5)).toString(), 'early');
      await c.write('last');
      c.end();
      assert.equal((await c.readToEnd()).toString(), 'last');
      await c.closed;
      assert.deepEqual(s.events[1], { type: 'connect', command: 1, atyp: 3, host: 'localhost', port: echo.port });
    });

    it('carries TLS to a TLS origin through the tunnel', async () => {
      const origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
      try {
        const s = await server({ transport });
        const socket = await dialSocket(s);
        socket.write(Buffer.concat([hex('05 01 00'), request('localhost', origin.port)]));
        let got = Buffer.alloc(0);
        while (got.length < 12) got = Buffer.concat([got, await nextChunk(socket)]);
        assert.deepEqual(got, Buffer.concat([hex('05 00'), SUCCESS]));
        const secure = tls.connect({ socket, ca: pki.ca, servername: 'localhost' });
        clients.push(secure);
        await once(secure, 'secureConnect');
        const c = new ScriptedConnection(secure);
        await c.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        const res = (await c.readToEnd()).toString('latin1');
        assert.match(res, /^HTTP\/1\.1 200 OK\r\n/);
        assert.ok(res.endsWith('\r\n\r\nhello'), res);
      } finally {
        for (const c of clients.splice(0)) c.destroy();
        await origin.close();
      }
    });
  });
}

describe('SOCKS5 server: addresses and replies', () => {
  it('connects to an IPv6 target (ATYP 04) and records ::1', async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip('no IPv6 loopback');
      return;
    }
    const echo6 = await startEchoServer({ host: '::1' });
    try {
      const s = await server();
      const c = await dial(s);
      await greet(c);
      await c.write(request('::1', echo6.port));
      assert.deepEqual(await c.readExactly(10), SUCCESS);
      await c.write('six');
      assert.equal((await c.readExactly(3)).toString(), 'six');
      assert.deepEqual(s.events[1], { type: 'connect', command: 1, atyp: 4, host: '::1', port: echo6.port });
    } finally {
      for (const c of clients.splice(0)) c.destroy();
      await echo6.close();
    }
  });

  it('boundHost / boundPort: IPv4, IPv6 and domain bound addresses', async () => {
    const cases: Array<[string, Buffer]> = [
      ['10.20.30.40', hex('05 00 00 01 0a 14 1e 28 00 50')],
      ['2001:db8::1', Buffer.concat([hex('05 00 00 04 20 01 0d b8'), Buffer.alloc(11), hex('01 00 50')])],
      ['proxy.test', Buffer.concat([hex('05 00 00 03 0a'), Buffer.from('proxy.test'), hex('00 50')])],
    ];
    for (const [boundHost, expected] of cases) {
      const s = await server({ behavior: { boundHost, boundPort: 80 } });
      const c = await dial(s);
      await greet(c);
      await c.write(request('127.0.0.1', echo.port));
      assert.deepEqual(await c.readExactly(expected.length), expected);
      await c.write('x');
      assert.equal((await c.readExactly(1)).toString(), 'x');
    }
  });

  it('reply: sends that code instead of success, ends the connection and does not try the target', async () => {
    const before = echo.connections;
    const s = await server({ behavior: { reply: 0x02 } });
    const c = await dial(s);
    await greet(c);
    await c.write(request('127.0.0.1', echo.port));
    assert.deepEqual(await c.readToEnd(), hex('05 02 00 01 01 02 03 04 82 35'));
    assert.equal(echo.connections, before);
  });

  it('replies 05 when the target refuses, 07 to BIND, 08 to an unknown ATYP', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const s = await server();
    const refused = await dial(s);
    await greet(refused);
    await refused.write(request('127.0.0.1', closedPort));
    assert.deepEqual(await refused.readToEnd(), hex('05 05 00 01 01 02 03 04 82 35'));
    const bind = await dial(s);
    await greet(bind);
    await bind.write(request('127.0.0.1', echo.port, 2));
    assert.deepEqual(await bind.readToEnd(), hex('05 07 00 01 01 02 03 04 82 35'));
    const atyp = await dial(s);
    await greet(atyp);
    await atyp.write(hex('05 01 00 09 00 00'));
    assert.deepEqual(await atyp.readToEnd(), hex('05 08 00 01 01 02 03 04 82 35'));
    assert.deepEqual(
      s.events.filter((e) => e.type === 'connect'),
      [
        { type: 'connect', command: 1, atyp: 1, host: '127.0.0.1', port: closedPort },
        { type: 'connect', command: 2, atyp: 1, host: '127.0.0.1', port: echo.port },
      ],
    );
  });

  it('disconnects a client speaking another version without a reply', async () => {
    const s = await server();
    const c = await dial(s);
    await c.write(hex('04 01 00 50 7f 00 00 01 00'));
    assert.equal((await c.readToEnd()).length, 0);
    assert.deepEqual(s.events, []);
  });
});

describe('SOCKS5 server: username/password', () => {
  const auth = { username: 'alice', password: 'wonder land' };

  it('selects 02 when offered and accepts the right credentials', async () => {
    const s = await server({ auth });
    const c = await dial(s);
    await c.write(hex('05 02 00 02'));
    assert.deepEqual(await c.readExactly(2), hex('05 02'));
    await c.write(credentials('alice', 'wonder land'));
    assert.deepEqual(await c.readExactly(2), hex('01 00'));
    await c.write(request('127.0.0.1', echo.port));
    assert.deepEqual(await c.readExactly(10), SUCCESS);
    await c.write('in');
    assert.equal((await c.readExactly(2)).toString(), 'in');
    assert.deepEqual(s.events, [
      { type: 'auth-methods', methods: [0, 2] },
      { type: 'credentials', username: 'alice', password: 'wonder land' },
      { type: 'connect', command: 1, atyp: 1, host: '127.0.0.1', port: echo.port },
    ]);
  });

  it('refuses wrong credentials with 01 01 and ends the connection', async () => {
    const s = await server({ auth });
    for (const [u, p] of [['alice', 'nope'], ['bob', 'wonder land'], ['', '']]) {
      const c = await dial(s);
      await c.write(hex('05 01 02'));
      assert.deepEqual(await c.readExactly(2), hex('05 02'));
      await c.write(credentials(u as string, p as string));
      assert.deepEqual(await c.readToEnd(), hex('01 01'));
    }
    assert.deepEqual(
      s.events.filter((e) => e.type === 'credentials'),
      [
        { type: 'credentials', username: 'alice', password: 'nope' },
        { type: 'credentials', username: 'bob', password: 'wonder land' },
        { type: 'credentials', username: '', password: '' },
      ],
    );
  });

  it('replies 05 FF and ends when the needed method is not offered (both ways round)', async () => {
    const withAuth = await server({ auth });
    const a = await dial(withAuth);
    await a.write(hex('05 01 00'));
    assert.deepEqual(await a.readToEnd(), hex('05 ff'));
    const without = await server({ auth: 'none' });
    const b = await dial(without);
    await b.write(hex('05 01 02'));
    assert.deepEqual(await b.readToEnd(), hex('05 ff'));
  });

  it('rejectAuth: 01 01 even for the right credentials', async () => {
    const s = await server({ auth, behavior: { rejectAuth: true } });
    const c = await dial(s);
    await c.write(hex('05 01 02'));
    await c.readExactly(2);
    await c.write(credentials('alice', 'wonder land'));
    assert.deepEqual(await c.readToEnd(), hex('01 01'));
  });
});

describe('SOCKS5 server: misbehaviours', () => {
  const auth = { username: 'u', password: 'p' };

  it('extraBytes: written with the success reply in one write, before what the target says', async () => {
    const s = await server({ behavior: { extraBytes: 'SSH-2.0-x\r\n' } });
    const socket = await dialSocket(s);
    socket.write(hex('05 01 00'));
    assert.deepEqual(await nextChunk(socket), hex('05 00'));
    socket.write(request('127.0.0.1', echo.port));
    assert.deepEqual(await nextChunk(socket), Buffer.concat([SUCCESS, Buffer.from('SSH-2.0-x\r\n')]));
    socket.write('then');
    assert.equal((await nextChunk(socket)).toString(), 'then');
  });

  it('writeByteAtATime: every reply a byte at a time, then the tunnel works', async () => {
    const s = await server({ auth, behavior: { writeByteAtATime: true, extraBytes: 'xy' } });
    const socket = await dialSocket(s);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const received = (): Buffer => Buffer.concat(chunks);
    socket.write(hex('05 01 02'));
    await until(() => received().length >= 2, 'the method reply');
    socket.write(credentials('u', 'p'));
    await until(() => received().length >= 4, 'the auth reply');
    socket.write(request('127.0.0.1', echo.port));
    await until(() => received().length >= 16, 'the request reply');
    assert.deepEqual(received(), Buffer.concat([hex('05 02 01 00'), SUCCESS, Buffer.from('xy')]));
    assert.ok(chunks.length > 8, `${chunks.length} chunks`);
    socket.write('z');
    await until(() => received().length >= 17, 'the echo');
    assert.equal(received().subarray(16).toString(), 'z');
  });

  it('closeMidHandshake: half of the reply of that stage, then the connection closes', async () => {
    const cases: Array<['greeting' | 'auth' | 'connect', Buffer]> = [
      ['greeting', hex('05')],
      ['auth', hex('05 02 01')],
      ['connect', hex('05 02 01 00 05 00 00 01 01')],
    ];
    for (const [stage, expected] of cases) {
      const s = await server({ auth, behavior: { closeMidHandshake: stage } });
      const c = await dial(s);
      await c.write(Buffer.concat([hex('05 01 02'), credentials('u', 'p'), request('127.0.0.1', echo.port)]));
      assert.deepEqual(await c.readToEnd(), expected, stage);
      await c.closed;
    }
  });

  it('neverAnswer: reads that stage and says nothing; the client end is answered with an end', async () => {
    const cases: Array<['greeting' | 'auth' | 'connect', Buffer, number]> = [
      ['greeting', Buffer.alloc(0), 1],
      ['auth', hex('05 02'), 2],
      ['connect', hex('05 02 01 00'), 3],
    ];
    for (const [stage, expected, events] of cases) {
      const s = await server({ auth, behavior: { neverAnswer: stage } });
      const c = await dial(s);
      await c.write(Buffer.concat([hex('05 01 02'), credentials('u', 'p'), request('127.0.0.1', echo.port)]));
      await until(() => s.events.length === events, `the ${stage} message`);
      c.end();
      assert.deepEqual(await c.readToEnd(), expected, stage);
      await c.closed;
    }
  });

  it('garbage: instead of the greeting reply by default, or of the stage given', async () => {
    const junk = Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n');
    const first = await server({ behavior: { garbage: junk } });
    const a = await dial(first);
    await a.write(hex('05 01 00'));
    assert.deepEqual(await a.readExactly(junk.length), junk);
    a.end();
    assert.equal((await a.readToEnd()).length, 0);
    const atConnect = await server({ behavior: { garbage: hex('05 00 00 07 00'), garbageAt: 'connect' } });
    const b = await dial(atConnect);
    await greet(b);
    await b.write(request('127.0.0.1', echo.port));
    assert.deepEqual(await b.readExactly(5), hex('05 00 00 07 00'));
    b.end();
    assert.equal((await b.readToEnd()).length, 0);
  });
});

describe('SOCKS5 server: close()', () => {
  it('destroys tunnels and handshakes in progress, and leaks nothing', async () => {
    const snapshot = resourceSnapshot();
    const plain = await startSocks5Server();
    const secure = await startSocks5Server({ transport: 'tls', pki, behavior: { neverAnswer: 'connect' } });
    const tunnel = await dial(plain);
    await tunnel.write(Buffer.concat([hex('05 01 00'), request('127.0.0.1', echo.port)]));
    await tunnel.readExactly(12);
    const idle = await dial(plain);
    const stuck = await dial(secure);
    await stuck.write(Buffer.concat([hex('05 01 00'), request('127.0.0.1', echo.port)]));
    await until(() => secure.events.length === 2, 'the request');
    await Promise.all([plain.close(), secure.close()]);
    await Promise.all([tunnel.closed, idle.closed, stuck.closed]);
    for (const c of clients.splice(0)) c.destroy();
    await plain.close(); // idempotent
    await assertNoLeaks(snapshot);
  });
});
