/**
 * What a request given to the agent asks of the origin: whether it is an
 * `https:` (or `wss:`) endpoint, and the TLS options it carries, taken as
 * Node's `https.Agent` takes them.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/** The request options Node's HTTP client gives an agent (`addRequest`, `createSocket`). */
export interface AgentRequestOptions extends Omit<ConnectionOptions, 'host' | 'port'> {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  protocol?: string | null;
  defaultPort?: number | string;
  secureEndpoint?: boolean;
  /** Set by `https.request` (Node's default agent for the request). */
  _defaultAgent?: { protocol?: string };
}

/**
 * True for an `https:` request. Node's HTTP client does not always say so to a
 * custom agent: `secureEndpoint` (set by some clients), then `protocol`, then
 * the default agent `https.request` passes.
 */
export function isSecureEndpoint(o: AgentRequestOptions): boolean {
  if (typeof o.secureEndpoint === 'boolean') return o.secureEndpoint;
  if (typeof o.protocol === 'string') return o.protocol === 'https:' || o.protocol === 'wss:';
  return o._defaultAgent?.protocol === 'https:';
}

/** The origin's host (brackets of an IPv6 literal removed) and port. */
export function originOf(o: AgentRequestOptions, secure: boolean): { host: string; port: number } {
  const raw = o.host ?? o.hostname ?? 'localhost';
  const host = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  const port = o.port === undefined || o.port === null || o.port === '' ? Number(o.defaultPort ?? (secure ? 443 : 80)) : Number(o.port);
  return { host, port };
}

// The TLS options of a request that reach the origin's handshake (Node's https.Agent takes the same).
const TLS_KEYS = [
  'ca', 'cert', 'key', 'pfx', 'passphrase', 'crl', 'ciphers', 'ecdhCurve', 'sigalgs', 'minVersion', 'maxVersion',
  'secureOptions', 'secureProtocol', 'honorCipherOrder', 'dhparam', 'sessionIdContext', 'privateKeyIdentifier',
  'privateKeyEngine', 'clientCertEngine', 'secureContext', 'rejectUnauthorized', 'checkServerIdentity', 'servername',
  'session',
] as const;

/**
 * The options of the origin's TLS handshake: `defaults` (the agent's
 * `originTls`) under the request's own, SNI from `servername` or else the host
 * (none for an IP address), and ALPN `http/1.1` (Node's HTTP client speaks
 * HTTP/1.1 only).
 */
export function originTlsOptions(o: AgentRequestOptions, host: string, defaults: ConnectionOptions | undefined): ConnectionOptions {
  const out: Record<string, unknown> = { ...defaults };
  for (const k of TLS_KEYS) if (o[k] !== undefined) out[k] = o[k];
  const servername = out['servername'] ?? (isIP(host) === 0 ? host : undefined);
  if (servername === undefined || servername === '') delete out['servername'];
  else out['servername'] = servername;
  out['ALPNProtocols'] = ['http/1.1'];
  return out as ConnectionOptions;
}
