/**
 * The PAC engine: a script evaluated as written in its own QuickJS virtual
 * machine (QuickJS compiled to WebAssembly, `quickjs-wasi`), with no access
 * to Node: its globals are JavaScript's own and the PAC helpers
 * (`helpers.ts`), which are host functions taking and returning plain values.
 *
 * DNS, the one thing a script may wait for, never blocks the machine: the DNS
 * helpers answer from the call's own table of names, and a name not in it
 * yet answers as unresolvable and is recorded; after the run, the names
 * recorded are resolved (in parallel, through the request's `lookup`) and the
 * script runs again, until it asks for no new name (at most
 * {@link MAX_RUNS} runs, {@link MAX_NAMES} names) — how Chrome runs PAC
 * scripts. Every call is bounded: engine time (`cpuMs`, all runs together,
 * enforced by the engine's interrupt handler), the whole call, lookups
 * included (`timeoutMs`), and memory (`memoryBytes`). Calls on one script run
 * one at a time.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { QuickJS, type JSValueHandle, type QuickJSOptions } from 'quickjs-wasi';
import { BurrowError } from '../errors/errors.js';
import { literalAddress, pacHelpers, resolveAll, type PacAddress, type PacLookup } from './helpers.js';
import { DEFAULT_PAC_LIMITS, type PacLimits } from './options.js';

export { DEFAULT_PAC_LIMITS, type PacLimits } from './options.js';

/** The most runs of one call (each run after the first has new names resolved). */
export const MAX_RUNS = 8;
/** The most names one call resolves. */
export const MAX_NAMES = 32;

/** A compiled WebAssembly module (the lib of this project has no WebAssembly types). */
type WasmModule = QuickJSOptions['wasm'];
const { compile: compileWasm } = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } }).WebAssembly;

let wasm: Promise<WasmModule> | undefined;

/** The QuickJS WebAssembly module, compiled once per process. */
function quickjsModule(): Promise<WasmModule> {
  if (wasm === undefined) {
    const path = createRequire(import.meta.url).resolve('quickjs-wasi/quickjs.wasm');
    wasm = readFile(path).then((bytes) => compileWasm(bytes));
    wasm.catch(() => {
      wasm = undefined;
    });
  }
  return wasm;
}

/** The names of one call: resolved, and asked for but not yet resolved. */
class CallNames {
  readonly known = new Map<string, readonly PacAddress[]>();
  readonly missing = new Set<string>();

  addresses(host: string): readonly PacAddress[] | undefined {
    const literal = literalAddress(host);
    if (literal !== undefined) return [literal];
    const key = host.toLowerCase();
    const known = this.known.get(key);
    if (known !== undefined) return known;
    if (this.known.size + this.missing.size < MAX_NAMES) this.missing.add(key);
    return undefined;
  }
}

/** One compiled PAC script. */
export class PacScript {
  readonly #text: string;
  readonly #name: string;
  readonly #limits: PacLimits;
  #vm: QuickJS | undefined;
  #fn: JSValueHandle | undefined;
  #names = new CallNames();
  /** Engine time of the call so far (earlier runs), ms, and when the current run started. */
  #spent = 0;
  #runStart = 0;
  #deadline = Infinity;
  #polls = 0;
  /** Why the handler interrupted the guest, if it did. */
  #interrupted: 'cpu' | 'timeout' | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(text: string, name: string, limits: PacLimits) {
    this.#text = text;
    this.#name = name;
    this.#limits = limits;
  }

  /** Compiles `text` (named `name` in errors: a masked URL or a path): rejects with `ERR_PAC_SCRIPT` or `ERR_PAC_TIMEOUT`. */
  static async compile(text: string, name: string, limits: PacLimits = DEFAULT_PAC_LIMITS): Promise<PacScript> {
    const script = new PacScript(text, name, limits);
    await script.#load();
    return script;
  }

  async #load(): Promise<JSValueHandle> {
    if (this.#fn !== undefined) return this.#fn;
    let mod: WasmModule;
    try {
      mod = await quickjsModule();
    } catch (e) {
      throw new BurrowError('ERR_PAC_SCRIPT', `the PAC engine could not start: ${(e as Error).message}`, { stage: 'pac', cause: e, details: { script: this.#name } });
    }
    const vm = await QuickJS.create({ wasm: mod, memoryLimit: this.#limits.memoryBytes, interruptHandler: () => this.#shouldInterrupt() });
    this.#startCall();
    this.#runStart = performance.now();
    try {
      for (const [name, helper] of Object.entries(pacHelpers(() => this.#names))) {
        const fn = vm.newFunction(name, (...args: JSValueHandle[]) => toHandle(vm, helper(...(args.map((a) => vm.dump(a)) as never[]))));
        vm.setProp(vm.global, name, fn);
        fn.dispose();
      }
      vm.evalCode(this.#text, 'proxy.pac').dispose();
      const fn = vm.global.getProp('FindProxyForURL');
      if (vm.typeof(fn) !== 'function') {
        fn.dispose();
        throw new Error('it defines no function FindProxyForURL');
      }
      this.#vm = vm;
      this.#fn = fn;
      return fn;
    } catch (e) {
      const err = this.#error(e, 'compiling');
      vm.dispose();
      throw err;
    }
  }

  #startCall(): void {
    this.#names = new CallNames();
    this.#spent = 0;
    this.#deadline = performance.now() + this.#limits.timeoutMs;
    this.#interrupted = undefined;
  }

  #shouldInterrupt(): boolean {
    if (this.#interrupted !== undefined) return true;
    if ((++this.#polls & 255) !== 0) return false;
    const now = performance.now();
    if (this.#spent + (now - this.#runStart) > this.#limits.cpuMs) this.#interrupted = 'cpu';
    else if (now > this.#deadline) this.#interrupted = 'timeout';
    return this.#interrupted !== undefined;
  }

  /**
   * Runs `FindProxyForURL(url, host)`: resolves with what it returned (any
   * value: the caller checks it), or rejects with `ERR_PAC_SCRIPT` (the script
   * threw, or ran out of memory) or `ERR_PAC_TIMEOUT`.
   */
  find(url: string, host: string, lookup?: PacLookup): Promise<unknown> {
    const run = this.#queue.then(() => this.#find(url, host, lookup));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #find(url: string, host: string, lookup: PacLookup | undefined): Promise<unknown> {
    if (this.#disposed) throw new BurrowError('ERR_PAC_SCRIPT', `the PAC script ${this.#name} was discarded`, { stage: 'pac', details: { script: this.#name } });
    const fn = await this.#load();
    this.#startCall();
    const names = this.#names;
    for (let run = 1; ; run++) {
      const result = this.#run(fn, url, host);
      if (names.missing.size === 0 || run >= MAX_RUNS) return result;
      const budget = { lookup, deadline: this.#deadline };
      const asked = [...names.missing];
      names.missing.clear();
      const found = await Promise.all(asked.map((h) => resolveAll(budget, h)));
      asked.forEach((h, i) => names.known.set(h, found[i] ?? []));
      if (performance.now() > this.#deadline) return result;
    }
  }

  /** One run of FindProxyForURL, synchronous. */
  #run(fn: JSValueHandle, url: string, host: string): unknown {
    const vm = this.#vm as QuickJS;
    this.#runStart = performance.now();
    const args = [vm.newString(url), vm.newString(host)];
    try {
      const result = vm.callFunction(fn, vm.undefined, ...args);
      try {
        return vm.dump(result);
      } finally {
        result.dispose();
      }
    } catch (e) {
      const err = this.#error(e, 'running');
      // An interrupted or exhausted machine is not trusted again: the next call loads the script afresh.
      if (err.code === 'ERR_PAC_TIMEOUT' || err.details['reason'] === 'memory') this.#discardVm();
      throw err;
    } finally {
      this.#spent += performance.now() - this.#runStart;
      for (const a of args) if (this.#vm !== undefined) a.dispose();
    }
  }

  #error(e: unknown, during: 'compiling' | 'running'): BurrowError {
    const message = e instanceof Error ? e.message : String(e);
    try {
      (e as { dispose?: () => void } | null)?.dispose?.();
    } catch {
      // already gone with its machine
    }
    if (this.#interrupted !== undefined) {
      const ms = this.#interrupted === 'cpu' ? this.#limits.cpuMs : this.#limits.timeoutMs;
      const what = this.#interrupted === 'cpu' ? 'of engine time' : 'in all';
      return new BurrowError('ERR_PAC_TIMEOUT', `the PAC script ${this.#name} was stopped ${during === 'compiling' ? 'while loading' : 'in FindProxyForURL'} after ${ms} ms ${what}`, {
        stage: 'pac',
        details: { script: this.#name, timeoutMs: ms, limit: this.#interrupted },
      });
    }
    const memory = /out of memory/i.test(message);
    return new BurrowError('ERR_PAC_SCRIPT', `the PAC script ${this.#name} failed ${during === 'compiling' ? 'to load' : 'in FindProxyForURL'}: ${message.split('\n', 1)[0] ?? ''}`, {
      stage: 'pac',
      details: memory ? { script: this.#name, reason: 'memory', memoryBytes: this.#limits.memoryBytes } : { script: this.#name },
    });
  }

  #discardVm(): void {
    const vm = this.#vm;
    this.#vm = undefined;
    this.#fn = undefined;
    try {
      vm?.dispose();
    } catch {
      // a machine that failed may refuse to be disposed cleanly; it is dropped all the same
    }
  }

  /** Frees the virtual machine once the calls in progress are done. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    void this.#queue.then(() => this.#discardVm());
  }
}

/** A helper's answer as a value of the machine. */
function toHandle(vm: QuickJS, v: unknown): JSValueHandle {
  switch (typeof v) {
    case 'string':
      return vm.newString(v);
    case 'number':
      return vm.newNumber(v);
    case 'boolean':
      return v ? vm.true : vm.false;
    default:
      return v === null ? vm.null : vm.undefined;
  }
}
