/**
 * The last Digest challenge of each proxy, kept so that the next CONNECT to
 * it answers at once (the nonce reused, its count incremented) instead of
 * waiting for a 407. Keyed by the proxy's address and a keyed digest of the
 * credentials (never the credentials themselves); bounded, least recently
 * used out. An entry is taken by one CONNECT at a time and put back when it
 * succeeded, so two CONNECTs never send the same nonce count.
 */
import type { DigestChallenge } from './digest.js';

/** A proxy's Digest state between CONNECTs. */
export interface DigestCacheEntry {
  readonly challenge: DigestChallenge;
  /** The last nonce count sent. */
  readonly nc: number;
  readonly cnonce: string;
}

/** Proxies remembered. */
export const DIGEST_CACHE_SIZE = 256;

/** A bounded map of Digest states. */
export class DigestCache {
  readonly #map = new Map<string, DigestCacheEntry>();
  readonly #max: number;

  constructor(max = DIGEST_CACHE_SIZE) {
    this.#max = max;
  }

  /** Takes the entry of `key` out (undefined when none). */
  take(key: string): DigestCacheEntry | undefined {
    const e = this.#map.get(key);
    if (e !== undefined) this.#map.delete(key);
    return e;
  }

  /** Puts an entry back (or in), dropping the least recently used past the bound. */
  put(key: string, entry: DigestCacheEntry): void {
    this.#map.delete(key);
    this.#map.set(key, entry);
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
  }

  /** Entries kept. */
  get size(): number {
    return this.#map.size;
  }

  /** Forgets everything. */
  clear(): void {
    this.#map.clear();
  }
}

/** The process-wide cache `ProxyAuthenticator` uses. */
export const digestCache = new DigestCache();
