/**
 * HTTP/1.1 and HTTP/2 layer options: their types, defaults and validation.
 */
import { invalidOption } from '../../errors/errors.js';
import { checkFlow, checkInt, checkInterval, checkKeys, checkTimeout, isObject } from './validate.js';

/** HTTP/1.1 options. */
export interface Http1Options {
  /** Interval in ms at which an empty line is sent on an idle connection; default `Infinity` (off). */
  keepalive?: number;
  /** How long a graceful shutdown may take before the connection is closed, ms; default 15000. */
  closingTimeout?: number;
  /** Largest response header block, bytes; default 100000. */
  maxHeaderBlockSize?: number;
  /** Largest trailer block, bytes; default 10000. */
  maxTrailerBlockSize?: number;
  /** Most header fields in one block; default 100. */
  maxHeaderCount?: number;
  /** Default flow budget (data messages) for new streams; default `Infinity` (no flow control). */
  flow?: number;
}

/** HTTP/2 options. */
export interface Http2Options {
  /** Interval in ms between keepalive PINGs; default `Infinity` (off). */
  keepalive?: number;
  /** Unacknowledged keepalive PINGs tolerated before the connection is closed; default: no limit. */
  keepaliveTolerance?: number;
  /** How long a graceful shutdown may take, ms; default 15000. */
  closingTimeout?: number;
  /** Initial stream flow-control window, bytes; default 16 MiB (Node's 64 KiB default halves throughput). */
  initialStreamWindowSize?: number;
  /** Connection flow-control window, bytes; default 64 MiB. */
  initialConnectionWindowSize?: number;
  /** Local SETTINGS_MAX_CONCURRENT_STREAMS (streams the server may open: pushes); default 100. */
  maxConcurrentStreams?: number;
  /** Local SETTINGS_MAX_FRAME_SIZE; default 16384. */
  maxFrameSize?: number;
  /** Local SETTINGS_MAX_HEADER_LIST_SIZE; default 65536. */
  maxHeaderListSize?: number;
  /** Local SETTINGS_HEADER_TABLE_SIZE; default 4096. */
  headerTableSize?: number;
  /** Accept server push (SETTINGS_ENABLE_PUSH); default false. */
  enablePush?: boolean;
  /** Default flow budget (data messages) for new streams; default `Infinity`. */
  flow?: number;
  /** Most memory nghttp2 may use for this session, MiB; default 64. */
  maxSessionMemory?: number;
}

/** HTTP/1.1 options after defaults. */
export type ResolvedHttp1Options = Required<Http1Options>;

/** HTTP/2 options after defaults. */
export type ResolvedHttp2Options = Required<Omit<Http2Options, 'keepaliveTolerance'>> & { keepaliveTolerance: number };

/** Validates the `http` options and applies defaults. */
export function resolveHttp1Options(v: unknown): ResolvedHttp1Options {
  if (v === undefined) v = {};
  if (!isObject(v)) throw invalidOption('http', 'must be an object');
  checkKeys('http', v, new Set(['keepalive', 'closingTimeout', 'maxHeaderBlockSize', 'maxTrailerBlockSize', 'maxHeaderCount', 'flow']));
  return {
    keepalive: checkInterval('http.keepalive', v['keepalive']),
    closingTimeout: checkTimeout('http.closingTimeout', v['closingTimeout'], 15000),
    maxHeaderBlockSize: checkInt('http.maxHeaderBlockSize', v['maxHeaderBlockSize'], 100000, 16, 2 ** 31 - 1),
    maxTrailerBlockSize: checkInt('http.maxTrailerBlockSize', v['maxTrailerBlockSize'], 10000, 2, 2 ** 31 - 1),
    maxHeaderCount: checkInt('http.maxHeaderCount', v['maxHeaderCount'], 100, 1, 100000),
    flow: checkFlow('http.flow', v['flow']),
  };
}

/** Validates the `http2` options and applies defaults. */
export function resolveHttp2Options(v: unknown): ResolvedHttp2Options {
  if (v === undefined) v = {};
  if (!isObject(v)) throw invalidOption('http2', 'must be an object');
  checkKeys('http2', v, new Set([
    'keepalive', 'keepaliveTolerance', 'closingTimeout', 'initialStreamWindowSize', 'initialConnectionWindowSize',
    'maxConcurrentStreams', 'maxFrameSize', 'maxHeaderListSize', 'headerTableSize', 'enablePush', 'flow', 'maxSessionMemory',
  ]));
  if (v['enablePush'] !== undefined && typeof v['enablePush'] !== 'boolean') throw invalidOption('http2.enablePush', 'must be a boolean');
  return {
    keepalive: checkInterval('http2.keepalive', v['keepalive']),
    keepaliveTolerance: v['keepaliveTolerance'] === undefined ? Infinity : checkInt('http2.keepaliveTolerance', v['keepaliveTolerance'], 0, 0, 2 ** 31 - 1),
    closingTimeout: checkTimeout('http2.closingTimeout', v['closingTimeout'], 15000),
    initialStreamWindowSize: checkInt('http2.initialStreamWindowSize', v['initialStreamWindowSize'], 16 * 1024 * 1024, 0, 2 ** 31 - 1),
    initialConnectionWindowSize: checkInt('http2.initialConnectionWindowSize', v['initialConnectionWindowSize'], 64 * 1024 * 1024, 65535, 2 ** 31 - 1),
    maxConcurrentStreams: checkInt('http2.maxConcurrentStreams', v['maxConcurrentStreams'], 100, 0, 2 ** 32 - 1),
    maxFrameSize: checkInt('http2.maxFrameSize', v['maxFrameSize'], 16384, 16384, 16777215),
    maxHeaderListSize: checkInt('http2.maxHeaderListSize', v['maxHeaderListSize'], 65536, 0, 2 ** 32 - 1),
    headerTableSize: checkInt('http2.headerTableSize', v['headerTableSize'], 4096, 0, 2 ** 32 - 1),
    enablePush: (v['enablePush'] as boolean | undefined) ?? false,
    flow: checkFlow('http2.flow', v['flow']),
    maxSessionMemory: checkInt('http2.maxSessionMemory', v['maxSessionMemory'], 64, 1, 1 << 20),
  };
}
