// request()'s decompression against nginx (gzip on the fly; stored .br and .zst files served with their
// content-encoding) through real chains: squid over TLS, and nghttpx (HTTP/2 CONNECT) → dante behind stunnel
// (SOCKS5 over TLS). Exact decoded bytes, headers as documented, maxResponseSize across the chain.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, type ViaEntry } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { ZSTD_SUPPORTED } from '../../src/request/decompress.js';
import { isBurrowError } from '../../src/errors/errors.js';
import type { TlsOptions } from '../../src/shared/options/tls.js';
import { ENCODED_TEXT, startPeers, zstdFileWritten, type Peers } from './harness.js';

const TEST_TIMEOUT = { timeout: 30_000 };

describe('request() decompression through real peers (nginx, squid, nghttpx, stunnel + dante)', () => {
  let peers: Peers;
  let tls: TlsOptions;
  let pool: Pool;
  let chains: Array<[string, ViaEntry[]]>;

  before(async () => {
    peers = await startPeers();
    tls = { ca: peers.ca };
    pool = new Pool();
    const P = peers.ports;
    chains = [
      ['squid (TLS)', [{ url: `https://localhost:${P.squidTls}`, tls }]],
      ['nghttpx (TLS, h2) → stunnel + dante (SOCKS5 over TLS)', [{ url: `h2://localhost:${P.nghttpxTls}`, tls }, { url: `socks5hs://localhost:${P.stunnelSocks}`, tls }]],
    ];
  });
  after(async () => {
    await pool?.close();
    await peers?.stop();
  });

  const origin = (path: string): string => `https://localhost:${peers.ports.nginxTls}${path}`;

  it('nginx gzips /gz/ on the fly: decoded to the exact text through each chain, HTTP/2 and HTTP/1.1', TEST_TIMEOUT, async () => {
    for (const [name, via] of chains) {
      for (const protocols of [['http2'], ['http']] as const) {
        const res = await request(origin('/gz/text.txt'), { via, tls, pool, protocols });
        assert.equal(await res.text(), ENCODED_TEXT, `${name} ${protocols[0]}`);
        assert.deepEqual(res.decoded?.encodings, ['gzip'], name);
        assert.equal(res.header('content-encoding'), undefined);
        assert.equal(res.decoded?.headers.find(([n]) => n === 'content-encoding')?.[1], 'gzip');
      }
    }
  });

  it('decompress: false: no accept-encoding, nginx sends the text as is', TEST_TIMEOUT, async () => {
    for (const [name, via] of chains) {
      const res = await request(origin('/gz/text.txt'), { via, tls, pool, decompress: false });
      assert.equal(await res.text(), ENCODED_TEXT, name);
      assert.equal(res.header('content-encoding'), undefined, name);
      assert.equal(res.header('content-length'), String(ENCODED_TEXT.length), name);
    }
  });

  it('a stored .br file served with content-encoding: br is decoded', TEST_TIMEOUT, async () => {
    for (const [name, via] of chains) {
      const res = await request(origin('/encoded/text.br'), { via, tls, pool });
      assert.equal(await res.text(), ENCODED_TEXT, name);
      assert.deepEqual(res.decoded?.encodings, ['br']);
    }
  });

  it('a stored .zst file: decoded where Node decodes zstd, else left as received', TEST_TIMEOUT, async (t) => {
    if (!zstdFileWritten) {
      t.skip('no zstd compressor here (neither zlib nor the zstd program) to write the file');
      return;
    }
    const stored = readFileSync(join(peers.dir, 'www', 'encoded', 'text.zst'));
    for (const [name, via] of chains) {
      const res = await request(origin('/encoded/text.zst'), { via, tls, pool });
      if (ZSTD_SUPPORTED) {
        assert.equal(await res.text(), ENCODED_TEXT, name);
        assert.deepEqual(res.decoded?.encodings, ['zstd']);
      } else {
        assert.ok((await res.buffer()).equals(stored), name);
        assert.equal(res.header('content-encoding'), 'zstd');
        assert.equal(res.decoded, undefined);
      }
    }
  });

  it('maxResponseSize fails the decoded body through the chain, and the route stays usable', TEST_TIMEOUT, async () => {
    for (const [name, via] of chains) {
      const res = await request(origin('/gz/text.txt'), { via, tls, pool, maxResponseSize: 1000 });
      await assert.rejects(res.text(), (e: unknown) => isBurrowError(e, 'ERR_RESPONSE_TOO_LARGE'), name);
      const again = await request(origin('/gz/text.txt'), { via, tls, pool });
      assert.equal(await again.text(), ENCODED_TEXT, name);
    }
  });
});
