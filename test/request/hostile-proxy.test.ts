// Hostile proxies, through request(): answers that try to smuggle a response around a CONNECT (a 2xx with
// a body, two responses in one packet, 1xx before the 2xx), header blocks just under and just over the
// limit, a proxy trickling its answer byte by byte, a SOCKS5 server replying with an address type it was
// not asked for (a valid one is accepted, an unknown one refused), an HTTP/2 proxy resetting the tunnel's
// stream or sending GOAWAY at each point of a tunnel's life, and an HTTP/2 peer that ignores flow control.
// Every case ends with the right bytes or a typed error naming the hop and the stage, and leaves no socket
// or timer of the client behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { request, type RequestInit } from '../../src/request/request.js';
import { BurrowError } from '../../src/errors/errors.js';
import { DEFAULT_PARSER_LIMITS } from '../../src/protocols/http1/codec/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/scripted.js';
import { assertNoClientLeaks, clientSnapshot } from '../helpers/leaks.js';

/** Reads a CONNECT head and returns its target. */
async function readConnect(c: ScriptedConnection): Promise<{ host: string; port: number }> {
  const head = (await c.readUntil('\r\n\r\n')).toString('latin1');
  const m = /^CONNECT (\S+):(\d+) /.exec(head);
  if (m === null) throw new Error(`not a CONNECT: ${head}`);
  return { host: m[1] as string, port: Number(m[2]) };
}

/** Relays `c` to the target once `answer` (bytes of the proxy's own) is written. */
async function relayAfter(c: ScriptedConnection, answer: Buffer | string, target: { host: string; port: number }): Promise<void> {
  const up = net.connect(target.port, '127.0.0.1');
  up.on('error', () => c.socket.destroy());
  await new Promise<void>((resolve) => up.once('connect', () => resolve()));
  c.socket.write(answer);
  const rest = c.unread;
  if (rest.length > 0) up.write(rest);
  c.socket.pipe(up);
  up.pipe(c.socket);
  c.socket.once('close', () => up.destroy());
  up.once('close', () => c.socket.destroy());
}

/** Expects `p` to reject with a BurrowError and returns it. */
async function rejected(p: Promise<unknown>): Promise<BurrowError> {
  const e = await p.then(
    () => assert.fail('the request succeeded'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof BurrowError, String(e));
  return e;
}

describe('request(): hostile proxies', () => {
  let pki: TestPki;
  let http: TestOrigin;
  let https: TestOrigin;
  const servers: Array<{ close(): Promise<void> }> = [];

  async function proxy(script: (c: ScriptedConnection) => Promise<void>): Promise<ScriptedServer> {
    const s = await startScriptedServer({ onConnection: script });
    servers.push(s);
    return s;
  }

  before(async () => {
    pki = createTestPki();
    http = await startOrigin({ transport: 'tcp', protocol: 'http' });
    https = await startOrigin({ transport: 'tls', protocol: 'http', pki });
  });

  after(async () => {
    await Promise.all([http.close(), https.close(), ...servers.map((s) => s.close())]);
  });

  async function leakFree<T>(port: number, run: () => Promise<T>): Promise<T> {
    const base = clientSnapshot(port);
    const out = await run();
    await assertNoClientLeaks(base, port);
    return out;
  }

  describe('smuggling around CONNECT', () => {
    for (const [name, answer] of [
      ['a 2xx with content-length: the bytes after the head are the tunnel\'s, not a body', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n'],
      ['a 2xx with transfer-encoding: chunked: no body either', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n'],
      ['1xx answers before the 2xx are skipped', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\n\r\n'],
    ] as const) {
      it(name, async () => {
        const p = await proxy(async (c) => relayAfter(c, answer, await readConnect(c)));
        const res = await leakFree(p.port, () => request(`http://127.0.0.1:${http.port}/`, { via: [`http://127.0.0.1:${p.port}`], pool: false }));
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'hello');
      });
    }

    it('two responses in one packet: the second goes into the tunnel, where the origin\'s TLS refuses it (never taken as the origin\'s answer)', async () => {
      const p = await proxy(async (c) => relayAfter(c, 'HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged', await readConnect(c)));
      const e = await leakFree(p.port, () => rejected(request(`https://127.0.0.1:${https.port}/`, { via: [`http://127.0.0.1:${p.port}`], tls: { ca: pki.ca }, pool: false })));
      assert.equal(e.code, 'ERR_TLS', e.message);
      assert.equal(e.stage, 'tls');
    });

    it('over plain http the forged second response is what the origin layer reads first: the tunnel is the proxy\'s to forge (use https)', async () => {
      // Documented: without TLS to the origin, a proxy can answer in the origin's name. burrow takes the first
      // complete response on the tunnel, as every client does; the forged bytes are never the CONNECT's.
      const p = await proxy(async (c) => relayAfter(c, 'HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 299 Forged\r\ncontent-length: 6\r\n\r\nforged', await readConnect(c)));
      const res = await leakFree(p.port, () => request(`http://127.0.0.1:${http.port}/`, { via: [`http://127.0.0.1:${p.port}`], pool: false }));
      assert.equal(res.status, 299);
      assert.equal(await res.text(), 'forged');
    });
  });

  describe('header blocks at the limit', () => {
    const limit = DEFAULT_PARSER_LIMITS.maxHeaderBlockSize;
    function answerOfSize(size: number): string {
      const head = 'HTTP/1.1 200 OK\r\n';
      const filler = size - head.length - 'x-pad: '.length - 2 - 2;
      return `${head}x-pad: ${'a'.repeat(filler)}\r\n\r\n`;
    }

    it(`a CONNECT answer of exactly ${limit} bytes is accepted`, async () => {
      const answer = answerOfSize(limit);
      assert.equal(answer.length, limit);
      const p = await proxy(async (c) => relayAfter(c, answer, await readConnect(c)));
      const res = await leakFree(p.port, () => request(`http://127.0.0.1:${http.port}/`, { via: [`http://127.0.0.1:${p.port}`], pool: false }));
      assert.equal(await res.text(), 'hello');
    });

    it(`one byte more is ERR_HEADER_BLOCK_TOO_LARGE at stage connect-response, naming the proxy`, async () => {
      const p = await proxy(async (c) => relayAfter(c, answerOfSize(limit + 1), await readConnect(c)));
      const e = await leakFree(p.port, () => rejected(request(`http://127.0.0.1:${http.port}/`, { via: [`http://127.0.0.1:${p.port}`], pool: false })));
      assert.equal(e.code, 'ERR_HEADER_BLOCK_TOO_LARGE');
      assert.equal(e.stage, 'connect-response');
      assert.equal(e.hop?.index, 0);
      assert.equal(e.hop?.port, p.port);
    });
  });

  it('a proxy trickling its answer one byte at a time is ended by the hop\'s budget for its answer (bytes arriving do not extend it)', async () => {
    let timer: NodeJS.Timeout | undefined;
    let serverSide: Promise<void> = Promise.resolve();
    const p = await proxy(async (c) => {
      serverSide = c.closed;
      await readConnect(c);
      const answer = Buffer.from('HTTP/1.1 200 OK\r\nx-slow: ' + 'z'.repeat(1000) + '\r\n\r\n');
      let i = 0;
      timer = setInterval(() => {
        if (c.socket.destroyed || i >= answer.length) {
          clearInterval(timer);
          return;
        }
        c.socket.write(answer.subarray(i, ++i));
      }, 5);
      await c.closed;
      clearInterval(timer);
    });
    const t0 = performance.now();
    const e = await leakFree(p.port, async () => {
      const err = await rejected(request(`http://127.0.0.1:${http.port}/`, { via: [{ url: `http://127.0.0.1:${p.port}`, connectTimeout: 300 }], pool: false }));
      // The proxy's trickling timer stops once its side of the connection has closed.
      await serverSide;
      clearInterval(timer);
      return err;
    });
    assert.equal(e.code, 'ERR_CONNECT_RESPONSE_TIMEOUT', e.message);
    assert.equal(e.stage, 'timeout');
    assert.equal(e.hop?.index, 0);
    assert.ok(performance.now() - t0 < 3000);
    clearInterval(timer);
  });

  describe('SOCKS5 address types in the reply', () => {
    async function socksReplying(reply: Buffer): Promise<ScriptedServer> {
      return proxy(async (c) => {
        await c.readExactly(3); // 05 01 00
        c.socket.write(Buffer.from([5, 0]));
        const req = await c.readExactly(5);
        const atyp = req[3];
        const len = atyp === 1 ? 4 + 2 - 1 : atyp === 4 ? 16 + 2 - 1 : (req[4] as number) + 2;
        await c.readExactly(len);
        c.socket.write(reply);
      });
    }

    it('asked for a name, the server binds an IPv6 address: a valid reply, accepted (BND.ADDR may be any type)', async () => {
      const reply = Buffer.from([5, 0, 0, 4, ...new Array<number>(15).fill(0), 1, 0x1f, 0x90]);
      const p = await proxy(async (c) => {
        await c.readExactly(3);
        c.socket.write(Buffer.from([5, 0]));
        const req = await c.readExactly(5);
        await c.readExactly((req[4] as number) + 2);
        await relayAfter(c, reply, { host: '127.0.0.1', port: http.port });
      });
      const res = await leakFree(p.port, () => request(`http://localhost:${http.port}/`, { via: [`socks5h://127.0.0.1:${p.port}`], pool: false }));
      assert.equal(await res.text(), 'hello');
    });

    it('an address type that does not exist (0x05) is ERR_SOCKS_PROTOCOL at stage socks-reply', async () => {
      const p = await socksReplying(Buffer.from([5, 0, 0, 5, 1, 2, 3, 4, 0, 80]));
      const e = await leakFree(p.port, () => rejected(request(`http://localhost:${http.port}/`, { via: [`socks5h://127.0.0.1:${p.port}`], pool: false })));
      assert.equal(e.code, 'ERR_SOCKS_PROTOCOL', e.message);
      assert.equal(e.stage, 'socks-reply');
      assert.equal(e.hop?.kind, 'socks5');
    });
  });

  describe('an HTTP/2 proxy resetting or going away at each point of a tunnel\'s life', () => {
    type Point = 'rst before the answer' | 'rst after the 200, before any byte' | 'cancel after the 200, before any byte' | 'rst in the middle of the body' | 'goaway before the CONNECT' | 'goaway (graceful) after the 200';
    async function h2Proxy(point: Point): Promise<{ port: number; close(): Promise<void> }> {
      const server = http2.createServer();
      const sessions = new Set<http2.ServerHttp2Session>();
      server.on('session', (s) => {
        sessions.add(s);
        s.on('error', () => undefined);
        s.once('close', () => sessions.delete(s));
        if (point === 'goaway before the CONNECT') s.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
      });
      server.on('stream', (stream, headers) => {
        stream.on('error', () => undefined);
        if (point === 'rst before the answer') {
          stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
          return;
        }
        const [host, port] = String(headers[':authority']).split(':');
        const up = net.connect(Number(port), host === 'localhost' ? '127.0.0.1' : host);
        up.on('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
        up.once('connect', () => {
          stream.respond({ ':status': 200 });
          if (point === 'rst after the 200, before any byte' || point === 'cancel after the 200, before any byte') {
            stream.close(point === 'rst after the 200, before any byte' ? http2.constants.NGHTTP2_INTERNAL_ERROR : http2.constants.NGHTTP2_CANCEL);
            up.destroy();
            return;
          }
          if (point === 'goaway (graceful) after the 200') stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id ?? 0);
          let down = 0;
          up.on('data', (chunk: Buffer) => {
            down += chunk.length;
            if (point === 'rst in the middle of the body' && down > 64 * 1024) {
              stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
              up.destroy();
              return;
            }
            stream.write(chunk);
          });
          stream.pipe(up);
          up.on('end', () => stream.end());
          stream.once('close', () => up.destroy());
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return {
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((resolve) => {
            for (const s of sessions) s.destroy();
            server.close(() => resolve());
          }),
      };
    }

    const expectations: Record<Point, { ok: true } | { code: string; stage: string; hop?: number }> = {
      'rst before the answer': { code: 'ERR_STREAM_RESET', stage: 'connect-response' },
      // Known limit: a tunnel's stream reset before any byte went through it reaches the layer inside as the end
      // of its transport (node:http2 ends the stream before it emits the error; with CANCEL it emits none),
      // so the error names the hop inside (the origin), not the proxy that reset it.
      'rst after the 200, before any byte': { code: 'ERR_CONNECTION_CLOSED', stage: 'http', hop: 1 },
      'cancel after the 200, before any byte': { code: 'ERR_CONNECTION_CLOSED', stage: 'http', hop: 1 },
      'rst in the middle of the body': { code: 'ERR_STREAM_RESET', stage: 'http' },
      'goaway before the CONNECT': { code: 'ERR_GOAWAY', stage: 'http' },
      'goaway (graceful) after the 200': { ok: true },
    };

    for (const point of Object.keys(expectations) as Point[]) {
      it(point, async () => {
        const p = await h2Proxy(point);
        servers.push(p);
        const want = expectations[point];
        const path = point === 'rst in the middle of the body' ? '/bytes/1048576' : '/';
        const init: RequestInit = { via: [`h2c://127.0.0.1:${p.port}`], pool: false, timeouts: { total: 5000 } };
        const run = async (): Promise<unknown> => {
          try {
            const res = await request(`http://127.0.0.1:${http.port}${path}`, init);
            return await res.buffer();
          } catch (e) {
            return e;
          }
        };
        const out = await leakFree(p.port, run);
        if ('ok' in want) {
          assert.ok(Buffer.isBuffer(out), String(out));
          assert.equal(out.toString(), 'hello');
          return;
        }
        assert.ok(out instanceof BurrowError, String(out));
        assert.equal(out.code, want.code, out.message);
        assert.equal(out.stage, want.stage, out.message);
        // The proxy is named: it reset the stream or went away.
        assert.equal(out.hop?.index, want.hop ?? 0, out.message);
        if (want.hop === undefined) assert.equal(out.hop?.port, p.port, out.message);
      });
    }
  });

  it('an HTTP/2 peer that ignores flow control (DATA beyond the stream window) gets the stream reset: a typed error, not a hang or a crash', async () => {
    // A raw h2c origin: it reads the client's SETTINGS (the stream window), answers the request with a 200
    // and then window + 64 KiB of DATA at once, while the client reads nothing (no window update is due).
    const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(payload.length, 0, 3);
      h[3] = type;
      h[4] = flags;
      h.writeUInt32BE(stream, 5);
      return Buffer.concat([h, payload]);
    };
    let serverClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (serverClosed = resolve));
    const origin = net.createServer((socket) => {
      let buf = Buffer.alloc(0);
      let p = 24; // after the client preface
      let window = 65535;
      let sent = false;
      socket.on('error', () => undefined);
      socket.once('close', serverClosed);
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (p + 9 <= buf.length) {
          const len = buf.readUIntBE(p, 3);
          const type = buf[p + 3];
          if (p + 9 + len > buf.length) break;
          if (type === 4) for (let q = p + 9; q + 6 <= p + 9 + len; q += 6) if (buf.readUInt16BE(q) === 4) window = buf.readUInt32BE(q + 2);
          if (type === 1 && !sent) {
            sent = true;
            socket.write(frame(4, 0, 0, Buffer.alloc(0)));
            socket.write(frame(4, 1, 0, Buffer.alloc(0)));
            socket.write(frame(1, 4, 1, Buffer.from([0x88]))); // HEADERS :status 200, END_HEADERS
            for (let i = 0; i < Math.ceil((window + 65536) / 16384); i++) socket.write(frame(0, 0, 1, Buffer.alloc(16384, 0x62)));
          }
          p += 9 + len;
        }
      });
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const port = (origin.address() as net.AddressInfo).port;
    servers.push({ close: () => new Promise<void>((r) => origin.close(() => r())) });
    const out = await leakFree(port, async () => {
      try {
        const res = await request(`http://127.0.0.1:${port}/`, { protocols: ['http2'], pool: false, timeouts: { total: 5000 } });
        assert.equal(res.status, 200);
        await closed; // the client reset the stream and closed the connection: the body read now fails
        return await res.buffer();
      } catch (e) {
        return e;
      }
    });
    assert.ok(out instanceof BurrowError, `expected a typed error, got ${Buffer.isBuffer(out) ? `${out.length} bytes` : String(out)}`);
    assert.equal(out.code, 'ERR_STREAM_RESET', out.message);
    // nghttp2 resets it with FLOW_CONTROL_ERROR (Node 20) or INTERNAL_ERROR (the nghttp2 of Node 22 and later).
    assert.ok(['FLOW_CONTROL_ERROR', 'INTERNAL_ERROR'].includes(String(out.details['h2Error'])), out.message);
    assert.equal(out.hop?.port, port);
  });
});
