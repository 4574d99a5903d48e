// Regressions of the layer events when a chain is torn down while layers are still being set up: every
// layer's last event comes before `connection:closed`, innermost first, whatever ends the connection
// (close(), an aborted request(), a request's total timeout); a tunnel cancelled during its setup ends
// its layers at once and stops the setup.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { open, request, type BurrowError, type Connection, type LayerInfo } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, within } from '../regressions/util.js';
import { startServers, type Servers } from './chains.js';
import { EventLog, render } from './event-log.js';

/** A TCP server that accepts and never says anything (no TLS ServerHello, no HTTP): setups in it never finish. */
interface SilentServer {
  readonly port: number;
  /** Resolves when the next connection accepted from now on closes. */
  nextClose(): Promise<void>;
  close(): Promise<void>;
}

async function startSilent(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const closes: Array<() => void> = [];
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    // Read (and drop) what arrives, so that the peer's close is seen even with bytes unread.
    s.resume();
    const waiter = closes.shift();
    s.once('close', () => {
      sockets.delete(s);
      waiter?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    nextClose: () => new Promise<void>((resolve) => closes.push(resolve)),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/**
 * The invariant of docs/events.md: every layer that started ends (down, or an error that left it `failed`)
 * before `connection:closed`, each one before the layer it runs over, and nothing is published after.
 */
function assertEndedInOrder(log: EventLog, connection: number): void {
  const events = log.all.filter((e) => (e.message as { connection?: number }).connection === connection);
  const lines = events.map(render).join('\n');
  const closedAt = events.findIndex((e) => e.channel === 'burrow:connection:closed');
  assert.ok(closedAt >= 0, `connection:closed published:\n${lines}`);
  assert.equal(closedAt, events.length - 1, `nothing after connection:closed:\n${lines}`);
  const upAt = new Map<number, number>();
  const lastEvent = new Map<number, { at: number; layer: LayerInfo; channel: string }>();
  events.forEach((e, at) => {
    const layer = (e.message as { layer?: LayerInfo }).layer;
    if (!e.channel.startsWith('burrow:layer:') || layer === undefined) return;
    if (e.channel === 'burrow:layer:up') upAt.set(layer.id, at);
    lastEvent.set(layer.id, { at, layer, channel: e.channel });
  });
  for (const { at, layer, channel } of lastEvent.values()) {
    const name = `${layer.kind}@${layer.hop.index}`;
    assert.ok(channel === 'burrow:layer:down' || (channel === 'burrow:layer:error' && layer.state === 'failed'), `${name} ended (its last event: ${channel}):\n${lines}`);
    assert.ok(at < closedAt, `${name} ended before connection:closed:\n${lines}`);
    const parent = layer.parent === undefined ? undefined : lastEvent.get(layer.parent);
    // An HTTP/1.1 layer whose connection became a CONNECT tunnel went down when it handed its socket over, before the tunnel was up.
    const handedOver = parent !== undefined && parent.at < (upAt.get(layer.id) ?? at);
    if (parent !== undefined && !handedOver) assert.ok(at < parent.at, `${name} ended before ${parent.layer.kind}@${parent.layer.hop.index}, which carries it:\n${lines}`);
  }
}

/** Waits for the response of a CONNECT (the tunnel's setup starts with it). */
async function answered(conn: Connection, tunnel: ReturnType<Connection['connect']>): Promise<void> {
  const m = await conn.await(tunnel, 3000);
  assert.equal(m.type, 'response');
}

describe('layers being set up end before connection:closed, innermost first', () => {
  let s: Servers;
  let silent: SilentServer;
  before(async () => {
    [s, silent] = await Promise.all([startServers(), startSilent()]);
  });
  after(async () => {
    await Promise.all([s.close(), silent.close()]);
  });

  for (const [kind, protocol] of [['HTTP/1.1', 'http'], ['HTTP/2', 'http2']] as const) {
    it(`close() during TLS inside an ${kind} CONNECT tunnel: tls@1 fails (ERR_CLOSED), then the tunnel and the connection go down, then connection:closed`, async () => {
      const baseline = resourceSnapshot();
      const log = new EventLog();
      const conn = open({ host: 'localhost', port: protocol === 'http' ? s.proxy.port : s.h2c.port, protocols: [protocol], retry: 0 });
      try {
        const t = conn.connect({ host: '127.0.0.1', port: silent.port, transport: 'tls' });
        await answered(conn, t);
        await conn.close();
      } finally {
        log.stop();
      }
      const lines = log.lines(conn.id);
      const connect = protocol === 'http' ? 'http1-connect@0' : 'http2-connect@0';
      const tail = protocol === 'http'
        ? ['layer:error tls@1 ERR_CLOSED/state@0', `layer:down ${connect}`, 'layer:down tcp@0']
        : ['layer:error tls@1 ERR_CLOSED/state@0', `layer:down ${connect}`, 'layer:down http2@0', 'layer:down tcp@0'];
      assert.deepEqual(lines.filter((l) => l.startsWith('layer:error') || l.startsWith('layer:down')).slice(-tail.length), tail, lines.join('\n'));
      assertEndedInOrder(log, conn.id);
      await assertNoLeaks(baseline);
    });
  }

  it('request() aborted by its signal during TLS inside a tunnel', async () => {
    const log = new EventLog();
    const ac = new AbortController();
    let connection: number | undefined;
    try {
      await assert.rejects(request(`https://127.0.0.1:${silent.port}/`, {
        via: [`http://localhost:${s.proxy.port}`],
        pool: false,
        signal: ac.signal,
        events: {
          connectionCreated: (e) => {
            connection = e.connection;
          },
          layerStart: (e) => {
            if (e.layer.kind === 'tls') ac.abort();
          },
        },
      }), (e: BurrowError) => e.code === 'ERR_ABORTED');
    } finally {
      log.stop();
    }
    assert.ok(connection !== undefined);
    assertEndedInOrder(log, connection);
    assert.ok(log.lines(connection).includes('layer:error tls@1 ERR_CLOSED/state@0'), log.lines(connection).join('\n'));
  });

  it("request()'s total timeout during TLS inside an HTTP/2 tunnel", async () => {
    const log = new EventLog();
    let connection: number | undefined;
    try {
      await assert.rejects(request(`https://127.0.0.1:${silent.port}/`, {
        via: [`h2c://localhost:${s.h2c.port}`],
        pool: false,
        timeouts: { total: 100 },
        events: {
          connectionCreated: (e) => {
            connection = e.connection;
          },
        },
      }), (e: BurrowError) => e.code === 'ERR_REQUEST_TIMEOUT');
    } finally {
      log.stop();
    }
    assert.ok(connection !== undefined);
    assertEndedInOrder(log, connection);
  });

  it('close() during the first hop\'s TLS handshake (a silent TLS port)', async () => {
    const baseline = resourceSnapshot();
    const log = new EventLog();
    const tlsStarted = deferred();
    const conn = open({ host: '127.0.0.1', port: silent.port, transport: 'tls', retry: 0, events: { layerStart: (e) => e.layer.kind === 'tls' && tlsStarted.resolve() } });
    try {
      await within(tlsStarted.promise, 3000, 'the TLS layer started');
      await conn.close();
    } finally {
      log.stop();
    }
    assert.deepEqual(log.lines(conn.id).filter((l) => l.startsWith('layer:') || l.startsWith('connection:closed')), [
      'layer:start tcp@0', 'layer:up tcp@0', 'layer:start tls@0', 'layer:error tls@0 ERR_CLOSED/state@0', 'layer:down tcp@0', 'connection:closed null',
    ]);
    assertEndedInOrder(log, conn.id);
    await assertNoLeaks(baseline);
  });
});

describe('a tunnel cancelled during its setup', () => {
  let s: Servers;
  let silent: SilentServer;
  before(async () => {
    [s, silent] = await Promise.all([startServers(), startSilent()]);
  });
  after(async () => {
    await Promise.all([s.close(), silent.close()]);
  });

  it('HTTP/2: its layers end at once (tls@1 fails ERR_STREAM_CANCELED, the CONNECT layer goes down), the setup stops, the connection stays', async () => {
    const log = new EventLog();
    const conn = open({ host: 'localhost', port: s.h2c.port, protocols: ['http2'], retry: 0 });
    try {
      // A handshake timeout far beyond the test: the target's socket closes only if the setup is stopped.
      const t = conn.connect({ host: '127.0.0.1', port: silent.port, transport: 'tls', tlsHandshakeTimeout: 60_000 });
      const targetClosed = silent.nextClose();
      await answered(conn, t);
      const before = log.lines(conn.id).length;
      conn.cancel(t);
      assert.deepEqual(log.lines(conn.id).slice(before), [
        'stream:cancel', 'layer:error tls@1 ERR_STREAM_CANCELED/state@0', 'layer:down http2-connect@0', 'stream:error ERR_STREAM_CANCELED',
      ]);
      // The tunnel's stream was reset: the proxy closed its connection to the target.
      await within(targetClosed, 3000, "the target's socket closed");
      assert.equal(conn.state, 'up');
      assert.equal(conn.streamInfo(t), undefined);
      assert.deepEqual(conn.info().layers.map((l) => `${l.kind}:${l.state}`), ['tcp:up', 'http2:up']);
      // It still carries tunnels.
      const t2 = conn.connect({ host: 'localhost', port: s.http.port });
      assert.equal((await conn.awaitBody(conn.get('/', {}, { tunnel: t2 }), 3000)).body.toString(), 'hello');
    } finally {
      await conn.close();
      log.stop();
    }
    assertEndedInOrder(log, conn.id);
    assert.equal(log.lines(conn.id).filter((l) => l.includes('tls@1')).length, 2, 'tls@1 started and failed, nothing more');
  });

  it('HTTP/1.1: the tunnel had taken the connection: its layers end at once, then the connection is lost (ERR_STREAM_CANCELED), as for a tunnel that is up', async () => {
    const baseline = resourceSnapshot();
    const log = new EventLog();
    const conn = open({ host: 'localhost', port: s.proxy.port, protocols: ['http'], retry: 0 });
    const downs: string[] = [];
    conn.on('down', (e) => downs.push(e.reason.code));
    try {
      const t = conn.connect({ host: '127.0.0.1', port: silent.port, transport: 'tls', tlsHandshakeTimeout: 60_000 });
      const targetClosed = silent.nextClose();
      await answered(conn, t);
      const before = log.lines(conn.id).length;
      conn.cancel(t);
      assert.deepEqual(log.lines(conn.id).slice(before), [
        'stream:cancel', 'layer:error tls@1 ERR_STREAM_CANCELED/state@0', 'layer:down http1-connect@0', 'stream:error ERR_STREAM_CANCELED',
        'layer:down tcp@0', 'connection:down ERR_STREAM_CANCELED retry=false', 'connection:closed ERR_STREAM_CANCELED',
      ]);
      assert.deepEqual(downs, ['ERR_STREAM_CANCELED']);
      assert.equal(conn.state, 'closed');
      await within(targetClosed, 3000, "the target's socket closed");
    } finally {
      await conn.close();
      log.stop();
    }
    assertEndedInOrder(log, conn.id);
    await assertNoLeaks(baseline);
  });
});
