// HTTP/1.0 to the origin (protocols: ['http/1.0']): the request line byte for byte, close-delimited bodies,
// keep-alive only when the server says so, no chunked bodies, and a pool route of its own.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { isBurrowError } from '../../src/errors/errors.js';
import { decideFraming, encodeRequestHead } from '../../src/protocols/http1/codec/index.js';
import { startScriptedServer, type ScriptedServer } from '../../src/testing/scripted.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** Answers every request on a connection with `answer(head)`; ends the connection when `close` says so. */
async function startOrigin(answer: (head: string) => { bytes: string; close: boolean }): Promise<{ server: ScriptedServer; heads: string[] }> {
  const heads: string[] = [];
  const server = await startScriptedServer({
    onConnection: async (c) => {
      for (;;) {
        let head: string;
        try {
          head = (await c.readUntil('\r\n\r\n')).toString('latin1');
        } catch {
          return;
        }
        heads.push(head);
        const cl = /\r\ncontent-length: (\d+)/i.exec(head);
        if (cl !== null && Number(cl[1]) > 0) heads.push((await c.readExactly(Number(cl[1]))).toString('latin1'));
        const a = answer(head);
        c.write(a.bytes);
        if (a.close) {
          c.socket.end();
          return;
        }
      }
    },
  });
  return { server, heads };
}

describe('request(): HTTP/1.0', () => {
  let baseline: string[];
  let pool: Pool;
  let proxy: TestConnectProxy;
  before(async () => {
    baseline = resourceSnapshot();
    pool = new Pool();
    proxy = await startConnectProxy({ transport: 'tcp' });
  });
  after(async () => {
    await pool.close();
    await proxy.close();
    await assertNoLeaks(baseline);
  });

  it('encodes the request line as HTTP/1.0, byte for byte, and refuses chunked framing', () => {
    const head = encodeRequestHead({ method: 'GET', target: '/a?b', headers: [['x-y', '1']], host: 'h:8', version: '1.0' }, { kind: 'none' });
    assert.equal(head.toString('latin1'), 'GET /a?b HTTP/1.0\r\nhost: h:8\r\nx-y: 1\r\n\r\n');
    const post = encodeRequestHead({ method: 'POST', target: '/', headers: [], host: 'h', version: '1.0' }, decideFraming('POST', [], Buffer.from('abc')));
    assert.equal(post.toString('latin1'), 'POST / HTTP/1.0\r\nhost: h\r\ncontent-length: 3\r\n\r\n');
    assert.throws(() => encodeRequestHead({ method: 'POST', target: '/', headers: [], host: 'h', version: '1.0' }, { kind: 'chunked' }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_REQUEST'));
    assert.equal(encodeRequestHead({ method: 'GET', target: '/', headers: [], host: 'h' }, { kind: 'none' }).toString('latin1'), 'GET / HTTP/1.1\r\nhost: h\r\n\r\n');
  });

  it('sends HTTP/1.0 and reads a close-delimited body; without keep-alive the connection is not reused', async () => {
    const o = await startOrigin(() => ({ bytes: 'HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end', close: true }));
    const url = `http://127.0.0.1:${o.server.port}/old`;
    // decompress: false — no accept-encoding, the request head is exactly the request line and host.
    const res = await request(url, { protocols: ['http/1.0'], pool, decompress: false });
    assert.equal(res.version, '1.0');
    assert.equal(res.info.layers[res.info.layers.length - 1]?.kind, 'HTTP/1.0');
    assert.equal(await res.text(), 'until the end');
    assert.equal(o.heads[0], `GET /old HTTP/1.0\r\nhost: 127.0.0.1:${o.server.port}\r\n\r\n`);
    const again = await request(url, { protocols: ['http/1.0'], pool });
    assert.equal(await again.text(), 'until the end');
    assert.equal(again.info.reused, false);
    assert.equal(o.server.connections.length, 2);
    await o.server.close();
  });

  it('a server answering HTTP/1.1 without connection: keep-alive to an HTTP/1.0 request: the connection is closed after it', async () => {
    const o = await startOrigin(() => ({ bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok', close: false }));
    const url = `http://127.0.0.1:${o.server.port}/`;
    assert.equal(await (await request(url, { protocols: ['http/1.0'], pool })).text(), 'ok');
    const second = await request(url, { protocols: ['http/1.0'], pool });
    assert.equal(await second.text(), 'ok');
    assert.equal(second.info.reused, false);
    assert.equal(o.server.connections.length, 2);
    await o.server.close();
  });

  it('keeps the connection when the server answers connection: keep-alive (the client may ask for it)', async () => {
    const o = await startOrigin(() => ({ bytes: 'HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok', close: false }));
    const url = `http://127.0.0.1:${o.server.port}/`;
    const first = await request(url, { protocols: ['http/1.0'], headers: { connection: 'keep-alive' }, pool });
    assert.equal(await first.text(), 'ok');
    const second = await request(url, { protocols: ['http/1.0'], headers: { connection: 'keep-alive' }, pool });
    assert.equal(await second.text(), 'ok');
    assert.equal(second.info.reused, true);
    assert.equal(o.server.connections.length, 1);
    assert.match(o.heads[1] ?? '', /^GET \/ HTTP\/1\.0\r\n[^]*connection: keep-alive\r\n/);
    // An HTTP/1.1 request to the same origin does not take the HTTP/1.0 route's connection.
    const h11 = await request(url, { pool });
    assert.equal(await h11.text(), 'ok');
    assert.equal(h11.info.reused, false);
    assert.equal(o.server.connections.length, 2);
    assert.match(o.heads[2] ?? '', /^GET \/ HTTP\/1\.1\r\n/);
    await o.server.close();
  });

  it('a streamed body needs a content-length; with one it is sent; through a CONNECT proxy the origin gets HTTP/1.0', async () => {
    const o = await startOrigin(() => ({ bytes: 'HTTP/1.0 201 Created\r\n\r\n', close: true }));
    const url = `http://127.0.0.1:${o.server.port}/up`;
    async function* body(): AsyncIterable<Uint8Array> {
      yield Buffer.from('abc');
    }
    await assert.rejects(request(url, { method: 'POST', body: body(), protocols: ['http/1.0'], pool, retry: false }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_REQUEST'));
    const ok = await request(url, { method: 'POST', body: body(), headers: { 'content-length': '3' }, protocols: ['http/1.0'], pool });
    assert.equal(ok.status, 201);
    await ok.text();
    assert.equal(o.heads.includes('abc'), true);
    const n = proxy.requests.length;
    const viaProxy = await request(url, { via: [proxy.url], protocols: ['http/1.0'], pool });
    assert.equal(viaProxy.status, 201);
    await viaProxy.text();
    assert.equal(proxy.requests[n]?.version, '1.1', 'the CONNECT itself stays HTTP/1.1');
    assert.match(o.heads[o.heads.length - 1] ?? '', /^GET \/up HTTP\/1\.0\r\n/);
    await o.server.close();
  });

  it("'http/1.0' goes alone", async () => {
    await assert.rejects(request('https://127.0.0.1:1/', { protocols: ['http/1.0', 'http'] }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'protocols');
  });
});
