// StreamRef: an immutable, comparable, printable path of stream ids; and what a
// connection does with refs it does not know or that are no tunnels.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { open, StreamRef, type Connection, type LookupFunction } from '../../src/index.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';

describe('StreamRef values', () => {
  it('is frozen, path included; assignments throw in strict mode', () => {
    const ref = new StreamRef([3, 7]);
    assert.ok(Object.isFrozen(ref));
    assert.ok(Object.isFrozen(ref.path));
    const mutable = ref as unknown as { path: number[]; key: string; depth: number };
    assert.throws(() => {
      mutable.key = '9';
    }, TypeError);
    assert.throws(() => {
      mutable.path = [1];
    }, TypeError);
    assert.throws(() => {
      mutable.path[0] = 1;
    }, TypeError);
    assert.throws(() => mutable.path.push(1), TypeError);
    assert.throws(() => {
      mutable.depth = 5;
    }, TypeError);
    assert.throws(() => {
      (ref as unknown as Record<string, unknown>)['extra'] = 1;
    }, TypeError);
    assert.deepEqual([...ref.path], [3, 7]);
    assert.equal(ref.key, '3/7');
  });

  it('copies the path it is given: later changes to the array do not affect it', () => {
    const ids = [1, 2];
    const ref = new StreamRef(ids);
    ids.push(3);
    ids[0] = 9;
    assert.deepEqual([...ref.path], [1, 2]);
    assert.equal(ref.key, '1/2');
  });

  it('rejects an empty path', () => {
    assert.throws(() => new StreamRef([]), RangeError);
  });

  it('equals compares paths, not identity', () => {
    const a = new StreamRef([1, 2]);
    assert.ok(a.equals(new StreamRef([1, 2])));
    assert.ok(a.equals(a));
    assert.ok(!a.equals(new StreamRef([1])));
    assert.ok(!a.equals(new StreamRef([1, 2, 3])));
    assert.ok(!a.equals(new StreamRef([2, 1])));
    assert.ok(!new StreamRef([12]).equals(new StreamRef([1, 2])));
    assert.ok(!a.equals(undefined));
    assert.ok(!a.equals(null));
    assert.ok(!a.equals({ path: [1, 2], key: '1/2' } as unknown as StreamRef));
  });

  it('key is equal exactly for equal refs and works as a Map key', () => {
    const a = new StreamRef([1, 23]);
    const b = new StreamRef([12, 3]);
    const c = new StreamRef([123]);
    assert.equal(a.key, new StreamRef([1, 23]).key);
    assert.notEqual(a.key, b.key);
    assert.notEqual(a.key, c.key);
    assert.notEqual(b.key, c.key);
    const m = new Map<string, string>([[a.key, 'a']]);
    assert.equal(m.get(new StreamRef([1, 23]).key), 'a');
  });

  it('child, parent and depth navigate the path without changing the original', () => {
    const top = new StreamRef([5]);
    assert.equal(top.depth, 1);
    assert.equal(top.parent, undefined);
    const child = top.child(8);
    assert.deepEqual([...child.path], [5, 8]);
    assert.equal(child.depth, 2);
    assert.deepEqual([...top.path], [5]);
    assert.ok(child.parent?.equals(top));
    const grandchild = child.child(13);
    assert.equal(grandchild.depth, 3);
    assert.ok(grandchild.parent?.equals(child));
    assert.ok(grandchild.parent?.parent?.equals(top));
    assert.equal(grandchild.parent?.parent?.parent, undefined);
    assert.ok(Object.isFrozen(child) && Object.isFrozen(grandchild.parent));
  });

  it('startsWith is true for the ref itself and its tunnels, false otherwise', () => {
    const r = new StreamRef([1, 2, 3]);
    assert.ok(r.startsWith(r));
    assert.ok(r.startsWith(new StreamRef([1])));
    assert.ok(r.startsWith(new StreamRef([1, 2])));
    assert.ok(!r.startsWith(new StreamRef([2])));
    assert.ok(!r.startsWith(new StreamRef([1, 3])));
    assert.ok(!r.startsWith(new StreamRef([1, 2, 3, 4])));
    assert.ok(!new StreamRef([1]).startsWith(r));
  });

  it('prints as StreamRef(a > b) through toString, JSON.stringify and util.inspect', () => {
    const r = new StreamRef([4, 2]);
    assert.equal(r.toString(), 'StreamRef(4 > 2)');
    assert.equal(String(r), 'StreamRef(4 > 2)');
    assert.equal(`${r}`, 'StreamRef(4 > 2)');
    assert.equal(JSON.stringify(r), '"StreamRef(4 > 2)"');
    assert.equal(JSON.stringify({ ref: r, list: [new StreamRef([1])] }), '{"ref":"StreamRef(4 > 2)","list":["StreamRef(1)"]}');
    assert.equal(inspect(r), 'StreamRef(4 > 2)');
    assert.equal(inspect({ ref: r }), '{ ref: StreamRef(4 > 2) }');
    assert.equal(inspect(new StreamRef([9])), 'StreamRef(9)');
  });
});

describe('StreamRef from a connection', () => {
  const pendingLookup: LookupFunction = () => new Promise(() => undefined);

  it('two get() calls return different top-level refs', async (t) => {
    const conn = open({ host: 'pending.test', port: 80, lookup: pendingLookup, retry: 0 });
    t.after(() => conn.close());
    const a = conn.get('/');
    const b = conn.get('/');
    assert.ok(a instanceof StreamRef && b instanceof StreamRef);
    assert.ok(!a.equals(b));
    assert.notEqual(a.key, b.key);
    assert.equal(a.depth, 1);
    assert.equal(b.depth, 1);
    assert.ok(Object.isFrozen(a));
    // Refs are unique across connections too.
    const other = open({ host: 'pending.test', port: 80, lookup: pendingLookup, retry: 0 });
    t.after(() => other.close());
    const c = other.get('/');
    assert.ok(!c.equals(a) && !c.equals(b));
    await conn.close();
    await other.close();
  });

  describe('tunnel: ref on a direct connection', () => {
    let origin: TestOrigin;
    let conn: Connection;
    before(async () => {
      origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
      conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
      await conn.awaitUp();
    });
    after(async () => {
      await conn.close();
      await origin.close();
    });

    it('a known stream that is no tunnel gives an ERR_NOT_A_TUNNEL error message', async () => {
      const running = conn.get('/delay/100');
      const inner = conn.get('/', {}, { tunnel: running });
      assert.ok(inner.startsWith(running));
      assert.equal(inner.depth, 2);
      const m = await conn.await(inner);
      assert.equal(m.type, 'error');
      assert.ok(m.type === 'error');
      assert.equal(m.error.code, 'ERR_NOT_A_TUNNEL');
      assert.equal(m.error.stage, 'state');
      assert.ok(m.ref.equals(inner));
      // The stream used as a tunnel is unaffected.
      assert.equal((await conn.awaitBody(running)).body.toString(), 'delayed');
      assert.equal(conn.state, 'up');
    });

    it('a ref the connection does not know gives an ERR_STREAM_NOT_FOUND error message', async () => {
      const unknown = new StreamRef([2 ** 40]);
      const inner = conn.get('/', {}, { tunnel: unknown });
      const m = await conn.await(inner);
      assert.ok(m.type === 'error');
      assert.equal(m.error.code, 'ERR_STREAM_NOT_FOUND');
      assert.ok(m.error.message.includes(unknown.toString()), m.error.message);
      // A finished stream whose messages were all read is unknown too.
      const done = conn.get('/');
      await conn.awaitBody(done);
      const late = conn.get('/', {}, { tunnel: done });
      const m2 = await conn.await(late);
      assert.ok(m2.type === 'error' && m2.error.code === 'ERR_STREAM_NOT_FOUND');
    });

    it('the same works through replyTo, with nothing sent to the server, and the connection stays usable', async () => {
      const before = origin.requests.length;
      const got = await new Promise<string>((resolve) => {
        conn.post('/echo', {}, 'x', { tunnel: new StreamRef([2 ** 41, 1]), replyTo: (m) => resolve(m.type === 'error' ? m.error.code : m.type) });
      });
      assert.equal(got, 'ERR_STREAM_NOT_FOUND');
      assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
      assert.equal(origin.requests.length, before + 1);
      assert.equal(origin.requests.at(-1)?.path, '/');
    });
  });
});

describe('StreamRef.parentKey', () => {
  it('is the key of the tunnel ref, or empty at top level', () => {
    const top = new StreamRef([7]);
    const inner = new StreamRef([7, 12, 30]);
    assert.equal(top.parentKey, '');
    assert.equal(inner.parentKey, '7/12');
    assert.equal(inner.parentKey, inner.parent?.key);
  });
});
