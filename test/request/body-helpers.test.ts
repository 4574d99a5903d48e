// The body types fetch users send (URLSearchParams, FormData, Blob, ArrayBuffer, typed arrays, web
// ReadableStream) arrive as the exact bytes with their content-type and, when known, content-length; and the
// response body read as bytes, a web ReadableStream or a Node Readable, each honouring maxResponseSize.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { isBurrowError } from '../../src/errors/errors.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** What the origin received. */
interface Received {
  readonly contentType: string | undefined;
  readonly contentLength: string | undefined;
  readonly transferEncoding: string | undefined;
  readonly body: Buffer;
}

describe('request() bodies and body helpers', () => {
  let baseline: string[];
  let server: http.Server;
  let base: string;
  let pool: Pool;
  let last: Received | undefined;
  const big = Buffer.alloc(256 * 1024, 'z');

  before(async () => {
    baseline = resourceSnapshot();
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        last = { contentType: req.headers['content-type'], contentLength: req.headers['content-length'], transferEncoding: req.headers['transfer-encoding'], body: Buffer.concat(chunks) };
        if (req.url === '/big') res.writeHead(200, { 'content-length': big.length }).end(big);
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, n: 1 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await assertNoLeaks(baseline);
  });

  async function send(body: Parameters<typeof request>[1] extends infer I ? (I extends { body?: infer B } ? B : never) : never, headers?: Record<string, string>): Promise<Received> {
    last = undefined;
    const res = await request(`${base}/`, { method: 'POST', body, pool, ...(headers ? { headers } : {}) });
    await res.text();
    assert.ok(last !== undefined);
    return last;
  }

  it('sends URLSearchParams as application/x-www-form-urlencoded;charset=UTF-8', async () => {
    const r = await send(new URLSearchParams({ a: '1', b: 'x y', c: 'é&=' }));
    assert.equal(r.contentType, 'application/x-www-form-urlencoded;charset=UTF-8');
    assert.equal(r.body.toString(), 'a=1&b=x+y&c=%C3%A9%26%3D');
    assert.equal(r.contentLength, String(r.body.length));
  });

  it('keeps a content-type the caller set', async () => {
    const r = await send(new URLSearchParams('a=1'), { 'Content-Type': 'text/x-mine' });
    assert.equal(r.contentType, 'text/x-mine');
    assert.equal(r.body.toString(), 'a=1');
  });

  it('streams a Blob with its type and size', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252]);
    const r = await send(new Blob([bytes, 'tail'], { type: 'application/x-thing' }));
    assert.equal(r.contentType, 'application/x-thing');
    assert.equal(r.contentLength, String(bytes.length + 4));
    assert.equal(r.transferEncoding, undefined);
    assert.ok(r.body.equals(Buffer.concat([bytes, Buffer.from('tail')])));
    const untyped = await send(new Blob(['abc']));
    assert.equal(untyped.contentType, undefined);
    assert.equal(untyped.body.toString(), 'abc');
  });

  it('sends an ArrayBuffer, a typed array view and a DataView as their exact bytes', async () => {
    const ab = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]).buffer;
    assert.deepEqual([...(await send(ab)).body], [9, 8, 7, 6, 5, 4, 3, 2]);
    const view = new Uint16Array(ab, 2, 2);
    const r = await send(view);
    assert.deepEqual([...r.body], [7, 6, 5, 4]);
    assert.equal(r.contentLength, '4');
    assert.deepEqual([...(await send(new DataView(ab, 6))).body], [3, 2]);
  });

  it('streams a web ReadableStream (chunked, no content-type)', async () => {
    const parts = ['one ', 'two ', 'three'];
    const stream = new ReadableStream<Uint8Array>({
      pull(c): void {
        const p = parts.shift();
        if (p === undefined) c.close();
        else c.enqueue(Buffer.from(p));
      },
    });
    const r = await send(stream);
    assert.equal(r.body.toString(), 'one two three');
    assert.equal(r.transferEncoding, 'chunked');
    assert.equal(r.contentType, undefined);
  });

  it('encodes FormData as multipart/form-data byte for byte as Node’s fetch does, files streamed with a known length', async () => {
    const fd = new FormData();
    fd.append('name', 'va"lue\nline');
    fd.append('we"ird\r\nname', 'x');
    fd.append('file', new Blob([Buffer.from([0, 255, 13, 10])], { type: 'image/png' }), 'a "b".png');
    fd.append('plain', new Blob(['text']));
    const r = await send(fd);
    const m = /^multipart\/form-data; boundary=(.+)$/.exec(r.contentType ?? '');
    assert.ok(m !== null, r.contentType);
    const boundary = m[1] as string;
    assert.equal(r.contentLength, String(r.body.length));
    // The reference: undici's encoding of the same form, its boundary swapped for ours.
    const ref = new Response(fd);
    const refBoundary = (/boundary=(.+)$/.exec(ref.headers.get('content-type') ?? '') as RegExpExecArray)[1] as string;
    const expected = Buffer.from(await ref.arrayBuffer()).toString('latin1').split(refBoundary).join(boundary);
    assert.equal(r.body.toString('latin1'), expected);
    const textOnly = new FormData();
    textOnly.append('k', 'v');
    const t = await send(textOnly);
    assert.match(t.body.toString(), /^--.+\r\nContent-Disposition: form-data; name="k"\r\n\r\nv\r\n--.+--\r\n$/);
  });

  it('rejects a body of another type with ERR_INVALID_REQUEST, nothing sent', async () => {
    last = undefined;
    await assert.rejects(request(`${base}/`, { method: 'POST', pool, body: 42 as unknown as string }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_REQUEST'));
    assert.equal(last, undefined);
  });

  it('res.bytes() is a Uint8Array of the body; json(), text(), arrayBuffer() as before', async () => {
    const b = await (await request(`${base}/big`, { pool })).bytes();
    assert.ok(b instanceof Uint8Array);
    assert.equal(b.byteLength, big.length);
    assert.equal(b.buffer.byteLength, big.length, 'a Uint8Array of its own, not a view of a shared pool');
    assert.ok(Buffer.from(b).equals(big));
    assert.deepEqual(await (await request(`${base}/`, { pool })).json(), { ok: true, n: 1 });
    assert.equal((await (await request(`${base}/big`, { pool })).arrayBuffer()).byteLength, big.length);
  });

  it('res.stream() is a web ReadableStream of the body; cancelling it cancels the body', async () => {
    const res = await request(`${base}/big`, { pool });
    const s = res.stream();
    assert.ok(s instanceof ReadableStream);
    let n = 0;
    for await (const c of s) n += c.byteLength;
    assert.equal(n, big.length);
    const again = await request(`${base}/big`, { pool });
    const reader = again.stream().getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    await reader.cancel();
    await assert.rejects(again.text(), (e: unknown) => isBurrowError(e, 'ERR_BAD_STATE'), 'the body reads once');
  });

  it('res.readable() is a Node Readable of Buffers', async () => {
    const res = await request(`${base}/big`, { pool });
    const r = res.readable();
    assert.ok(r instanceof Readable);
    const chunks: Buffer[] = [];
    for await (const c of r) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(big));
  });

  it('every helper honours maxResponseSize (ERR_RESPONSE_TOO_LARGE)', async () => {
    const limit = { pool, maxResponseSize: 1024 };
    const tooLarge = (e: unknown): boolean => isBurrowError(e, 'ERR_RESPONSE_TOO_LARGE');
    await assert.rejects((await request(`${base}/big`, limit)).bytes(), tooLarge);
    await assert.rejects((await request(`${base}/big`, limit)).text(), tooLarge);
    await assert.rejects((await request(`${base}/big`, limit)).arrayBuffer(), tooLarge);
    await assert.rejects(
      (async () => {
        for await (const c of (await request(`${base}/big`, limit)).stream()) assert.ok(c.byteLength > 0);
      })(),
      tooLarge,
    );
    await assert.rejects(
      (async () => {
        for await (const c of (await request(`${base}/big`, limit)).readable()) assert.ok((c as Buffer).length > 0);
      })(),
      tooLarge,
    );
  });
});
