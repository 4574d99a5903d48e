/** Every fuzz target, by name. */
import type { FuzzTarget } from '../engine.js';
import { connectResponse, http1Response } from './http1-response.js';
import { pacResults, proxyChallenges } from './proxy-auth.js';
import { requestEncoder } from './request-encoder.js';
import { setCookie } from './set-cookie.js';
import { socks5 } from './socks5.js';
import { socks4 } from './socks4.js';
import { sse } from './sse.js';
import { websocket } from './websocket.js';

export const TARGETS: readonly FuzzTarget[] = [http1Response, connectResponse, requestEncoder, socks5, socks4, websocket, sse, setCookie, proxyChallenges, pacResults];
