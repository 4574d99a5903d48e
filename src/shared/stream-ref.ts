/**
 * Stream references: opaque, immutable, comparable, printable handles for
 * streams. A reference is a path: a request made inside tunnel `A` is
 * `[A, B]`, so every message says which layer it belongs to.
 */

let nextId = 1;

/** Allocates a fresh id for a new stream (unique within the process). */
export function nextStreamId(): number {
  return nextId++;
}

/** Identifies one stream, possibly nested inside tunnels. */
export class StreamRef {
  /** Ids from the outermost tunnel to this stream. */
  readonly path: readonly number[];
  /** A string that is equal for equal refs: use it as a Map key. */
  readonly key: string;
  /** The key of the tunnel ref this stream was opened in ('' at top level), without allocating a ref. */
  readonly parentKey: string;

  /** @internal Use the connection's methods to obtain refs. */
  constructor(path: readonly number[]) {
    if (path.length === 0) throw new RangeError('a StreamRef path cannot be empty');
    const copy = path.length === 1 ? [path[0] as number] : [...path];
    this.path = Object.freeze(copy);
    this.key = copy.length === 1 ? String(copy[0]) : copy.join('/');
    this.parentKey = copy.length === 1 ? '' : this.key.slice(0, this.key.lastIndexOf('/'));
    Object.freeze(this);
  }

  /** A new ref for a stream opened inside the tunnel this ref names. */
  child(id: number): StreamRef {
    return new StreamRef([...this.path, id]);
  }

  /** The tunnel ref this stream was opened in, or undefined at top level. */
  get parent(): StreamRef | undefined {
    return this.path.length > 1 ? new StreamRef(this.path.slice(0, -1)) : undefined;
  }

  /** Number of elements in the path (1 for a top-level stream). */
  get depth(): number {
    return this.path.length;
  }

  /** True when `other` names the same stream. */
  equals(other: StreamRef | undefined | null): boolean {
    return other instanceof StreamRef && other.key === this.key;
  }

  /** True when this ref is `prefix` or nested inside it. */
  startsWith(prefix: StreamRef): boolean {
    if (prefix.path.length > this.path.length) return false;
    return prefix.path.every((id, i) => this.path[i] === id);
  }

  toString(): string {
    return `StreamRef(${this.path.join(' > ')})`;
  }

  toJSON(): string {
    return this.toString();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
