/**
 * Byte classes and errors shared by the pieces of the HTTP/1.1 response parser.
 * The pieces keep their own copies of the byte values they compare against
 * (module-local constants are cheaper in hot loops than imported ones).
 */
import { BurrowError } from '../../../errors/errors.js';


/** 1 for RFC 9110 tchar bytes. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** Hex digit value + 1 (0 for a non-hex byte). */
export const HEXVAL = new Uint8Array(256);
for (let c = 0; c < 10; c++) HEXVAL[0x30 + c] = c + 1;
for (let c = 0; c < 6; c++) {
  HEXVAL[0x41 + c] = c + 11;
  HEXVAL[0x61 + c] = c + 11;
}

/** An `ERR_HTTP_PARSE` error (stage `http`). */
export function parseError(message: string, details?: Record<string, string | number | boolean>): BurrowError {
  return new BurrowError('ERR_HTTP_PARSE', message, { stage: 'http', details });
}

/** A CR not followed by LF. */
export function bareCR(where: string): BurrowError {
  return parseError(`bare CR (not followed by LF) in the ${where}`);
}
