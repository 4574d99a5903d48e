/**
 * TLS options of one endpoint: their type and validation. They belong to that
 * endpoint alone and never reach another hop.
 */
import { invalidOption } from '../../errors/errors.js';
import type { ConnectionOptions as NodeTlsOptions } from 'node:tls';
import { isObject } from './validate.js';

/**
 * TLS options for one endpoint only (never shared with another hop). These are
 * Node's `tls.connect` options; certificate verification is on unless
 * `rejectUnauthorized: false` is given explicitly. SNI defaults to the host
 * (not sent for an IP address); ALPN comes from `protocols`.
 */
export type TlsOptions = Pick<
  NodeTlsOptions,
  | 'ca'
  | 'cert'
  | 'key'
  | 'passphrase'
  | 'pfx'
  | 'servername'
  | 'rejectUnauthorized'
  | 'checkServerIdentity'
  | 'minVersion'
  | 'maxVersion'
  | 'ciphers'
  | 'ecdhCurve'
  | 'sigalgs'
  | 'crl'
  | 'session'
  | 'secureContext'
  | 'honorCipherOrder'
>;

const TLS_KEYS: ReadonlySet<string> = new Set([
  'ca', 'cert', 'key', 'passphrase', 'pfx', 'servername', 'rejectUnauthorized', 'checkServerIdentity',
  'minVersion', 'maxVersion', 'ciphers', 'ecdhCurve', 'sigalgs', 'crl', 'session', 'secureContext', 'honorCipherOrder',
]);

/** Validates the TLS options object of one endpoint. */
export function checkTlsOptions(name: string, v: unknown): TlsOptions {
  if (v === undefined) return {};
  if (!isObject(v)) throw invalidOption(name, 'must be an object of Node TLS client options');
  for (const k of Object.keys(v)) {
    if (!TLS_KEYS.has(k)) {
      const why = k === 'ALPNProtocols' ? 'ALPN comes from `protocols`' : k === 'socket' || k === 'host' || k === 'port' ? 'set by burrow' : 'unknown or unsupported TLS option';
      throw invalidOption(`${name}.${k}`, why);
    }
  }
  if (v['rejectUnauthorized'] !== undefined && typeof v['rejectUnauthorized'] !== 'boolean') {
    throw invalidOption(`${name}.rejectUnauthorized`, 'must be a boolean');
  }
  if (v['servername'] !== undefined && typeof v['servername'] !== 'string') throw invalidOption(`${name}.servername`, 'must be a string');
  return v as TlsOptions;
}
