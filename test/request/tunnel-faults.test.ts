// Faults in the life of a tunnel, at every position of 1-, 2- and 3-hop chains: a proxy that closes right
// after its 2xx, closes in the middle of the response body, stalls in the middle of it, or closes in the
// middle of a streamed upload; on the route's first request and on a reused one (a pooled route whose
// first request went through). Every request ends (no hang), with a typed error that names a hop and a
// stage, the upload's body iterator is closed, the pool does not hand out the dead route again (the next
// request on the route goes through), and no socket or timer of the client is left behind.
//
// Which hop an error names: a close inside a connection-wide tunnel (HTTP/1.1 CONNECT) reaches the client
// as the close of its TCP connection, the same bytes whether the proxy at the fault closed or one after it
// did; the layer that was speaking on it names itself. So the error names the faulty hop or one after it
// (hop `hops` is the origin), never one before it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { request, type ViaEntry } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { BurrowError, type ErrorStage } from '../../src/errors/errors.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { assertNoClientLeaks, clientSnapshot } from '../helpers/leaks.js';

/** Response bytes relayed before a mid-body fault. */
const AFTER = 64 * 1024;
const BIG = 1024 * 1024;
const TOTAL_TIMEOUT = 400;

type FaultKind = 'close after the 2xx' | 'close mid-body' | 'stall mid-body' | 'close mid-upload';

/** A CONNECT proxy that relays until its fault: what the tests need of a hop that dies. */
class FaultyProxy {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  kind: FaultKind = 'close mid-body';
  /** The fault fires only on bytes of a request for this path (the route's first request is left alone). */
  armedFor = '';

  constructor() {
    this.server = net.createServer((client) => this.#serve(client));
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  #track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => this.sockets.delete(s));
  }

  #serve(client: net.Socket): void {
    this.#track(client);
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      client.off('data', onHead);
      const m = /^CONNECT (\S+):(\d+) HTTP\/1\.1\r\n/.exec(head.toString('latin1'));
      if (m === null) {
        client.destroy();
        return;
      }
      const rest = head.subarray(end + 4);
      const upstream = net.connect(Number(m[2]), m[1] === 'localhost' ? '127.0.0.1' : (m[1] as string));
      this.#track(upstream);
      upstream.once('connect', () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        if (this.kind === 'close after the 2xx' && this.armedFor === '*') {
          client.destroy();
          upstream.destroy();
          return;
        }
        this.#relay(client, upstream, rest);
      });
      upstream.once('error', () => client.destroy());
    };
    client.on('data', onHead);
  }

  #relay(client: net.Socket, upstream: net.Socket, rest: Buffer): void {
    let armed = false;
    let up = 0;
    let down = 0;
    const arm = (chunk: Buffer): void => {
      if (!armed && this.armedFor !== '' && chunk.includes(this.armedFor)) armed = true;
    };
    if (rest.length > 0) {
      arm(rest);
      upstream.write(rest);
    }
    client.on('data', (chunk: Buffer) => {
      arm(chunk);
      up += chunk.length;
      if (armed && this.kind === 'close mid-upload' && up > AFTER) {
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (armed) down += chunk.length;
      if (armed && down > AFTER && (this.kind === 'close mid-body' || this.kind === 'stall mid-body')) {
        if (this.kind === 'close mid-body') {
          client.destroy();
          upstream.destroy();
        } else {
          upstream.pause();
        }
        return;
      }
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (this.kind !== 'stall mid-body' || !armed) client.destroy();
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

type Kind = 'first request' | 'reused route';

interface Case {
  readonly name: string;
  readonly hops: number;
  readonly at: number;
  readonly fault: FaultKind;
  readonly kind: Kind;
}

const CASES: Case[] = [];
for (const kind of ['first request', 'reused route'] as const) {
  for (const fault of ['close after the 2xx', 'close mid-body', 'stall mid-body', 'close mid-upload'] as const) {
    if (kind === 'reused route' && fault === 'close after the 2xx') continue; // a reused route's tunnels are up already
    for (let hops = 1; hops <= 3; hops++) {
      for (let at = 0; at < hops; at++) CASES.push({ name: `${kind}, ${hops}-hop chain, hop ${at}: ${fault}`, hops, at, fault, kind });
    }
  }
}

const STAGES: readonly ErrorStage[] = ['tcp', 'tls', 'connect-response', 'http', 'timeout'];

describe('request(): faults in the life of a tunnel, at every hop', () => {
  let origin: TestOrigin;
  let healthy: TestConnectProxy[];
  let faulty: FaultyProxy;

  before(async () => {
    origin = await startOrigin({ transport: 'tcp', protocol: 'http' });
    healthy = [await startConnectProxy(), await startConnectProxy(), await startConnectProxy()];
    faulty = new FaultyProxy();
    await new Promise<void>((r) => faulty.server.listen(0, '127.0.0.1', r));
  });

  after(async () => {
    await Promise.all([origin.close(), ...healthy.map((h) => h.close()), faulty.close()]);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const via: ViaEntry[] = [];
      for (let i = 0; i < c.hops; i++) via.push(i === c.at ? `http://127.0.0.1:${faulty.port}` : (healthy[i] as TestConnectProxy).url);
      const firstPort = c.at === 0 ? faulty.port : (healthy[0] as TestConnectProxy).port;
      const clientBaseline = clientSnapshot(firstPort);
      const pool = new Pool();
      const base = `http://127.0.0.1:${origin.port}`;
      faulty.kind = c.fault;
      faulty.armedFor = '';
      if (c.kind === 'reused route') {
        const res = await request(`${base}/`, { via, pool });
        assert.equal(await res.text(), 'hello');
      }
      // The fault fires on this request only.
      faulty.armedFor = c.fault === 'close after the 2xx' ? '*' : c.fault === 'close mid-upload' ? '/echo' : `/bytes/${BIG}`;
      let bodyClosed = false;
      let chunks = 0;
      async function* upload(): AsyncGenerator<Buffer> {
        try {
          for (; chunks < 64; chunks++) yield Buffer.alloc(16 * 1024, 0x61);
        } finally {
          bodyClosed = true;
        }
      }
      const init = c.fault === 'close mid-upload' ? { via, pool, method: 'POST', body: upload(), timeouts: { total: 5000 } } : { via, pool, timeouts: { total: c.fault === 'stall mid-body' ? TOTAL_TIMEOUT : 5000 } };
      const err = await request(c.fault === 'close mid-upload' ? `${base}/echo` : `${base}/bytes/${BIG}`, init).then(
        async (res) => {
          await res.buffer();
          assert.fail('the request succeeded');
        },
        (e: unknown) => e,
      ).catch((e: unknown) => e);
      assert.ok(err instanceof BurrowError, String(err));
      assert.ok(STAGES.includes(err.stage), `stage ${err.stage}: ${err.message}`);
      if (c.fault === 'stall mid-body') assert.equal(err.code, 'ERR_REQUEST_TIMEOUT', err.message);
      else {
        assert.ok(err.hop !== undefined, `no hop named: ${err.message}`);
        assert.ok(err.hop.index >= c.at && err.hop.index <= c.hops, `hop ${err.hop.index} named for a fault at hop ${c.at}: ${err.message}`);
      }
      if (c.fault === 'close mid-upload') assert.ok(bodyClosed || chunks === 64, 'the upload body was left open');
      // The route is not handed out dead: the next request on it goes through.
      faulty.armedFor = '';
      const next = await request(`${base}/`, { via, pool, timeouts: { total: 5000 } });
      assert.equal(await next.text(), 'hello');
      await pool.close();
      await assertNoClientLeaks(clientBaseline, firstPort);
    });
  }
});
