/**
 * burrow's diagnostics_channel messages as OpenTelemetry spans: one span per
 * `request()` call, and one span per layer of the chain it opened (TCP, each
 * TLS session, each CONNECT tunnel, each SOCKS5 handshake, the HTTP layer),
 * from the layer's start to the moment it was up (or failed), each a child of
 * the request, with the layer it runs over as an attribute. burrow itself
 * depends on nothing of OpenTelemetry: this file is the whole bridge
 * (docs/events.md).
 *
 *   import { trace } from '@opentelemetry/api';
 *   const otel = instrumentBurrow(trace.getTracer('burrow'));
 *   // … otel.stop() unsubscribes.
 *
 * It keeps a span only while it is open: a layer's until it is up or failed,
 * a request's until its response head or its error, a connection's parent
 * until the connection is closed; requests that fail or are aborted included.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import dc from 'node:diagnostics_channel';
import { ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { ConnectionCreatedEvent, LayerErrorEvent, LayerEvent, LayerInfo, RequestCallContext } from 'burrow';

function layerAttributes(l: LayerInfo): Attributes {
  const a: Attributes = {
    'burrow.layer.id': l.id,
    'burrow.layer.kind': l.kind,
    'burrow.hop.index': l.hop.index,
    'burrow.hop.kind': l.hop.kind,
    'server.address': l.hop.host,
    'server.port': l.hop.port,
  };
  if (l.parent !== undefined) a['burrow.layer.parent'] = l.parent;
  if (l.tls !== undefined) {
    if (l.tls.version !== null) a['tls.protocol.version'] = l.tls.version;
    a['tls.cipher'] = l.tls.cipher;
    if (l.tls.alpn !== null) a['tls.next_protocol'] = l.tls.alpn;
    if (l.tls.servername !== null) a['tls.client.server_name'] = l.tls.servername;
    a['tls.resumed'] = l.tls.resumed;
    if (l.tls.certificate !== undefined) {
      a['tls.server.subject'] = l.tls.certificate.subject;
      a['tls.server.issuer'] = l.tls.certificate.issuer;
      a['tls.server.hash.sha256'] = l.tls.certificate.fingerprint256;
      a['tls.server.not_after'] = l.tls.certificate.validTo;
    }
  }
  if (l.connect !== undefined) {
    a['burrow.connect.target'] = l.connect.target;
    if (l.connect.status !== undefined) a['burrow.connect.status'] = l.connect.status;
  }
  if (l.socks5 !== undefined) {
    a['burrow.socks5.target'] = l.socks5.target;
    if (l.socks5.reply !== undefined) a['burrow.socks5.reply'] = l.socks5.reply;
  }
  return a;
}

/** What {@link instrumentBurrow} returns. */
export interface BurrowInstrumentation {
  /** Unsubscribes from every channel and ends the layer spans still open. */
  stop(): void;
  /** What is held now: request spans and layer spans open, connections mapped to their request's span. */
  held(): { readonly requests: number; readonly layers: number; readonly connections: number };
}

/** Subscribes to burrow's channels and makes spans with `tracer`. */
export function instrumentBurrow(tracer: Tracer): BurrowInstrumentation {
  // The request() call being made, as the async context burrow's code runs in (tracing:burrow:request).
  const current = new AsyncLocalStorage<Span>();
  const requests = dc.tracingChannel<Span, RequestCallContext>('burrow:request');
  const spanOf = new Map<RequestCallContext, Span>();
  requests.start.bindStore(current, (ctx) => {
    const span = tracer.startSpan(`burrow ${ctx.method}`, { attributes: { 'url.full': ctx.url, 'burrow.via': ctx.via.join(', ') } });
    spanOf.set(ctx, span);
    return span;
  });
  // asyncEnd follows every call's end, an error's too.
  const onRequestEnd = (ctx: RequestCallContext): void => {
    const span = spanOf.get(ctx);
    if (span === undefined) return;
    spanOf.delete(ctx);
    if (ctx.response !== undefined) span.setAttribute('http.response.status_code', ctx.response.status);
    span.end();
  };
  const onRequestError = (ctx: RequestCallContext): void => {
    const span = spanOf.get(ctx);
    if (span === undefined) return;
    span.recordException(ctx.error instanceof Error ? ctx.error : String(ctx.error));
    span.setStatus({ code: SpanStatusCode.ERROR });
  };
  requests.asyncEnd.subscribe(onRequestEnd as (m: unknown) => void);
  requests.error.subscribe(onRequestError as (m: unknown) => void);

  // A connection belongs to the request() call that opened it, and so do its layers. A layer's span is held
  // from its start to its up or its failure (each layer that starts ends exactly one of these two ways).
  const requestOf = new Map<number, Span>();
  const layers = new Map<number, Span>();
  const subs: Array<[string, (m: unknown) => void]> = [
    ['burrow:connection:created', (m) => {
      const span = current.getStore();
      if (span !== undefined) requestOf.set((m as ConnectionCreatedEvent).connection, span);
    }],
    ['burrow:connection:closed', (m) => requestOf.delete((m as { connection: number }).connection)],
    ['burrow:layer:start', (m) => {
      const { connection, layer } = m as LayerEvent;
      const parent = requestOf.get(connection);
      const span = tracer.startSpan(
        `${layer.kind} hop ${layer.hop.index}`,
        { startTime: layer.startedAt, attributes: layerAttributes(layer) },
        parent === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, parent),
      );
      layers.set(layer.id, span);
    }],
    ['burrow:layer:up', (m) => {
      const { layer } = m as LayerEvent;
      const span = layers.get(layer.id);
      if (span === undefined) return;
      layers.delete(layer.id);
      span.setAttributes(layerAttributes(layer));
      span.end(layer.upAt);
    }],
    ['burrow:layer:error', (m) => {
      const { layer, error } = m as LayerErrorEvent;
      const span = layers.get(layer.id);
      if (span === undefined || layer.state !== 'failed') return;
      layers.delete(layer.id);
      span.recordException(error);
      span.setAttributes({ 'error.type': error.code, 'burrow.error.stage': error.stage });
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      span.end();
    }],
  ];
  for (const [name, fn] of subs) dc.subscribe(name, fn);
  return {
    stop: () => {
      for (const [name, fn] of subs) dc.unsubscribe(name, fn);
      requests.asyncEnd.unsubscribe(onRequestEnd as (m: unknown) => void);
      requests.error.unsubscribe(onRequestError as (m: unknown) => void);
      requests.start.unbindStore(current);
      // Nothing will end what is still open: end it now, and hold nothing more.
      for (const span of layers.values()) span.end();
      for (const span of spanOf.values()) span.end();
      layers.clear();
      spanOf.clear();
      requestOf.clear();
    },
    held: () => ({ requests: spanOf.size, layers: layers.size, connections: requestOf.size }),
  };
}
