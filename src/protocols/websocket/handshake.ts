/**
 * The WebSocket opening handshake, both ways burrow makes it: HTTP/1.1
 * `Upgrade: websocket` (RFC 6455 §4) and HTTP/2 extended CONNECT (RFC 8441,
 * `:protocol: websocket`). The request headers for each, and the checks of the
 * answer: the accept key, the subprotocol and the extensions, which must be
 * among those offered.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Header, HeaderList } from '../../shared/headers.js';
import { acceptDeflate, deflateOffer, ExtensionError, type DeflateOptions, type DeflateParams } from './deflate.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A new `sec-websocket-key`: 16 random bytes, base64. */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

/** The `sec-websocket-accept` a server answers `key` with. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** What the client asks for. */
export interface HandshakeOffer {
  /** Subprotocols, in order of preference. */
  readonly protocols: readonly string[];
  /** permessage-deflate options, or undefined for none. */
  readonly deflate: DeflateOptions | undefined;
}

/** What the handshake settled. */
export interface HandshakeResult {
  /** The subprotocol chosen by the server, or '' for none. */
  readonly protocol: string;
  /** The extensions in force, as the server answered them ('' for none). */
  readonly extensions: string;
  readonly deflate: DeflateParams | undefined;
}

/** The handshake failed: `message` says why. */
export class HandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

function offerHeaders(offer: HandshakeOffer): Header[] {
  const hs: Header[] = [['sec-websocket-version', '13']];
  if (offer.protocols.length > 0) hs.push(['sec-websocket-protocol', offer.protocols.join(', ')]);
  if (offer.deflate !== undefined) hs.push(['sec-websocket-extensions', deflateOffer(offer.deflate)]);
  return hs;
}

/** The headers of an HTTP/1.1 upgrade (`key` from {@link newKey}). */
export function upgradeHeaders(offer: HandshakeOffer, key: string): Header[] {
  return [['connection', 'upgrade'], ['upgrade', 'websocket'], ['sec-websocket-key', key], ...offerHeaders(offer)];
}

/** The regular headers of an HTTP/2 extended CONNECT (its pseudo-headers are the layer's). */
export function extendedConnectHeaders(offer: HandshakeOffer): Header[] {
  return offerHeaders(offer);
}

function all(headers: HeaderList, name: string): string | undefined {
  const values = headers.filter(([n]) => n === name).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(', ');
}

/**
 * Checks the server's answer (a 101 over HTTP/1.1 with `key`, a 2xx over
 * HTTP/2 without). Throws {@link HandshakeError}.
 */
export function checkAnswer(headers: HeaderList, offer: HandshakeOffer, key: string | undefined): HandshakeResult {
  if (key !== undefined) {
    const upgrade = all(headers, 'upgrade');
    if (upgrade === undefined || !upgrade.split(',').some((t) => t.trim().toLowerCase() === 'websocket')) throw new HandshakeError('the 101 does not upgrade to websocket');
    const connection = all(headers, 'connection');
    if (connection === undefined || !connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')) throw new HandshakeError('the 101 has no connection: upgrade');
    const accept = all(headers, 'sec-websocket-accept');
    if (accept !== acceptFor(key)) throw new HandshakeError(accept === undefined ? 'the 101 has no sec-websocket-accept' : 'the 101 has the wrong sec-websocket-accept');
  }
  const protocol = all(headers, 'sec-websocket-protocol')?.trim() ?? '';
  if (protocol !== '' && !offer.protocols.includes(protocol)) throw new HandshakeError(`the server chose the subprotocol ${JSON.stringify(protocol)}, which was not offered`);
  const extensions = all(headers, 'sec-websocket-extensions') ?? '';
  let deflate: DeflateParams | undefined;
  try {
    deflate = acceptDeflate(extensions, offer.deflate);
  } catch (e) {
    throw new HandshakeError(e instanceof ExtensionError ? e.message : String(e));
  }
  return { protocol, extensions: extensions.trim(), deflate };
}
