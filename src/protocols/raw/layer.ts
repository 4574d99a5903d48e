/**
 * The raw protocol: the bytes of a tunnel (or of an upgraded connection) as
 * they are, for non-HTTP origins. `data()` writes; received bytes arrive as
 * data messages on the tunnel's ref.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError, socketError } from '../../errors/errors.js';
import type { StreamRef } from '../../shared/stream-ref.js';
import { whenWritable } from '../../transport/drain.js';
import type { HttpLayer, LayerOrigin, LayerSink, LayerStreamState, RequestSpec } from '../../shared/layer.js';

const EMPTY = Buffer.alloc(0);

/** A raw byte stream carried on one ref. */
export class RawLayer implements HttpLayer {
  readonly protocol = 'raw' as const;
  readonly ready: Promise<void> = Promise.resolve();
  readonly #socket: Socket | Duplex;
  readonly #ref: StreamRef;
  readonly #sink: LayerSink;
  readonly #origin: LayerOrigin;
  #flow: number;
  #paused = false;
  #closed = false;
  /** The peer ended its side. */
  #ended = false;
  /** We ended our side. */
  #writeEnded = false;
  /** Bytes were delivered as data messages (a detach would not hand them over). */
  #delivered = false;

  constructor(socket: Socket | Duplex, ref: StreamRef, origin: LayerOrigin, flow: number, sink: LayerSink) {
    this.#socket = socket;
    this.#ref = ref;
    this.#origin = origin;
    this.#flow = flow;
    this.#sink = sink;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.resume();
  }

  get accepting(): boolean {
    return false;
  }

  request(spec: RequestSpec): void {
    this.#sink.deliver({
      type: 'error',
      ref: spec.ref,
      error: new BurrowError('ERR_BAD_STATE', 'this layer speaks the raw protocol: send bytes with data() on its ref', { stage: 'state', hop: this.#origin.hop }),
    });
  }

  data(ref: StreamRef, fin: boolean, chunk: Buffer): Promise<void> {
    if (!ref.equals(this.#ref) || this.#closed) {
      this.#sink.deliver({
        type: 'error',
        ref,
        error: new BurrowError(this.#closed ? 'ERR_STREAM_CLOSED' : 'ERR_STREAM_NOT_FOUND', 'no open raw stream has this ref', { stage: 'state', hop: this.#origin.hop }),
      });
      return Promise.resolve();
    }
    const ok = chunk.length > 0 ? this.#socket.write(chunk) : true;
    if (fin && !this.#writeEnded) {
      this.#writeEnded = true;
      // Both directions ended: close once what was written has been flushed.
      this.#socket.end();
      if (this.#ended) this.#afterFlush(() => this.#finish(null, false));
    }
    return whenWritable(this.#socket, ok);
  }

  cancel(ref: StreamRef): boolean {
    if (!ref.equals(this.#ref) || this.#closed) return false;
    this.#finish(null, false);
    return true;
  }

  updateFlow(ref: StreamRef, increment: number): void {
    if (!ref.equals(this.#ref) || this.#flow === Infinity) return;
    this.#flow += increment;
    if (this.#flow > 0 && this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  remoteSettings(): undefined {
    return undefined;
  }

  ping(): Promise<number> {
    return Promise.reject(new BurrowError('ERR_PING_UNSUPPORTED', 'the raw protocol has no ping', { stage: 'state', hop: this.#origin.hop }));
  }

  shutdown(): void {
    this.#finish(null, false);
  }

  destroy(reason: BurrowError): void {
    this.#finish(reason, true);
  }

  activeStreams(): StreamRef[] {
    return this.#closed || (this.#ended && this.#writeEnded) ? [] : [this.#ref];
  }

  streamState(ref: StreamRef): LayerStreamState | undefined {
    return ref.equals(this.#ref) && !this.#closed ? 'running' : undefined;
  }

  /**
   * Lets go of the duplex without closing it: the layer stops reading it and
   * removes its listeners, and the duplex is returned paused, every byte the
   * peer sent still in it. Nothing is reported to the sink (the caller takes
   * the node out of the tree). Throws `ERR_BAD_STATE` when the layer has closed,
   * when either side has ended, or when bytes were already delivered as data
   * messages (they could not be handed over).
   */
  detach(): Socket | Duplex {
    if (this.#closed || this.#ended || this.#writeEnded || this.#delivered) {
      const why = this.#closed ? 'it is closed' : this.#delivered ? 'bytes were already delivered on its ref' : 'one of its sides has ended';
      throw new BurrowError('ERR_BAD_STATE', `the raw stream ${this.#ref} cannot be detached: ${why}`, { stage: 'state', hop: this.#origin.hop });
    }
    this.#closed = true;
    const socket = this.#socket;
    socket.pause();
    socket.removeListener('data', this.#onData);
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('close', this.#onClose);
    socket.removeListener('error', this.#onError);
    return socket;
  }

  #onData = (chunk: Buffer): void => {
    if (this.#closed) return;
    this.#delivered = true;
    this.#sink.deliver({ type: 'data', ref: this.#ref, fin: false, data: chunk });
    if (this.#flow !== Infinity && --this.#flow <= 0 && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  };

  #onEnd = (): void => {
    if (this.#closed || this.#ended) return;
    this.#ended = true;
    this.#sink.deliver({ type: 'data', ref: this.#ref, fin: true, data: EMPTY });
    // The peer stopped sending; we may still send (half-close), until data(ref, true, …).
    // Once both sides ended, close after what was written has been flushed.
    if (this.#writeEnded) this.#afterFlush(() => this.#finish(null, false));
  };

  #afterFlush(then: () => void): void {
    const socket = this.#socket;
    if (socket.writableFinished) then();
    else socket.once('finish', then);
  }

  #onError = (err: Error): void => {
    this.#finish(socketError(err, this.#origin.hop, 'raw stream error'), true);
  };

  #onClose = (): void => {
    this.#finish(this.#ended && this.#writeEnded ? null : new BurrowError('ERR_CONNECTION_CLOSED', 'the raw stream closed', { stage: 'tcp', hop: this.#origin.hop }), true);
  };

  #finish(error: BurrowError | null, report: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.removeListener('data', this.#onData);
    this.#socket.removeListener('end', this.#onEnd);
    this.#socket.removeListener('close', this.#onClose);
    this.#socket.removeListener('error', this.#onError);
    this.#socket.on('error', () => undefined);
    const killed: StreamRef[] = [];
    if (report && error !== null && !this.#ended) {
      killed.push(this.#ref);
      this.#sink.deliver({ type: 'error', ref: this.#ref, error });
    }
    this.#socket.destroy();
    this.#sink.closed(error, killed);
  }
}
