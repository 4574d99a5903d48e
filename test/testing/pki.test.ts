import * as assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createTestPki, type TestKeyPair, type TestPki } from '../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const baseline = resourceSnapshot();

/** Connects a TLS client trusting `ca` to a server using `server`; resolves with the client's error code or 'ok'. */
async function handshake(server: TestKeyPair, ca: string): Promise<string> {
  const srv = tls.createServer({ key: server.key, cert: server.cert }, (s) => s.end());
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const address = srv.address();
  assert.ok(address !== null && typeof address === 'object');
  try {
    return await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: address.port, ca, servername: 'localhost' }, () => {
        s.destroy();
        resolve('ok');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

describe('createTestPki', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki({ names: ['example.test', '10.1.2.3'] });
  });
  after(async () => {
    await assertNoLeaks(baseline);
  });

  it('makes a CA', () => {
    const ca = new X509Certificate(pki.ca);
    assert.equal(ca.ca, true);
    assert.match(ca.subject, /CN=burrow test CA [0-9a-f]{12}/);
    assert.equal(ca.publicKey.asymmetricKeyType, 'ec');
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(ca.verify(ca.publicKey), true);
  });

  it('issues a P-256 server certificate for localhost, 127.0.0.1, ::1 and the extra names', () => {
    const ca = new X509Certificate(pki.ca);
    const cert = new X509Certificate(pki.server.cert);
    assert.equal(cert.ca, false);
    assert.match(cert.subject, /CN=localhost/);
    assert.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:example.test, IP Address:10.1.2.3');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.deepEqual(cert.keyUsage, [SERVER_AUTH]);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(cert.checkIssued(ca), true);
    assert.equal(cert.verify(ca.publicKey), true);
    assert.equal(cert.checkPrivateKey(createPrivateKey(pki.server.key)), true);
    assert.match(pki.server.key, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('issues a client certificate', () => {
    const cert = new X509Certificate(pki.client.cert);
    assert.match(cert.subject, /CN=burrow test client/);
    assert.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
    assert.equal(cert.subjectAltName, undefined);
    assert.equal(cert.checkIssued(new X509Certificate(pki.ca)), true);
    assert.equal(cert.checkPrivateKey(createPrivateKey(pki.client.key)), true);
  });

  it('issue() makes more certificates with exactly the names given', () => {
    const s = pki.issue('proxy.test', ['proxy.test', '*.proxy.test', '192.0.2.1'], 'server');
    const cert = new X509Certificate(s.cert);
    assert.match(cert.subject, /CN=proxy\.test/);
    assert.equal(cert.subjectAltName, 'DNS:proxy.test, DNS:*.proxy.test, IP Address:192.0.2.1');
    assert.equal(cert.checkHost('localhost'), undefined);
    assert.deepEqual(cert.keyUsage, [SERVER_AUTH]);
    assert.equal(cert.checkIssued(new X509Certificate(pki.ca)), true);
    const c = pki.issue('alice', [], 'client');
    const ccert = new X509Certificate(c.cert);
    assert.deepEqual(ccert.keyUsage, [CLIENT_AUTH]);
    assert.equal(ccert.subjectAltName, undefined);
  });

  it('rejects names that are not host names or IP addresses', () => {
    assert.throws(() => pki.issue('bad\nname', [], 'server'), TypeError);
    assert.throws(() => pki.issue('ok', ['a, DNS:evil'], 'server'), TypeError);
    assert.throws(() => createTestPki({ names: ['$ENV::x'] }), TypeError);
  });

  it('a TLS client trusting the CA verifies the server certificate', async () => {
    assert.equal(await handshake(pki.server, pki.ca), 'ok');
  });

  it('two PKIs are unrelated', async () => {
    const other = createTestPki();
    assert.notEqual(other.ca, pki.ca);
    assert.notEqual(new X509Certificate(other.ca).subject, new X509Certificate(pki.ca).subject);
    assert.equal(new X509Certificate(other.server.cert).verify(new X509Certificate(pki.ca).publicKey), false);
    assert.equal(await handshake(other.server, pki.ca), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.equal(await handshake(pki.server, other.ca), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.equal(await handshake(other.server, other.ca), 'ok');
  });

  it('leaves nothing on disk', () => {
    // A private TMPDIR: other test files may be making PKIs at the same time.
    const dir = mkdtempSync(join(tmpdir(), 'burrow-pki-test-'));
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = dir;
    try {
      assert.equal(tmpdir(), dir);
      createTestPki().issue('x', ['x.test'], 'server');
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says how to install openssl when it is missing', () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent-burrow-test';
    try {
      assert.throws(() => createTestPki(), { message: 'openssl CLI not found: install Debian package openssl' });
    } finally {
      process.env['PATH'] = path;
    }
  });
});
