/**
 * WebSocket options: validation and defaults.
 */
import { invalidOption } from '../../errors/errors.js';
import type { StreamMessage } from '../messages.js';
import type { WsDeflateOptions } from '../ws.js';
import { checkFlow, checkInt, checkInterval, checkKeys, checkTimeout, isObject } from './validate.js';

/** WebSocket options after defaults. */
export interface ResolvedWsOptions {
  readonly closingTimeout: number;
  /** permessage-deflate parameters offered, or undefined for none. */
  readonly compress: WsDeflateOptions | undefined;
  readonly protocols: readonly string[];
  /** The handlers of the subprotocols that have one, by name. */
  readonly handlers: ReadonlyMap<string, (msg: StreamMessage) => void>;
  readonly flow: number;
  readonly keepalive: number;
  readonly silencePings: boolean;
  readonly maxPayload: number;
  readonly handshakeTimeout: number;
}

const KEYS = new Set(['closingTimeout', 'compress', 'protocols', 'flow', 'keepalive', 'silencePings', 'maxPayload', 'handshakeTimeout']);
const DEFLATE_KEYS = new Set(['clientMaxWindowBits', 'serverMaxWindowBits', 'clientNoContextTakeover', 'serverNoContextTakeover', 'level', 'threshold']);
/** RFC 7230 token: what a subprotocol name may be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Validates WebSocket options (`name`: how they are named in errors) and applies defaults over `base`. */
export function resolveWsOptions(name: string, v: unknown, base?: ResolvedWsOptions): ResolvedWsOptions {
  if (v === undefined) v = {};
  if (!isObject(v)) throw invalidOption(name, 'must be an object');
  checkKeys(name, v, KEYS);
  const has = (k: string): boolean => v[k] !== undefined;
  let protocols = base?.protocols ?? [];
  let handlers = base?.handlers ?? new Map<string, (msg: StreamMessage) => void>();
  if (has('protocols')) {
    const list = v['protocols'];
    if (!Array.isArray(list)) throw invalidOption(`${name}.protocols`, 'must be an array');
    const names: string[] = [];
    const hs = new Map<string, (msg: StreamMessage) => void>();
    for (const p of list as unknown[]) {
      const n = typeof p === 'string' ? p : isObject(p) ? p['name'] : undefined;
      if (typeof n !== 'string' || !TOKEN.test(n)) throw invalidOption(`${name}.protocols`, 'each must be a token, or { name, replyTo }');
      if (names.includes(n)) throw invalidOption(`${name}.protocols`, `${n} is offered twice`);
      if (isObject(p)) {
        if (typeof p['replyTo'] !== 'function') throw invalidOption(`${name}.protocols`, `the replyTo of ${n} must be a function`);
        hs.set(n, p['replyTo'] as (msg: StreamMessage) => void);
      }
      names.push(n);
    }
    protocols = names;
    handlers = hs;
  }
  if (has('silencePings') && typeof v['silencePings'] !== 'boolean') throw invalidOption(`${name}.silencePings`, 'must be a boolean');
  return {
    closingTimeout: has('closingTimeout') ? checkTimeout(`${name}.closingTimeout`, v['closingTimeout'], 15000) : (base?.closingTimeout ?? 15000),
    compress: has('compress') ? checkCompress(`${name}.compress`, v['compress']) : base?.compress,
    protocols,
    handlers,
    flow: has('flow') ? checkFlow(`${name}.flow`, v['flow']) : (base?.flow ?? Infinity),
    keepalive: has('keepalive') ? checkInterval(`${name}.keepalive`, v['keepalive']) : (base?.keepalive ?? Infinity),
    silencePings: has('silencePings') ? (v['silencePings'] as boolean) : (base?.silencePings ?? true),
    maxPayload: has('maxPayload') ? checkInt(`${name}.maxPayload`, v['maxPayload'], 0, 1, 2 ** 31 - 1) : (base?.maxPayload ?? 100 * 1024 * 1024),
    handshakeTimeout: has('handshakeTimeout') ? checkTimeout(`${name}.handshakeTimeout`, v['handshakeTimeout'], Infinity) : (base?.handshakeTimeout ?? Infinity),
  };
}

function checkCompress(name: string, v: unknown): WsDeflateOptions | undefined {
  if (v === false) return undefined;
  if (v === true) return {};
  if (!isObject(v)) throw invalidOption(name, 'must be a boolean or permessage-deflate options');
  checkKeys(name, v, DEFLATE_KEYS);
  const bits = (k: string): number | undefined => (v[k] === undefined ? undefined : checkInt(`${name}.${k}`, v[k], 15, 8, 15));
  const bool = (k: string): boolean | undefined => {
    if (v[k] !== undefined && typeof v[k] !== 'boolean') throw invalidOption(`${name}.${k}`, 'must be a boolean');
    return v[k] as boolean | undefined;
  };
  const out: WsDeflateOptions = {};
  const cmb = bits('clientMaxWindowBits');
  if (cmb !== undefined) out.clientMaxWindowBits = cmb;
  const smb = bits('serverMaxWindowBits');
  if (smb !== undefined) out.serverMaxWindowBits = smb;
  const cnc = bool('clientNoContextTakeover');
  if (cnc !== undefined) out.clientNoContextTakeover = cnc;
  const snc = bool('serverNoContextTakeover');
  if (snc !== undefined) out.serverNoContextTakeover = snc;
  if (v['level'] !== undefined) out.level = checkInt(`${name}.level`, v['level'], 6, 0, 9);
  if (v['threshold'] !== undefined) out.threshold = checkInt(`${name}.threshold`, v['threshold'], 1024, 0, 2 ** 31 - 1);
  return out;
}
