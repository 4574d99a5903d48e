/**
 * Where a WebSocket plugs into a chain: the handshake request for the layer it
 * is sent on (an HTTP/1.1 upgrade with its key, or an HTTP/2 extended
 * CONNECT), and, once the answer handed over the socket or stream, the checks
 * of that answer and the WebSocket layer built on it.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import type { Header, HeaderList } from '../shared/headers.js';
import type { LayerOrigin, LayerSink } from '../shared/layer.js';
import type { ResolvedWsOptions } from '../shared/options/ws.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { PerMessageDeflate } from '../protocols/websocket/deflate.js';
import { checkAnswer, extendedConnectHeaders, HandshakeError, newKey, upgradeHeaders, type HandshakeOffer, type HandshakeResult } from '../protocols/websocket/handshake.js';
import { WebSocketLayer } from '../protocols/websocket/layer.js';

/** The offer of a WebSocket stream's options. */
export function offerOf(options: ResolvedWsOptions): HandshakeOffer {
  return { protocols: options.protocols, deflate: options.compress };
}

/** Headers the handshake sets itself: a caller's are dropped. */
const OWN = new Set(['connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions']);

/**
 * The handshake request's headers for a layer speaking `protocol`, after the
 * caller's own, and the key to check the answer against (HTTP/1.1 only).
 */
export function handshakeRequest(protocol: 'http' | 'http2', offer: HandshakeOffer, headers: readonly Header[]): { headers: Header[]; key: string | undefined } {
  const own = headers.filter(([n]) => !OWN.has(n));
  if (protocol === 'http2') return { headers: [...own, ...extendedConnectHeaders(offer)], key: undefined };
  const key = newKey();
  return { headers: [...own, ...upgradeHeaders(offer, key)], key };
}

/** A WebSocket layer built on a handed-over transport, with what its handshake settled. */
export interface OpenedWebSocket {
  readonly layer: WebSocketLayer;
  readonly result: HandshakeResult;
}

/**
 * Checks the answer (`headers` of the 101 or 200) against the offer and the
 * key, and builds the WebSocket layer on `duplex`. Throws `ERR_WS_HANDSHAKE`
 * naming what was wrong; the caller then destroys the duplex.
 */
export function openWebSocket(
  duplex: Socket | Duplex,
  answer: HeaderList,
  handshake: { readonly ref: StreamRef; readonly options: ResolvedWsOptions; readonly key: string | undefined; readonly status: number },
  origin: LayerOrigin,
  sink: LayerSink,
): OpenedWebSocket {
  let result: HandshakeResult;
  try {
    result = checkAnswer(answer, offerOf(handshake.options), handshake.key);
  } catch (e) {
    throw new BurrowError('ERR_WS_HANDSHAKE', `the WebSocket handshake failed: ${(e as HandshakeError).message}`, {
      stage: 'http',
      hop: origin.hop,
      cause: e,
      details: { status: handshake.status },
      response: { status: handshake.status, headers: answer },
    });
  }
  const c = handshake.options.compress;
  const deflate = result.deflate === undefined
    ? undefined
    : new PerMessageDeflate(result.deflate, { maxPayload: handshake.options.maxPayload, level: c?.level, threshold: c?.threshold });
  // Over HTTP/1.1 (the answer to a key) on a TCP connection to the server itself (hop 0), the server closes TCP first
  // after the close handshake. Through a proxy the tunnel carries either end to it, and some relay the server's late.
  const serverClosesFirst = handshake.key !== undefined && origin.hop.index === 0;
  const layer = new WebSocketLayer(duplex, { ref: handshake.ref, origin, options: handshake.options, deflate, serverClosesFirst }, sink);
  return { layer, result };
}
