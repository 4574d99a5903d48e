/**
 * The process-wide dispatcher of `fetch()`: where undici keeps it, and how to
 * replace it without importing undici (as its `setGlobalDispatcher()` does).
 */

/** Where undici keeps the global dispatcher: `.1` is read by undici ≤ 7 (Node 20–24's fetch), `.2` by undici 8 (Node 26's). */
const GLOBAL_SYMBOLS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')];

function setGlobal(s: symbol, value: unknown): void {
  const g = globalThis as Record<symbol, unknown>;
  if (Object.getOwnPropertyDescriptor(g, s) !== undefined) g[s] = value;
  // As undici defines it: writable, so that its setGlobalDispatcher() can replace it later.
  else Object.defineProperty(g, s, { value, writable: true, enumerable: false, configurable: false });
}

/** @internal Makes `dispatcher` every undici's global dispatcher; returns a function that puts back the previous ones. */
export function installGlobal(dispatcher: object): () => void {
  const previous = GLOBAL_SYMBOLS.map((s) => (globalThis as Record<symbol, unknown>)[s]);
  for (const s of GLOBAL_SYMBOLS) setGlobal(s, dispatcher);
  return () => {
    GLOBAL_SYMBOLS.forEach((s, i) => {
      if (previous[i] !== undefined) setGlobal(s, previous[i]);
    });
  };
}
