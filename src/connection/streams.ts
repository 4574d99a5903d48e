/**
 * The receivers of a connection's streams: for each open stream its
 * `replyTo` function or its mailbox, and delivery of each message to that
 * receiver and to `message` listeners. A stream receives nothing after its last
 * message.
 */
import { BurrowError } from '../errors/errors.js';
import type { StreamMessage } from '../shared/messages.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { CallbackGuard } from './callbacks.js';
import { Mailbox } from './mailbox.js';

/** A `replyTo` function. */
export type ReplyTo = (msg: StreamMessage) => void;

interface StreamEntry {
  readonly ref: StreamRef;
  replyTo: ReplyTo | undefined;
  readonly mailbox: Mailbox | undefined;
  /** Its last message has been delivered. */
  done: boolean;
}

/**
 * Streams ended by an error alone (cancelled, or failed: the tunnels inside a closed tunnel) whose error is kept
 * for a later `await(ref)`, at most, per connection: a program that closes tunnels and never reads the errors of
 * the streams that went with them keeps no more. A stream with unread data is kept whole, whatever its number.
 */
export const MAX_CANCELLED_UNREAD = 1024;

/** The streams of one connection and where their messages go. */
export class StreamTable {
  readonly #entries = new Map<string, StreamEntry>();
  /** Keys of streams ended by an error alone, unread, oldest first (stale keys are skipped when evicting). */
  readonly #cancelledUnread = new Set<string>();
  /**
   * Streams cancelled from inside a callback, until the cancel takes effect:
   * what their layer still delivers meanwhile is dropped (`sawFinal`: it ended them).
   */
  readonly #silenced = new Map<string, { final: StreamMessage | undefined }>();
  readonly #guard: CallbackGuard;
  readonly #mailboxes: boolean;
  readonly #onMessage: (msg: StreamMessage) => void;

  /**
   * @param mailboxes keep a mailbox for streams without `replyTo` (the `mailbox` option)
   * @param onMessage called with every delivered message (the `message` event)
   */
  constructor(guard: CallbackGuard, mailboxes: boolean, onMessage: (msg: StreamMessage) => void) {
    this.#guard = guard;
    this.#mailboxes = mailboxes;
    this.#onMessage = onMessage;
  }

  /** Registers a new stream's receiver (nothing when it has no `replyTo` and mailboxes are off). */
  register(ref: StreamRef, replyTo: ReplyTo | undefined): void {
    if (!replyTo && !this.#mailboxes) return;
    const mailbox = replyTo ? undefined : new Mailbox(ref, () => {
      const cur = this.#entries.get(ref.key);
      if (cur?.done && cur.mailbox?.drained) this.#entries.delete(ref.key);
    });
    this.#entries.set(ref.key, { ref, replyTo, mailbox, done: false });
  }

  /**
   * From now on the stream's messages go to `replyTo` (a WebSocket
   * subprotocol's handler); what its mailbox holds stays readable.
   */
  redirect(ref: StreamRef, replyTo: ReplyTo): void {
    const e = this.#entries.get(ref.key);
    if (e !== undefined) e.replyTo = replyTo;
    else this.#entries.set(ref.key, { ref, replyTo, mailbox: undefined, done: false });
  }

  /** True while the stream has a receiver (open, or ended with messages still to read). */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** The stream's mailbox; throws `ERR_STREAM_NOT_FOUND` when it has none. */
  mailbox(ref: StreamRef): Mailbox {
    const e = this.#entries.get(ref.key);
    if (e?.mailbox === undefined) {
      throw new BurrowError('ERR_STREAM_NOT_FOUND', `${ref} has no mailbox (unknown, finished and read, or consumed by replyTo / mailbox: false)`, { stage: 'state' });
    }
    return e.mailbox;
  }

  /**
   * Drops what the mailboxes hold: of the stream `ref` only (its exact ref,
   * not the streams of a tunnel it is), or of every stream. Returns how many
   * messages were dropped. A stream whose last message was dropped is
   * forgotten (as when its last message is taken).
   */
  flush(ref: StreamRef | undefined): number {
    if (ref !== undefined) return this.#entries.get(ref.key)?.mailbox?.flush() ?? 0;
    let n = 0;
    // flush() may delete the entry of a drained stream: iterate over a copy.
    for (const e of [...this.#entries.values()]) if (e.mailbox !== undefined) n += e.mailbox.flush();
    return n;
  }

  /**
   * Body data that does not end its stream: the hot path of a download. It
   * changes no stream state, so it goes straight to its receiver.
   */
  deliverData(msg: StreamMessage): void {
    const key = msg.ref.key;
    if (this.#silenced.size > 0 && this.#silenced.has(key)) return;
    const e = this.#entries.get(key);
    if (e !== undefined && !e.done) {
      if (e.replyTo) this.#guard.call(e.replyTo, msg, 'replyTo');
      else e.mailbox?.push(msg, false);
    }
    this.#onMessage(msg);
  }

  /** Delivers `msg`; `final` marks the stream's last message. Dropped when the stream already ended. */
  deliver(msg: StreamMessage, final: boolean): void {
    const key = msg.ref.key;
    if (this.#silenced.size > 0) {
      const s = this.#silenced.get(key);
      if (s !== undefined) {
        if (final) s.final ??= msg;
        return;
      }
    }
    const e = this.#entries.get(key);
    if (e !== undefined) {
      if (e.done) return;
      if (msg.type === 'push') this.register(msg.pushRef, e.replyTo);
      if (final) e.done = true;
      if (e.replyTo) this.#guard.call(e.replyTo, msg, 'replyTo');
      else e.mailbox?.push(msg, final);
      if (e.done && (e.mailbox === undefined || e.mailbox.drained)) this.#entries.delete(key);
      // A stream ended by an error and holding nothing else (a tunnel closed under it, a request failed) is kept
      // for a later await() within the bound, as a cancelled one is.
      else if (final && msg.type === 'error' && e.mailbox?.size === 1) this.#keepCancelled(key);
    } else if (msg.type === 'push') {
      this.register(msg.pushRef, undefined);
    }
    this.#onMessage(msg);
  }

  /** Ends a cancelled stream: its mailbox keeps only `error` (queued messages are of no use), a `replyTo` gets it. */
  cancelled(ref: StreamRef, error: BurrowError): void {
    const msg: StreamMessage = { type: 'error', ref, error };
    const e = this.#entries.get(ref.key);
    if (e?.mailbox !== undefined) {
      const wasDone = e.done;
      e.done = true;
      e.mailbox.replaceWith(msg);
      if (!wasDone) this.#onMessage(msg);
      if (!e.mailbox.drained) this.#keepCancelled(ref.key);
      return;
    }
    this.deliver(msg, true);
  }

  /** Remembers a stream ended by an unread error; beyond {@link MAX_CANCELLED_UNREAD}, the oldest still unread is forgotten. */
  #keepCancelled(key: string): void {
    const kept = this.#cancelledUnread;
    kept.delete(key);
    kept.add(key);
    while (kept.size > MAX_CANCELLED_UNREAD) {
      const oldest = kept.values().next().value as string;
      kept.delete(oldest);
      const e = this.#entries.get(oldest);
      if (e !== undefined && e.done) this.#entries.delete(oldest);
    }
  }

  /**
   * Drops what the layers deliver for `ref` from now until {@link unsilence}:
   * a stream cancelled from inside a callback receives nothing more before its cancel error.
   */
  silence(ref: StreamRef): void {
    if (!this.#silenced.has(ref.key)) this.#silenced.set(ref.key, { final: undefined });
  }

  /** Ends the silence of `ref`; true when its layer ended it meanwhile. */
  unsilence(ref: StreamRef): boolean {
    const s = this.#silenced.get(ref.key);
    this.#silenced.delete(ref.key);
    return s?.final !== undefined;
  }

  /**
   * The connection ends before the cancels that silenced streams take effect:
   * each silenced stream gets the last message its layer delivered meanwhile
   * (or, for none, the connection's final error that follows).
   */
  unsilenceAll(): void {
    if (this.#silenced.size === 0) return;
    const finals = [...this.#silenced.values()];
    this.#silenced.clear();
    for (const s of finals) if (s.final !== undefined) this.deliver(s.final, true);
  }

  /** Refs of the streams whose last message has not been delivered. */
  unfinished(): StreamRef[] {
    const out: StreamRef[] = [];
    for (const e of this.#entries.values()) if (!e.done) out.push(e.ref);
    return out;
  }
}
