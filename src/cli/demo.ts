/**
 * `burrow demo`: starts an HTTPS origin speaking HTTP/2 on loopback with a
 * throwaway CA, connects to it with verification on, sends a request and
 * downloads 100 MB, then prints what happened. Leaves nothing running.
 */
import type { Writable } from 'node:stream';
import { open } from '../api/open.js';
import { createTestPki } from '../testing/pki.js';
import { startOrigin } from '../testing/origin.js';

const DOWNLOAD_BYTES = 100 * 1000 * 1000;

function ms(from: bigint): string {
  return `${(Number(process.hrtime.bigint() - from) / 1e6).toFixed(1)} ms`;
}

/** Runs the demo, writing a report to `out`. Returns the exit code. */
export async function runDemo(out: Writable): Promise<number> {
  const say = (s: string): void => {
    out.write(`${s}\n`);
  };
  const pki = createTestPki();
  const origin = await startOrigin({ protocol: 'http2', transport: 'tls', pki });
  const conn = open({ host: 'localhost', port: origin.port, transport: 'tls', tls: { ca: pki.ca } });
  try {
    const t0 = process.hrtime.bigint();
    const protocol = await conn.awaitUp();
    const info = conn.info();
    say(`burrow demo: embedded origin at https://localhost:${origin.port} (throwaway CA, certificate verified)`);
    say('');
    say('layers:');
    say(`  [0] tcp   ${info.localAddress}:${info.localPort} -> ${info.remoteAddress}:${info.remotePort}`);
    say(`  [1] tls   ${info.tls?.version} ${info.tls?.cipher}, ALPN ${String(info.tls?.alpn)}  (TLS depth 1)`);
    say(`  [2] ${protocol === 'http2' ? 'HTTP/2' : 'HTTP/1.1'}  up after ${ms(t0)}`);
    say('');
    const t1 = process.hrtime.bigint();
    const ref = conn.get('/', { accept: 'text/plain' });
    const res = await conn.await(ref);
    if (res.type !== 'response') throw new Error(`unexpected ${res.type} message`);
    const { body } = await conn.awaitBody(ref);
    say(`GET /            -> ${res.status} ${JSON.stringify(body.toString())} in ${ms(t1)}`);

    const t2 = process.hrtime.bigint();
    let received = 0;
    let status = 0;
    await new Promise<void>((resolve, reject) => {
      conn.get(`/bytes/${DOWNLOAD_BYTES}`, {}, {
        replyTo: (m) => {
          if (m.type === 'response') status = m.status;
          else if (m.type === 'data') {
            received += m.data.length;
            if (m.fin) resolve();
          } else if (m.type === 'error') reject(m.error);
        },
      });
    });
    const secs = Number(process.hrtime.bigint() - t2) / 1e9;
    say(`GET /bytes/${DOWNLOAD_BYTES} -> ${status}, ${received} bytes in ${secs.toFixed(2)} s (${(received / secs / 1e6).toFixed(0)} MB/s)`);
    if (received !== DOWNLOAD_BYTES) throw new Error(`expected ${DOWNLOAD_BYTES} bytes, got ${received}`);
    return 0;
  } finally {
    await conn.shutdown();
    await origin.close();
  }
}
