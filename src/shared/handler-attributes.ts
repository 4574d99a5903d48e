/**
 * The `on…` event handler attributes of an EventTarget (`onopen`, `onmessage`…), as the web platform has them:
 * setting one replaces the listener it added before; `null` (or anything not a function) removes it; the
 * handler is called with the target as `this`. Used by burrow's `WebSocket` and `EventSource`.
 */
export class HandlerAttributes<H extends ((this: never, ev: Event) => unknown) | null> {
  readonly #target: EventTarget;
  readonly #handlers = new Map<string, { attr: H; listener: (ev: Event) => void }>();

  constructor(target: EventTarget) {
    this.#target = target;
  }

  /** The handler set for `type`, or null. */
  get(type: string): H | null {
    return this.#handlers.get(type)?.attr ?? null;
  }

  /** Sets (or, with a non-function, removes) the handler of `type`. */
  set(type: string, h: H): void {
    const cur = this.#handlers.get(type);
    if (cur !== undefined) {
      this.#target.removeEventListener(type, cur.listener);
      this.#handlers.delete(type);
    }
    if (typeof h !== 'function') return;
    const target = this.#target;
    const listener = (ev: Event): void => {
      (h as unknown as (this: EventTarget, ev: Event) => unknown).call(target, ev);
    };
    this.#handlers.set(type, { attr: h, listener });
    target.addEventListener(type, listener);
  }
}
