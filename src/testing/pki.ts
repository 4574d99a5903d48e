/**
 * A throwaway public-key infrastructure for tests, made at run time with the
 * `openssl` command-line tool.
 *
 * Every {@link createTestPki} call makes a brand-new certificate authority
 * (ECDSA P-256, SHA-256) and issues a server and a client certificate from
 * it. Two calls give two unrelated CAs: a peer trusting one rejects
 * certificates from the other. Work files live in a fresh directory under
 * `os.tmpdir()` that is removed before the call returns; nothing is cached.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its private key, both PEM. */
export interface TestKeyPair {
  /** The certificate, PEM. */
  readonly cert: string;
  /** The private key (PKCS#8), PEM. */
  readonly key: string;
}

/** What a certificate made by {@link TestPki.issue} may be used for. */
export type TestCertUsage = 'server' | 'client';

/** A CA with a server and a client certificate, see {@link createTestPki}. */
export interface TestPki {
  /** The CA certificate, PEM: what clients (and servers checking client certificates) trust. */
  readonly ca: string;
  /**
   * A server certificate: common name `localhost`, subjectAltName
   * `DNS:localhost, IP:127.0.0.1, IP:::1` plus the `names` given to {@link createTestPki}.
   */
  readonly server: TestKeyPair;
  /** A client certificate (extendedKeyUsage clientAuth), common name `burrow test client`. */
  readonly client: TestKeyPair;
  /**
   * Issues another certificate from this CA. `altNames` are used as they are
   * (nothing is added): IP literals become `IP:` entries, anything else a
   * `DNS:` entry; an empty list means no subjectAltName extension at all.
   */
  issue(commonName: string, altNames: readonly string[], usage: TestCertUsage, opts?: TestIssueOptions): TestKeyPair;
}

/** Options of {@link TestPki.issue}. */
export interface TestIssueOptions {
  /**
   * `expired`: valid from 2020-01-01 to 2020-01-02 (a peer presenting it fails verification with
   * `CERT_HAS_EXPIRED`); `not-yet-valid`: valid from 2099-01-01. Default: valid from now for 3 days.
   */
  validity?: 'current' | 'expired' | 'not-yet-valid';
}

/** Options of {@link createTestPki}. */
export interface TestPkiOptions {
  /** Extra host names or IP addresses the server certificate is valid for. */
  names?: readonly string[];
}

const VALIDITY_DAYS = '3';
// Printable characters that need no quoting or escaping in an openssl config file.
const SAFE_COMMON_NAME = /^[A-Za-z0-9 ._*@-]{1,64}$/;
const SAFE_DNS_NAME = /^[A-Za-z0-9*._-]{1,253}$/;

class OpensslError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpensslError';
  }
}

function openssl(dir: string, args: readonly string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error('openssl CLI not found: install Debian package openssl', { cause: r.error });
    throw new OpensslError(`openssl ${args[0] ?? ''} failed to start: ${r.error.message}`);
  }
  if (r.status !== 0) {
    throw new OpensslError(`openssl ${args.join(' ')} exited with ${String(r.status ?? r.signal)}: ${r.stderr.trim()}`);
  }
}

function withWorkDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'burrow-pki-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function serial(): string {
  // Positive 63-bit serial, as hex.
  const b = randomBytes(8);
  b[0] = (b[0] ?? 0) & 0x7f;
  return '0x' + b.toString('hex');
}

function checkCommonName(cn: string): void {
  if (!SAFE_COMMON_NAME.test(cn)) {
    throw new TypeError(`invalid common name ${JSON.stringify(cn)}: use 1-64 of A-Z a-z 0-9 space . _ * @ -`);
  }
}

function altNameEntry(name: string): string {
  if (isIP(name) !== 0) return `IP:${name}`;
  if (!SAFE_DNS_NAME.test(name)) throw new TypeError(`invalid subjectAltName ${JSON.stringify(name)}: not a DNS name or IP address`);
  return `DNS:${name}`;
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'] as const;

function reqConfig(commonName: string, extensions: string): string {
  return [
    '[req]',
    'prompt = no',
    'distinguished_name = dn',
    'x509_extensions = ext',
    '[dn]',
    `CN = ${commonName}`,
    'O = burrow tests',
    '[ext]',
    extensions,
    '',
  ].join('\n');
}

interface CaMaterial {
  readonly cert: string;
  readonly key: string;
}

function makeCa(): CaMaterial {
  return withWorkDir((dir) => {
    const cn = `burrow test CA ${randomBytes(6).toString('hex')}`;
    writeFileSync(
      join(dir, 'ca.cnf'),
      reqConfig(cn, 'basicConstraints = critical, CA:TRUE, pathlen:1\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash'),
    );
    openssl(dir, [
      'req', '-x509', ...KEY_ARGS, '-keyout', 'ca.key', '-out', 'ca.pem',
      '-config', 'ca.cnf', '-sha256', '-days', VALIDITY_DAYS, '-set_serial', serial(),
    ]);
    return { cert: readFileSync(join(dir, 'ca.pem'), 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8') };
  });
}

function issueFrom(ca: CaMaterial, commonName: string, altNames: readonly string[], usage: TestCertUsage, validity: TestIssueOptions['validity'] = 'current'): TestKeyPair {
  checkCommonName(commonName);
  if (usage !== 'server' && usage !== 'client') throw new TypeError(`invalid usage ${JSON.stringify(usage)}: 'server' or 'client'`);
  const entries = altNames.map(altNameEntry);
  const ext = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    `extendedKeyUsage = ${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ];
  if (entries.length > 0) ext.push(`subjectAltName = ${entries.join(', ')}`);
  return withWorkDir((dir) => {
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(dir, 'leaf.cnf'), reqConfig(commonName, ''));
    writeFileSync(join(dir, 'ext.cnf'), '[ext]\n' + ext.join('\n') + '\n');
    openssl(dir, ['req', '-new', ...KEY_ARGS, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-config', 'leaf.cnf']);
    if (validity === 'current') {
      openssl(dir, [
        'x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial(),
        '-days', VALIDITY_DAYS, '-sha256', '-extfile', 'ext.cnf', '-extensions', 'ext', '-out', 'leaf.pem',
      ]);
    } else {
      // `openssl ca` is the one that takes explicit validity dates (OpenSSL 3.0's `x509` has no -not_before).
      const [start, end] = validity === 'expired' ? ['20200101000000Z', '20200102000000Z'] : ['20990101000000Z', '20990104000000Z'];
      writeFileSync(join(dir, 'index.txt'), '');
      writeFileSync(join(dir, 'serial'), `${serial().slice(2)}\n`);
      writeFileSync(
        join(dir, 'signer.cnf'),
        ['[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256', 'policy = p', 'unique_subject = no', '[p]', 'commonName = supplied', ''].join('\n'),
      );
      openssl(dir, [
        'ca', '-batch', '-notext', '-config', 'signer.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'leaf.csr', '-out', 'leaf.pem',
        '-startdate', start, '-enddate', end, '-extfile', 'ext.cnf', '-extensions', 'ext',
      ]);
    }
    return { cert: readFileSync(join(dir, 'leaf.pem'), 'utf8'), key: readFileSync(join(dir, 'leaf.key'), 'utf8') };
  });
}

/**
 * Makes a new CA and issues a server and a client certificate from it. Each
 * call gives an independent CA. Throws when the `openssl` CLI is missing.
 */
export function createTestPki(opts: TestPkiOptions = {}): TestPki {
  const names = ['localhost', '127.0.0.1', '::1'];
  for (const n of opts.names ?? []) if (!names.includes(n)) names.push(n);
  names.forEach(altNameEntry); // validate before spending time on the CA
  const ca = makeCa();
  const server = issueFrom(ca, 'localhost', names, 'server');
  const client = issueFrom(ca, 'burrow test client', [], 'client');
  return {
    ca: ca.cert,
    server,
    client,
    issue: (commonName, altNames, usage, o) => issueFrom(ca, commonName, altNames, usage, o?.validity),
  };
}
