/**
 * The protocol layers a hop can end in, and the one place a new one plugs in:
 * once `establish()` has reached an HTTP or raw protocol, this builds the
 * layer that speaks it over the duplex.
 */
import type { LayerOrigin, LayerSink, HttpLayer } from '../shared/layer.js';
import type { ResolvedHttp1Options, ResolvedHttp2Options } from '../shared/options/http.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { Http1Layer } from '../protocols/http1/layer.js';
import { Http2Layer } from '../protocols/http2/layer.js';
import { RawLayer } from '../protocols/raw/layer.js';
import type { Established } from './establish.js';

/** What a protocol layer is built with, beyond the established endpoint. */
export interface LayerContext {
  /** The ref whose data a raw layer carries (the tunnel's, or the connection's own). */
  readonly rawRef: StreamRef;
  /** Flow budget of a raw layer. */
  readonly flow: number;
  readonly http: ResolvedHttp1Options;
  readonly http2: ResolvedHttp2Options;
  readonly sink: LayerSink;
}

/** Builds the layer for the protocol `est` reached. */
export function createProtocolLayer(est: Established, ctx: LayerContext): HttpLayer {
  const origin: LayerOrigin = { host: est.endpoint.host, port: est.endpoint.port, transport: est.endpoint.transport, hop: est.hop };
  switch (est.protocol) {
    case 'http2':
      return new Http2Layer(est.duplex, origin, ctx.http2, ctx.sink);
    case 'raw':
      return new RawLayer(est.duplex, ctx.rawRef, origin, ctx.flow, ctx.sink);
    case 'http':
      return new Http1Layer(est.duplex, origin, ctx.http, ctx.sink);
  }
}
