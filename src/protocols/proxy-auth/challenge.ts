/**
 * `Proxy-Authenticate` challenges (RFC 9110 §11.2, §11.7.1), sans-I/O: the
 * field values of a 407 in, the challenges they hold out.
 *
 * ```
 * challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 * auth-param = token BWS "=" BWS ( token / quoted-string )
 * ```
 *
 * One field value may hold several challenges separated by commas, and each
 * challenge several parameters separated by commas too: a comma followed by
 * `token =` continues the parameters, a comma followed by a token that is not
 * followed by `=` starts the next challenge. Quoted strings are unescaped
 * (`\"` → `"`). Each field line is parsed on its own: a malformed line is
 * counted, not fatal, so one odd vendor challenge does not hide a good one.
 */

/** One challenge: its scheme (lower-cased) and either a token68 or parameters (names lower-cased). */
export interface Challenge {
  /** The auth-scheme, lower-cased (`basic`, `digest`, `ntlm`, `negotiate`…). */
  readonly scheme: string;
  /** The token68 form (`NTLM TlRMTVNT…`), when the challenge has one. */
  readonly token68: string | undefined;
  /** The auth-params, names lower-cased, values unquoted. Empty for a token68 or bare challenge. */
  readonly params: ReadonlyMap<string, string>;
}

/** The challenges of a set of `Proxy-Authenticate` field lines, and how many lines could not be parsed. */
export interface ParsedChallenges {
  readonly challenges: readonly Challenge[];
  /** Field lines that did not follow the grammar (ignored). */
  readonly malformed: number;
}

/** The longest field line looked at; a longer one counts as malformed. */
export const MAX_CHALLENGE_LINE = 16 * 1024;

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.i >= this.s.length;
  }
  peek(): string {
    return this.s[this.i] ?? '';
  }
  /** Skips spaces and tabs (OWS / BWS). */
  ows(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }
  token(): string {
    const start = this.i;
    while (!this.done && TCHAR.test(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }
}

class Malformed extends Error {}

function quoted(c: Cursor): string {
  // At the opening quote.
  c.i++;
  let out = '';
  for (;;) {
    if (c.done) throw new Malformed('unterminated quoted-string');
    const ch = c.peek();
    const code = ch.charCodeAt(0);
    if (ch === '"') {
      c.i++;
      return out;
    }
    if (ch === '\\') {
      c.i++;
      if (c.done) throw new Malformed('unterminated quoted-pair');
      const next = c.peek();
      const n = next.charCodeAt(0);
      if (n !== 0x09 && (n < 0x20 || n === 0x7f)) throw new Malformed('control character in a quoted-pair');
      out += next;
      c.i++;
      continue;
    }
    if (code !== 0x09 && (code < 0x20 || code === 0x7f)) throw new Malformed('control character in a quoted-string');
    out += ch;
    c.i++;
  }
}

/** At `token BWS "="` (not `token68=` ending the challenge): true when what follows is an auth-param. */
function atParam(c: Cursor): boolean {
  const save = c.i;
  const name = c.token();
  c.ows();
  let isParam = name.length > 0 && c.peek() === '=';
  if (isParam) {
    // `name=` then `=`, `,` or the end is a token68 (`abc==`): a value cannot be empty.
    c.i++;
    c.ows();
    isParam = !c.done && c.peek() !== '=' && c.peek() !== ',';
  }
  c.i = save;
  return isParam;
}

/** Tries a token68 at the cursor: it must be followed by OWS then `,` or the end. */
function token68(c: Cursor): string | undefined {
  const save = c.i;
  while (!c.done && TOKEN68_CHAR.test(c.peek())) c.i++;
  if (c.i === save) return undefined;
  while (c.peek() === '=') c.i++;
  const value = c.s.slice(save, c.i);
  c.ows();
  if (c.done || c.peek() === ',') return value;
  c.i = save;
  return undefined;
}

function parseLine(line: string, out: Challenge[]): void {
  const c = new Cursor(line);
  const found: Challenge[] = [];
  for (;;) {
    // Empty list elements are allowed (RFC 9110 §5.6.1).
    while (c.peek() === ' ' || c.peek() === '\t' || c.peek() === ',') c.i++;
    if (c.done) break;
    const scheme = c.token();
    if (scheme.length === 0) throw new Malformed('expected an auth-scheme');
    const params = new Map<string, string>();
    let t68: string | undefined;
    if (c.peek() === ' ' || c.peek() === '\t') {
      c.ows();
      if (!c.done && c.peek() !== ',') {
        t68 = atParam(c) ? undefined : token68(c);
        if (t68 === undefined) {
          // #auth-param: name = value, separated by commas, until a comma followed by a new scheme.
          for (;;) {
            const name = c.token().toLowerCase();
            if (name.length === 0) throw new Malformed('expected an auth-param name');
            c.ows();
            if (c.peek() !== '=') throw new Malformed(`expected "=" after ${name}`);
            c.i++;
            c.ows();
            const value = c.peek() === '"' ? quoted(c) : c.token();
            if (params.has(name)) throw new Malformed(`auth-param ${name} given twice`);
            params.set(name, value);
            c.ows();
            if (c.done) break;
            if (c.peek() !== ',') throw new Malformed('expected "," between auth-params');
            // Look past the commas: another param of this challenge, or the next challenge.
            const save = c.i;
            while (c.peek() === ',' || c.peek() === ' ' || c.peek() === '\t') c.i++;
            if (c.done) break;
            if (!atParam(c)) {
              c.i = save;
              break;
            }
          }
        }
      }
    }
    c.ows();
    if (!c.done && c.peek() !== ',') throw new Malformed('expected "," between challenges');
    found.push({ scheme: scheme.toLowerCase(), token68: t68, params });
  }
  out.push(...found);
}

/**
 * Parses `Proxy-Authenticate` field lines (each may hold several challenges).
 * Never throws: a line that does not follow the grammar is counted in `malformed` and skipped.
 */
export function parseChallenges(lines: readonly string[]): ParsedChallenges {
  const challenges: Challenge[] = [];
  let malformed = 0;
  for (const line of lines) {
    if (line.length > MAX_CHALLENGE_LINE) {
      malformed++;
      continue;
    }
    try {
      parseLine(line, challenges);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      malformed++;
    }
  }
  return { challenges, malformed };
}

/** A parameter value written as a quoted-string (RFC 9110 §5.6.4), `"` and `\` escaped. */
export function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (ch) => `\\${ch}`)}"`;
}
