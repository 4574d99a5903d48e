/**
 * A WebSocket taking over a stream: the handshake's answer (a 101 over
 * HTTP/1.1, a 2xx to an extended CONNECT over HTTP/2) settles the pending
 * WebSocket, and once the layer below hands its transport over, the
 * WebSocket layer runs on it as a node of the connection's layer tree.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import type { LayerOrigin } from '../shared/layer.js';
import type { StreamMessage } from '../shared/messages.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { layersDown, layerUp } from '../observe/layer-events.js';
import { openWebSocket, type OpenedWebSocket } from '../tunnel/websocket.js';
import type { LayerNode } from './layer-tree.js';
import type { StackCore } from './stack-core.js';
import type { PendingWebSocket } from './tunnels.js';

/**
 * The answer to a WebSocket handshake. Its 101 (HTTP/1.1) or 2xx (HTTP/2) is
 * held until the layer is up; any other answer fails the stream with
 * `ERR_WS_HANDSHAKE` (status and headers in its details; the body is not read).
 */
export function wsAnswer(core: StackCore, pending: PendingWebSocket, msg: StreamMessage): void {
  if (msg.type === 'upgrade' || (msg.type === 'response' && msg.version === '2' && msg.status >= 200 && msg.status < 300)) {
    core.tunnels.answered(pending);
    const status = msg.type === 'upgrade' ? 101 : msg.status;
    pending.answer = { status, headers: msg.headers };
    const rec = pending.record;
    if (rec?.websocket !== undefined) rec.websocket = { ...rec.websocket, status };
    return;
  }
  if (msg.type !== 'response' && msg.type !== 'error') {
    // A 1xx before the answer.
    if (core.streamEvents.size > 0) core.streamEvents.message(msg, false);
    core.streams.deliver(msg, false);
    return;
  }
  const err = msg.type === 'error'
    ? msg.error
    : new BurrowError('ERR_WS_HANDSHAKE', `the server answered the WebSocket handshake for ${pending.path} with ${msg.status}`, {
        stage: 'http',
        hop: pending.record?.hop,
        details: { status: msg.status },
        response: { status: msg.status, headers: msg.headers },
      });
  core.tunnels.take(msg.ref.key, err);
  for (const w of pending.waiting.splice(0)) w.fail(err);
  core.tunnels.refused(msg.ref.key);
  // The answer's body is not wanted: HTTP/1.1 reads and drops it, HTTP/2 resets the stream.
  if (msg.type === 'response' && !msg.fin) core.tree.nodeOfStream(msg.ref, core.connRef)?.layer.cancel(msg.ref);
  const out: StreamMessage = { type: 'error', ref: msg.ref, error: err };
  if (core.streamEvents.size > 0) core.streamEvents.message(out, true);
  core.streams.deliver(out, true);
}

/** A WebSocket handshake on `parent`'s layer was answered and its transport handed over: the WebSocket layer runs on it. */
export function wsUp(core: StackCore, parent: LayerNode, ref: StreamRef, duplex: Socket | Duplex, pending: PendingWebSocket): void {
  const scope = parent.layer.protocol === 'http2' ? 'stream' : 'conn';
  if (scope === 'conn') {
    parent.takenOverBy = ref;
    layersDown(core.obs, parent.records.slice(-1));
  }
  const answer = pending.answer ?? { status: 0, headers: [] };
  const holder: { node: LayerNode | undefined } = { node: undefined };
  const origin: LayerOrigin = { host: parent.endpoint.host, port: parent.endpoint.port, transport: parent.endpoint.transport, hop: parent.hop };
  let opened: OpenedWebSocket;
  try {
    opened = openWebSocket(duplex, answer.headers, { ref, options: pending.options, key: pending.key, status: answer.status }, origin, core.sinkFor(holder, ref, 'websocket'));
  } catch (e) {
    const err = e as BurrowError;
    core.tunnels.take(ref.key, err);
    for (const w of pending.waiting.splice(0)) w.fail(err);
    duplex.destroy();
    core.deliver({ type: 'error', ref, error: err });
    if (scope === 'conn') {
      if (core.tree.rootOf(parent).key === '') core.hooks.lost(err, [ref]);
      else core.nodeClosed(parent, err, []);
    }
    return;
  }
  const record = pending.record;
  if (record !== undefined) {
    if (record.websocket !== undefined) record.websocket = { ...record.websocket, protocol: opened.result.protocol, extensions: opened.result.extensions };
    record.countOn(duplex);
    layerUp(core.obs, record);
  }
  const node: LayerNode = {
    key: ref.key,
    tunnelRef: ref,
    layer: opened.layer,
    endpoint: parent.endpoint,
    reached: parent.endpoint,
    intermediaries: parent.intermediaries,
    viaParent: parent.intermediaries,
    hop: parent.hop,
    scope,
    carrier: scope === 'conn' ? parent : undefined,
    tls: scope === 'conn' ? parent.tls : undefined,
    takenOverBy: undefined,
    records: record === undefined ? [] : [record],
    parentNode: parent,
  };
  holder.node = node;
  core.tunnels.take(ref.key);
  core.tree.add(node);
  if (scope === 'conn' && core.tree.connNode === parent) core.tree.connNode = node;
  const handler = opened.result.protocol === '' ? undefined : pending.options.handlers.get(opened.result.protocol);
  if (handler !== undefined) core.streams.redirect(ref, handler);
  core.deliver({ type: 'upgrade', ref, protocols: ['websocket'], headers: answer.headers });
  if (core.status.userClosing) node.layer.shutdown();
  for (const w of pending.waiting.splice(0)) w.run();
}
