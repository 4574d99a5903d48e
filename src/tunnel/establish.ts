/**
 * Brings up the layers at one endpoint over a duplex already connected to it:
 * TLS if the hop asks for it (handing the native socket itself to
 * `tls.connect`, so TLS layers stack in C++), then SOCKS handshakes (SOCKS5,
 * SOCKS4 or SOCKS4a) as long as
 * the protocol chosen is SOCKS (each one reaching the next hop over the same
 * duplex), until an HTTP or raw protocol is reached. The same code serves the
 * first hop, every conn-wide tunnel and every stream-wide tunnel. Each layer it
 * brings up gets a record, published as it starts, comes up or fails.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { BurrowError, type HopInfo } from '../errors/errors.js';
import type { IntermediaryInfo } from '../shared/info.js';
import { protocolNames, type ResolvedHop } from '../shared/options/hop.js';
import { layerFailed, layersDown, layerUp, startLayer } from '../observe/layer-events.js';
import type { LayerRecord } from '../observe/layer-record.js';
import type { Observer } from '../observe/observer.js';
import { startTls } from '../transport/tls.js';
import { socks5Handshake } from '../protocols/socks5/handshake.js';
import { socks4Handshake } from '../protocols/socks4/handshake.js';
import { authorityHost } from '../shared/headers.js';

/** An endpoint as reported by `info()` and `streamInfo()`. */
export interface EndpointInfo {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  readonly protocol: 'http' | 'http2' | 'raw' | 'socks';
}

/** Where a chain of layers starts. */
export interface EstablishContext {
  readonly signal: AbortSignal;
  /** Index in the chain of the endpoint `hop` describes. */
  readonly hopIndex: number;
  /** The proxies traversed before that endpoint. */
  readonly intermediaries: readonly IntermediaryInfo[];
  /** Called when a SOCKS layer came up (its `up` message). */
  readonly onSocksUp?: ((bound: { host: string; port: number }) => void) | undefined;
  /** Publishes the layers. */
  readonly observer: Observer;
  /** The layer the duplex comes out of (the TCP connection, or a CONNECT tunnel). */
  readonly parent: LayerRecord | undefined;
  /** The tunnel the duplex is, if any (its ref path). */
  readonly tunnel: readonly number[] | undefined;
  /**
   * Tunnel bytes already read into the duplex's buffer (those that came with a
   * CONNECT's 2xx): the first layer that reads the duplex counts them as read.
   */
  readonly early?: number | undefined;
  /**
   * The caller's view of the setup in progress: each layer's record is added
   * here as it starts, so that the caller can end them at once if the setup is
   * abandoned (the connection closes, the tunnel is cancelled).
   */
  readonly records?: LayerRecord[] | undefined;
}

/** What `establish` yields: the duplex the final protocol runs on, and where it is. */
export interface Established {
  readonly duplex: Socket | Duplex;
  /** The TLS socket of the last hop when it used TLS (for `info()`). */
  readonly tls: TLSSocket | undefined;
  readonly protocol: 'http' | 'http2' | 'raw';
  readonly hop: HopInfo;
  /** The endpoint the final protocol talks to. */
  readonly endpoint: EndpointInfo;
  /** The first endpoint reached from the duplex given (a SOCKS server, or `endpoint`). */
  readonly reached: EndpointInfo;
  /** Proxies traversed before `endpoint` (including the SOCKS servers passed here). */
  readonly intermediaries: readonly IntermediaryInfo[];
  /** The layers brought up here (TLS, SOCKS), in order: the caller ends them when they go down. */
  readonly layers: readonly LayerRecord[];
  /** The layer the final protocol runs over (the last of `layers`, else the context's parent). */
  readonly top: LayerRecord | undefined;
  /** Bytes already in `duplex`'s buffer that the final protocol will read (see {@link EstablishContext.early}). */
  readonly pending: number;
}

function hopInfo(hop: ResolvedHop, index: number): HopInfo {
  const p = hop.protocols.length === 1 ? hop.protocols[0] : undefined;
  const kind = p?.name === 'socks' ? (p.socks.version === 5 ? 'socks5' : 'socks4') : 'origin';
  return { index, kind, host: hop.host, port: hop.port, transport: hop.transport };
}

function asBurrowError(e: unknown, hop: HopInfo): BurrowError {
  return e instanceof BurrowError ? e : new BurrowError('ERR_TUNNEL_CLOSED', `layer setup failed: ${(e as Error).message}`, { stage: 'tcp', hop, cause: e });
}

/** Brings up TLS and SOCKS layers over `duplex` until an HTTP or raw protocol is reached. */
export async function establish(ctx: EstablishContext, first: ResolvedHop, duplex: Socket | Duplex): Promise<Established> {
  const obs = ctx.observer;
  let hop = first;
  let d: Socket | Duplex = duplex;
  let index = ctx.hopIndex;
  const intermediaries = [...ctx.intermediaries];
  const layers: LayerRecord[] = [];
  const track = (rec: LayerRecord): void => {
    layers.push(rec);
    ctx.records?.push(rec);
  };
  // Bytes already in d's buffer, for the next layer that reads d.
  let pending = ctx.early ?? 0;
  let top = ctx.parent;
  let reached: EndpointInfo | undefined;
  for (;;) {
    const info = hopInfo(hop, index);
    const step = { hop: info, signal: ctx.signal };
    let protocol = hop.protocols[0]?.name ?? 'http';
    let tls: TLSSocket | undefined;
    if (hop.transport === 'tls') {
      const rec = startLayer(obs, 'tls', info, top, ctx.tunnel);
      rec.countOn(d, pending);
      track(rec);
      try {
        const r = await startTls(step, d, { host: hop.host, port: hop.port, tls: hop.tls, protocols: protocolNames(hop.protocols), handshakeTimeout: hop.tlsHandshakeTimeout });
        d = r.socket;
        pending = 0;
        tls = r.socket;
        protocol = r.protocol;
        rec.setTls(r.socket, r.servername, r.certificate);
      } catch (e) {
        layerFailed(obs, rec, asBurrowError(e, info));
        layersDown(obs, layers);
        throw e;
      }
      layerUp(obs, rec);
      top = rec;
    }
    const endpoint: EndpointInfo = { host: hop.host, port: hop.port, transport: hop.transport, protocol };
    reached ??= endpoint;
    const spec = hop.protocols.find((p) => p.name === protocol);
    if (spec !== undefined && spec.name === 'socks') {
      // SOCKS5, or SOCKS4/4a: the same steps, each version's record and handshake.
      const socks = spec.socks;
      const next = socks.next;
      const target = `${authorityHost(next.host)}:${next.port}`;
      const kind = socks.version === 5 ? 'socks5' : 'socks4';
      const rec = startLayer(obs, kind, info, top, ctx.tunnel);
      if (socks.version === 5) rec.socks5 = { target, method: undefined, reply: undefined, bound: undefined };
      else rec.socks4 = { target, version: socks.version, reply: undefined, bound: undefined };
      rec.countOn(d, pending);
      track(rec);
      let bound: { host: string; port: number };
      try {
        if (socks.version === 5) {
          const r = await socks5Handshake(step, d, socks, (method) => {
            if (rec.socks5 !== undefined) rec.socks5 = { ...rec.socks5, method };
          });
          bound = { host: r.bound.host, port: r.bound.port };
          pending = r.rest;
          rec.socks5 = { target, method: r.method, reply: 0, bound };
        } else {
          const r = await socks4Handshake(step, d, socks);
          bound = r.bound;
          pending = r.rest;
          rec.socks4 = { target, version: socks.version, reply: 0x5a, bound };
        }
      } catch (e) {
        const err = asBurrowError(e, info);
        const reply = err.details['reply'];
        if (typeof reply === 'number') {
          if (rec.socks5 !== undefined) rec.socks5 = { ...rec.socks5, reply };
          if (rec.socks4 !== undefined) rec.socks4 = { ...rec.socks4, reply };
        }
        layerFailed(obs, rec, err);
        layersDown(obs, layers);
        throw e;
      }
      layerUp(obs, rec);
      top = rec;
      ctx.onSocksUp?.(bound);
      intermediaries.push({ type: kind, host: hop.host, port: hop.port, transport: hop.transport, protocol: 'socks', bound });
      hop = next;
      index++;
      continue;
    }
    return { duplex: d, tls, protocol: protocol as 'http' | 'http2' | 'raw', hop: info, endpoint, reached, intermediaries, layers, top, pending };
  }
}
