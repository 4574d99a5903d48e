/**
 * A WebSocket over a duplex: the socket an HTTP/1.1 `101` handed over, or the
 * HTTP/2 stream an extended CONNECT opened. Received bytes go through the frame
 * decoder and the message assembler and come out as `ws` messages on the
 * stream's ref; frames given to `send` are encoded (compressed when
 * negotiated), masked and written in order. Pings are answered, the close
 * handshake is done with its timeout, and the transport is closed after it.
 *
 * One file, one state machine: the close handshake (who closed first, the
 * timer, the transport's end), the writes in flight (compressed messages that
 * must keep their order) and the received messages being inflated change
 * together on every event of the one transport. Encoding, decoding, message
 * assembly, deflate and write batching live in their own modules.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError, socketError } from '../../errors/errors.js';
import type { HttpLayer, LayerOrigin, LayerSink, LayerStreamState, RequestSpec } from '../../shared/layer.js';
import type { ResolvedWsOptions } from '../../shared/options/ws.js';
import type { StreamRef } from '../../shared/stream-ref.js';
import type { WsFrame } from '../../shared/messages.js';
import type { WsSendFrame } from '../../shared/ws.js';
import { BatchedWrites } from './batched-writes.js';
import type { PerMessageDeflate } from './deflate.js';
import {
  CLOSE_GOING_AWAY,
  CLOSE_PROTOCOL_ERROR,
  closePayload,
  encodeFrame,
  FrameDecoder,
  OP_BINARY,
  OP_CLOSE,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  WsProtocolError,
  type RawFrame,
} from './frames.js';
import { MessageAssembler } from './messages.js';

/** What a WebSocket layer runs with. */
export interface WsLayerConfig {
  /** The stream the WebSocket is (its `wsUpgrade` ref). */
  readonly ref: StreamRef;
  readonly origin: LayerOrigin;
  readonly options: ResolvedWsOptions;
  /** permessage-deflate, when the handshake negotiated it. */
  readonly deflate: PerMessageDeflate | undefined;
  /**
   * After a clean close handshake, wait for the server to close the transport before ending ours (an HTTP/1.1
   * upgrade on a TCP connection to the server: it closes TCP first, RFC 6455 §7.1.1); otherwise (an HTTP/2 stream,
   * a tunnel) end ours at once.
   */
  readonly serverClosesFirst?: boolean | undefined;
}

const EMPTY = Buffer.alloc(0);
const OPCODE: Readonly<Record<WsSendFrame['type'], number>> = { text: OP_TEXT, binary: OP_BINARY, ping: OP_PING, pong: OP_PONG, close: OP_CLOSE };

/** The WebSocket protocol layer. */
export class WebSocketLayer implements HttpLayer {
  readonly protocol = 'websocket' as const;
  readonly ready: Promise<void> = Promise.resolve();
  readonly #duplex: Socket | Duplex;
  readonly #ref: StreamRef;
  readonly #origin: LayerOrigin;
  readonly #opts: ResolvedWsOptions;
  readonly #sink: LayerSink;
  readonly #deflate: PerMessageDeflate | undefined;
  readonly #serverClosesFirst: boolean;
  readonly #decoder: FrameDecoder;
  readonly #assembler: MessageAssembler;
  readonly #frames: RawFrame[] = [];
  #flow: number;
  #paused = false;
  /** A close frame was sent / received. */
  #closeSent = false;
  #closeReceived = false;
  /** The stream's last message (a close frame or an error) was delivered. */
  #ended = false;
  #closed = false;
  /** Frames whose encoding waits for a message being compressed: writes stay in order. */
  #tail: Promise<void> | undefined;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #closingTimer: NodeJS.Timeout | undefined;
  /** Pings sent by `ping()`, by payload, with their send time and settlement. */
  readonly #pings = new Map<string, { at: number; resolve: (ms: number) => void; reject: (e: BurrowError) => void }>();
  /** The transport closed: nothing more can be written. */
  #gone = false;
  /** A protocol error was found and waits for the messages before it: nothing more is read. */
  #failing = false;
  /** The protocol error the stream failed with, if it did. */
  #failure: BurrowError | null = null;
  #pingId = 0;
  readonly #writes: BatchedWrites;

  constructor(duplex: Socket | Duplex, config: WsLayerConfig, sink: LayerSink) {
    this.#duplex = duplex;
    this.#writes = new BatchedWrites(duplex);
    this.#ref = config.ref;
    this.#origin = config.origin;
    this.#opts = config.options;
    this.#sink = sink;
    this.#deflate = config.deflate;
    this.#serverClosesFirst = config.serverClosesFirst === true;
    this.#flow = config.options.flow;
    this.#decoder = new FrameDecoder({ allowRsv1: config.deflate !== undefined, maxFramePayload: config.options.maxPayload });
    this.#assembler = new MessageAssembler({ maxPayload: config.options.maxPayload, deflate: config.deflate }, this.#onFrame, this.#fail);
    duplex.on('data', this.#onData);
    duplex.on('end', this.#onEnd);
    duplex.on('error', this.#onError);
    duplex.on('close', this.#onClose);
    if (this.#opts.keepalive !== Infinity) {
      this.#keepaliveTimer = setInterval(this.#keepalive, this.#opts.keepalive);
      this.#keepaliveTimer.unref();
    }
    // The transport arrives paused, with any bytes read past the handshake put back.
    duplex.resume();
  }

  get accepting(): boolean {
    return false;
  }

  request(spec: RequestSpec): void {
    this.#sink.deliver({ type: 'error', ref: spec.ref, error: this.#stateError(`${this.#ref} is a WebSocket: send frames with wsSend()`) });
  }

  data(ref: StreamRef, _fin: boolean, _chunk: Buffer): Promise<void> {
    this.#sink.deliver({ type: 'error', ref, error: this.#stateError(`${this.#ref} is a WebSocket: send frames with wsSend(), not data()`) });
    return Promise.resolve();
  }

  /**
   * Sends frames, in order. Resolves when the transport can take more; rejects
   * with `ERR_WS_CLOSED` when the frames cannot be sent (a close frame was sent
   * already, or the WebSocket ended). Frames are validated by the caller.
   */
  send(frames: readonly WsSendFrame[]): Promise<void> {
    if (this.#closeSent || this.#closed) {
      return Promise.reject(new BurrowError('ERR_WS_CLOSED', `${this.#ref}: a close frame was sent; no frame may follow it`, { stage: 'websocket', hop: this.#origin.hop }));
    }
    if (this.#gone) {
      // The transport closed (the layer ends once the messages being inflated are delivered): nothing can be written.
      return Promise.reject(new BurrowError('ERR_WS_CLOSED', `${this.#ref}: its transport closed`, { stage: 'websocket', hop: this.#origin.hop }));
    }
    let ok = true;
    for (const f of frames) {
      if (this.#closeSent) break;
      ok = this.#sendOne(f);
    }
    if (this.#tail !== undefined) return this.#tail.then(() => this.#writes.writable(this.#duplex.writableNeedDrain !== true));
    return this.#writes.writable(ok);
  }

  #sendOne(f: WsSendFrame): boolean {
    const opcode = OPCODE[f.type];
    if (f.type === 'close') {
      this.#closeSent = true;
      this.#startClosingTimer();
      return this.#write(encodeFrame(OP_CLOSE, closePayload(f.code, f.reason)));
    }
    const payload = toBytes(f.data);
    const deflate = this.#deflate;
    if ((opcode === OP_TEXT || opcode === OP_BINARY) && deflate !== undefined && payload.length >= deflate.threshold) {
      // Compressed now (zlib keeps the messages' order); written after what was sent before it.
      const compressed = deflate.compress(payload);
      this.#chain(() => compressed.then(
        (c) => {
          if (!this.#closed && !this.#gone) this.#duplex.write(encodeFrame(opcode, c, true, true));
        },
        (e: unknown) => {
          this.destroy(new BurrowError('ERR_WS_PROTOCOL', `a message could not be compressed: ${(e as Error).message}`, { stage: 'websocket', hop: this.#origin.hop, cause: e }));
        },
      ));
      return true;
    }
    return this.#write(encodeFrame(opcode, payload));
  }

  /** Writes now, or after the frames waiting for a compression. */
  #write(frame: Buffer): boolean {
    if (this.#tail === undefined) {
      if (this.#closed || this.#gone) return false;
      return this.#writes.write(frame);
    }
    this.#chain(() => {
      if (!this.#closed && !this.#gone) this.#duplex.write(frame);
    });
    return true;
  }

  /** Runs `step` once every write queued before it has run. */
  #chain(step: () => void | Promise<void>): void {
    const prev = this.#tail ?? Promise.resolve();
    const next = prev.then(step);
    this.#tail = next;
    void next.then(() => {
      if (this.#tail === next) this.#tail = undefined;
    });
  }

  cancel(ref: StreamRef): boolean {
    if (!ref.equals(this.#ref) || this.#closed) return false;
    this.destroy(new BurrowError('ERR_STREAM_CANCELED', `${this.#ref} was cancelled`, { stage: 'state', hop: this.#origin.hop }));
    return true;
  }

  updateFlow(ref: StreamRef, increment: number): void {
    if (!ref.equals(this.#ref) || this.#flow === Infinity) return;
    this.#flow += increment;
    if (this.#flow > 0 && this.#paused) {
      this.#paused = false;
      this.#duplex.resume();
    }
  }

  remoteSettings(): undefined {
    return undefined;
  }

  /** A WebSocket ping; resolves with the round-trip time when its pong arrives. */
  ping(): Promise<number> {
    if (this.#closeSent || this.#closed) {
      return Promise.reject(new BurrowError('ERR_WS_CLOSED', `${this.#ref} is closing`, { stage: 'websocket', hop: this.#origin.hop }));
    }
    const id = `burrow-ping-${++this.#pingId}`;
    return new Promise<number>((resolve, reject) => {
      this.#pings.set(id, { at: performance.now(), resolve, reject });
      this.#write(encodeFrame(OP_PING, Buffer.from(id)));
    });
  }

  /** Graceful close: a close frame (1001, going away), then the close handshake. */
  shutdown(): void {
    if (this.#closed) return;
    if (!this.#closeSent) this.#sendOne({ type: 'close', code: CLOSE_GOING_AWAY, reason: '' });
  }

  destroy(reason: BurrowError): void {
    this.#finish(reason);
  }

  activeStreams(): StreamRef[] {
    return this.#ended || this.#closed ? [] : [this.#ref];
  }

  streamState(ref: StreamRef): LayerStreamState | undefined {
    if (!ref.equals(this.#ref) || this.#closed || this.#ended) return undefined;
    return this.#closeSent ? 'stopping' : 'running';
  }

  #onData = (chunk: Buffer): void => {
    if (this.#closed || this.#failing) return;
    const frames = this.#frames;
    let error: unknown;
    try {
      this.#decoder.feed(chunk, frames);
    } catch (e) {
      error = e;
    }
    try {
      for (let i = 0; i < frames.length; i++) this.#assembler.push(frames[i] as RawFrame);
    } catch (e) {
      error ??= e;
    }
    frames.length = 0;
    if (error === undefined) return;
    if (this.#assembler.busy) {
      // Messages before the bad frame are still being inflated: they come out first, then the error.
      this.#failing = true;
      void this.#assembler.settled().then(() => this.#fail(error));
      return;
    }
    this.#fail(error);
  };

  /** A whole message or control frame, in order. */
  #onFrame = (frame: WsFrame): void => {
    if (this.#closed || this.#closeReceived) return;
    switch (frame.type) {
      case 'ping':
        if (!this.#closeSent) this.#write(encodeFrame(OP_PONG, frame.data));
        if (!this.#opts.silencePings) this.#deliver(frame);
        return;
      case 'pong': {
        const id = frame.data.length > 0 && frame.data.length < 32 ? frame.data.toString('latin1') : '';
        const ping = this.#pings.get(id);
        if (ping !== undefined) {
          this.#pings.delete(id);
          ping.resolve(performance.now() - ping.at);
        }
        if (!this.#opts.silencePings) this.#deliver(frame);
        return;
      }
      case 'close':
        this.#closeReceived = true;
        // Echo the close (RFC 6455 §5.5.1), then the stream is over; the transport closes after.
        if (!this.#closeSent) {
          this.#closeSent = true;
          this.#write(encodeFrame(OP_CLOSE, closePayload(frame.code, undefined)));
        }
        this.#ended = true;
        this.#sink.deliver({ type: 'ws', ref: this.#ref, frame });
        this.#closeTransport();
        return;
      default:
        this.#deliver(frame);
        if (this.#flow !== Infinity && --this.#flow <= 0 && !this.#paused) {
          this.#paused = true;
          this.#duplex.pause();
        }
    }
  };

  #deliver(frame: WsFrame): void {
    if (!this.#ended) this.#sink.deliver({ type: 'ws', ref: this.#ref, frame });
  }

  /** The peer broke the protocol: a close frame with the code, the stream's error, and the transport closed. */
  #fail = (e: unknown): void => {
    if (this.#closed || this.#ended) return;
    this.#assembler.stop();
    const closeCode = e instanceof WsProtocolError ? e.closeCode : CLOSE_PROTOCOL_ERROR;
    const err = new BurrowError('ERR_WS_PROTOCOL', `WebSocket protocol error (close ${closeCode}): ${(e as Error).message}`, {
      stage: 'websocket',
      hop: this.#origin.hop,
      cause: e,
      details: { closeCode },
    });
    if (!this.#closeSent) {
      this.#closeSent = true;
      this.#write(encodeFrame(OP_CLOSE, closePayload(closeCode, '')));
    }
    this.#ended = true;
    this.#failure = err;
    this.#sink.deliver({ type: 'error', ref: this.#ref, error: err });
    this.#closeTransport(err);
  };

  #keepalive = (): void => {
    if (!this.#closeSent && !this.#closed) this.#write(encodeFrame(OP_PING, EMPTY));
  };

  /**
   * After the close handshake: the peer closes (or `closingTimeout` cuts it). Our side ends at once after a
   * protocol error, over an HTTP/2 stream or a tunnel; after a clean close on TCP to the server it ends when the
   * server's does.
   */
  #closeTransport(error: BurrowError | null = null): void {
    this.#stopKeepalive();
    const end = (): void => {
      if (this.#closed) return;
      if (error !== null || !this.#serverClosesFirst) this.#duplex.end();
      this.#startClosingTimer(error);
    };
    if (this.#tail !== undefined) void this.#tail.then(end);
    else end();
  }

  /**
   * Waits `closingTimeout` for the close handshake to finish: before the
   * peer's close frame, its absence is `ERR_WS_CLOSE_TIMEOUT`; after it, the
   * transport is cut and the layer closes with `after` (null: cleanly).
   */
  #startClosingTimer(after: BurrowError | null = null): void {
    if (this.#closingTimer !== undefined) clearTimeout(this.#closingTimer);
    if (this.#opts.closingTimeout === Infinity) return;
    this.#closingTimer = setTimeout(() => {
      this.#closingTimer = undefined;
      this.#finish(this.#ended ? after : new BurrowError('ERR_WS_CLOSE_TIMEOUT', `no close frame answered ours within ${this.#opts.closingTimeout} ms`, {
        stage: 'timeout',
        hop: this.#origin.hop,
        details: { timeoutMs: this.#opts.closingTimeout, during: 'websocket-close' },
      }));
    }, this.#opts.closingTimeout);
  }

  /** The transport ended or closed without a close frame: after the messages still being inflated, the stream fails with 1006. */
  #lost(): void {
    if (this.#closed) return;
    if (this.#assembler.busy) {
      void this.#assembler.settled().then(() => this.#lost());
      return;
    }
    if (this.#ended) {
      this.#finish(this.#closeReceived ? null : this.#failure);
      return;
    }
    this.#finish(new BurrowError('ERR_WS_CLOSED', `the transport of ${this.#ref} closed without a close frame (1006)`, {
      stage: 'websocket',
      hop: this.#origin.hop,
      details: { closeCode: 1006 },
    }));
  }

  #onEnd = (): void => {
    if (this.#closed) return;
    if (this.#closeReceived || this.#ended) {
      // The peer closed its side after the close handshake: done once ours is flushed and the transport closes.
      this.#duplex.end();
      return;
    }
    this.#lost();
  };

  #onError = (err: Error): void => {
    this.#gone = true;
    if (this.#closeReceived) {
      this.#finish(null);
      return;
    }
    this.#finish(socketError(err, this.#origin.hop, 'WebSocket transport error'));
  };

  #onClose = (): void => {
    this.#gone = true;
    this.#lost();
  };

  #stopKeepalive(): void {
    if (this.#keepaliveTimer !== undefined) clearInterval(this.#keepaliveTimer);
    this.#keepaliveTimer = undefined;
  }

  /**
   * Closes the transport and reports once (`error` null: a clean close). The
   * stream gets `error` unless its last message was delivered.
   */
  #finish(error: BurrowError | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopKeepalive();
    if (this.#closingTimer !== undefined) clearTimeout(this.#closingTimer);
    this.#closingTimer = undefined;
    this.#assembler.stop();
    this.#deflate?.close();
    const d = this.#duplex;
    d.removeListener('data', this.#onData);
    d.removeListener('end', this.#onEnd);
    d.removeListener('close', this.#onClose);
    d.removeListener('error', this.#onError);
    d.on('error', () => undefined);
    // Frames written in this synchronous run go out before the transport is destroyed.
    this.#writes.flush();
    const killed: StreamRef[] = [];
    if (!this.#ended && error !== null) {
      this.#ended = true;
      killed.push(this.#ref);
      this.#sink.deliver({ type: 'error', ref: this.#ref, error });
    }
    if (this.#pings.size > 0) {
      const e = new BurrowError('ERR_WS_CLOSED', `${this.#ref} closed before the pong`, { stage: 'websocket', hop: this.#origin.hop });
      for (const p of this.#pings.values()) p.reject(e);
      this.#pings.clear();
    }
    d.destroy();
    this.#sink.closed(error, killed);
  }

  #stateError(message: string): BurrowError {
    return new BurrowError('ERR_BAD_STATE', message, { stage: 'state', hop: this.#origin.hop });
  }
}

/** Frame data as bytes (strings as UTF-8). */
function toBytes(data: Uint8Array | string | undefined): Buffer {
  if (data === undefined) return EMPTY;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
