/**
 * A CONNECT answered with a 2xx: the layers of the next hop are set up on the
 * tunnel's duplex (TLS, a SOCKS5 handshake, the protocol layer), published as
 * they start and come up, and the new node joins the tree; a failure or an
 * abandon on the way ends them and, for a conn-wide tunnel, its carrier. A
 * WebSocket's transport goes to `ws-handover.ts` instead.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import type { IntermediaryInfo } from '../shared/info.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { chainFailed, layersDown, layerUp } from '../observe/layer-events.js';
import type { LayerRecord } from '../observe/layer-record.js';
import { establish } from '../tunnel/establish.js';
import type { LayerNode } from './layer-tree.js';
import type { StackCore } from './stack-core.js';
import type { TunnelSetup } from './tunnels.js';
import { wsUp } from './ws-handover.js';

/** A CONNECT on `parent`'s layer succeeded: builds the next layers on `duplex`. */
export async function tunnelUp(core: StackCore, parent: LayerNode, ref: StreamRef, duplex: Socket | Duplex, earlyBytes: number): Promise<void> {
  const pending = core.tunnels.get(ref.key);
  const session = core.status.session;
  if (pending === undefined || session === undefined || core.status.userClosing) {
    // Cancelled, timed out or shutting down: no tunnel. A conn-wide one took the parent's socket with it.
    duplex.destroy();
    if (pending !== undefined) {
      const err = new BurrowError('ERR_CLOSING', 'the connection is shutting down; the tunnel was not set up', { stage: 'state', hop: parent.hop });
      core.tunnels.take(ref.key, err);
      for (const w of pending.waiting.splice(0)) w.fail(err);
      core.deliver({ type: 'error', ref, error: err });
    }
    if (parent.layer.protocol !== 'http2') core.nodeClosed(parent, null, []);
    return;
  }
  core.tunnels.answered(pending);
  if (pending.kind === 'websocket') {
    wsUp(core, parent, ref, duplex, pending);
    return;
  }
  const scope = parent.layer.protocol === 'http2' ? 'stream' : 'conn';
  if (scope === 'conn') {
    parent.takenOverBy = ref;
    // The parent's protocol layer handed its socket over: it no longer runs.
    layersDown(core.obs, parent.records.slice(-1));
  }
  const connectRecord = pending.record;
  // The records of the setup, outermost first: the CONNECT tunnel, then each layer as it starts.
  const records: LayerRecord[] = [];
  if (connectRecord !== undefined) {
    if (connectRecord.connect !== undefined) connectRecord.connect = { ...connectRecord.connect, earlyBytes };
    // The tunnel bytes that came with the 2xx are the tunnel's.
    connectRecord.countOn(duplex, earlyBytes);
    layerUp(core.obs, connectRecord);
    records.push(connectRecord);
  }
  // The setup stops when the connection goes, or when it is abandoned (cancelled, its carrier closed).
  const ac = new AbortController();
  const onSessionAbort = (): void => ac.abort(session.signal.reason);
  session.signal.addEventListener('abort', onSessionAbort);
  let node: LayerNode | undefined;
  const obs = core.obs;
  const setup: TunnelSetup = {
    records,
    scope,
    abandoned: undefined,
    abandon: (error) => {
      if (setup.abandoned !== undefined) return;
      setup.abandoned = error;
      chainFailed(obs, records, error);
      ac.abort(error);
      node?.layer.destroy(error);
      duplex.destroy();
    },
    dropCarrier: (error) => {
      if (scope === 'conn') core.carrierGone(parent, ref, error);
    },
  };
  pending.setup = setup;
  const proxy: IntermediaryInfo = {
    type: 'connect',
    host: parent.endpoint.host,
    port: parent.endpoint.port,
    transport: parent.endpoint.transport,
    protocol: parent.layer.protocol,
  };
  try {
    const est = await establish(
      {
        signal: ac.signal,
        hopIndex: parent.hop.index + 1,
        intermediaries: [...parent.intermediaries, proxy],
        onSocksUp: () => core.deliver({ type: 'up', ref, protocol: 'socks' }),
        observer: core.obs,
        parent: connectRecord ?? parent.records[parent.records.length - 1],
        tunnel: ref.path,
        early: earlyBytes,
        records,
      },
      pending.dest,
      duplex,
    );
    node = core.build(ref.key, ref, est, scope, scope === 'conn' ? parent : undefined, parent, pending.flow, records.slice(), parent.intermediaries);
    records.push(node.records[node.records.length - 1] as LayerRecord);
    await node.layer.ready;
    if (ac.signal.aborted) throw setup.abandoned ?? new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: est.hop });
    if (core.tunnels.get(ref.key) !== pending) {
      throw new BurrowError('ERR_STREAM_CANCELED', `${ref} was cancelled while its tunnel was set up`, { stage: 'state', hop: est.hop });
    }
  } catch (e) {
    session.signal.removeEventListener('abort', onSessionAbort);
    // Abandoned: its records ended then, and whoever abandoned it decides what becomes of its carrier.
    if (setup.abandoned !== undefined) return;
    const stillPending = core.tunnels.get(ref.key) === pending;
    if (stillPending) core.tunnels.take(ref.key);
    const err = e instanceof BurrowError ? e : new BurrowError('ERR_TUNNEL_CLOSED', `tunnel setup failed: ${(e as Error).message}`, { stage: 'tcp', cause: e });
    // establish() published the failure of its own layers; the others fail or go down with them.
    core.setupFailed(records, err);
    node?.layer.destroy(err);
    duplex.destroy();
    for (const w of pending.waiting.splice(0)) w.fail(err);
    if (stillPending) core.deliver({ type: 'error', ref, error: err });
    if (session.signal.aborted) return;
    if (scope === 'conn') core.carrierGone(parent, ref, err);
    return;
  }
  session.signal.removeEventListener('abort', onSessionAbort);
  core.tunnels.take(ref.key);
  core.tree.add(node);
  core.ready(node);
  if (scope === 'conn' && core.tree.connNode === parent) core.tree.connNode = node;
  core.deliver({ type: 'up', ref, protocol: node.layer.protocol });
  // shutdown() was called while the tunnel was being set up: the new layer closes gracefully too.
  if (core.status.userClosing) node.layer.shutdown();
  for (const w of pending.waiting.splice(0)) w.run();
}
