/**
 * The functions a PAC script may call, as burrow gives them: the standard
 * helpers of pac-resolver (pure string and date functions), and burrow's own
 * for everything that touches the network or the host, so that a script never
 * makes burrow open a socket: `myIpAddress()` reads the host's interfaces
 * (pac-resolver's would connect to 8.8.8.8:53), and the DNS helpers answer
 * synchronously from the call's own table of names resolved, recording the
 * names it lacks: the engine resolves those through the request's `lookup`
 * (or `dns.lookup`) and runs the script again (`engine.ts`). The IPv6-aware
 * `Ex` helpers (Microsoft's extension, also in Chrome) are burrow's too.
 */
import { lookup as systemLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { sandbox as standard } from 'pac-resolver';

/** An address as a DNS lookup gives it. */
export interface PacAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** A DNS lookup for the helpers: resolves a name to its addresses. */
export type PacLookup = (host: string) => Promise<readonly PacAddress[]>;

/** A DNS lookup's budget: the time (performance.now()) by which the call must end. */
export interface LookupBudget {
  readonly lookup: PacLookup | undefined;
  readonly deadline: number;
}

/** What the helpers need from the call in progress. */
export interface HelperContext {
  /** The addresses of `host` if known (an IP address, or a name resolved earlier in the call); else undefined, and the name is recorded to be resolved. */
  addresses(host: string): readonly PacAddress[] | undefined;
}

/** The longest one lookup of a helper may take, ms (within the call's own deadline). */
export const HELPER_LOOKUP_MS = 5000;

const defaultLookup: PacLookup = (host) =>
  new Promise((resolve, reject) => {
    systemLookup(host, { all: true }, (err, addrs) => {
      if (err) reject(err);
      else resolve(addrs.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  });

/** The addresses of `host` (itself when it is an IP address); `[]` on failure or when the deadline comes first. */
export async function resolveAll(ctx: LookupBudget, host: string): Promise<readonly PacAddress[]> {
  if (typeof host !== 'string' || host === '') return [];
  const literal = literalAddress(host);
  if (literal !== undefined) return [literal];
  const budget = Math.min(HELPER_LOOKUP_MS, ctx.deadline - performance.now());
  if (!(budget > 0)) return [];
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      (ctx.lookup ?? defaultLookup)(host),
      new Promise<readonly PacAddress[]>((resolve) => {
        timer = setTimeout(() => resolve([]), budget);
      }),
    ]);
  } catch {
    return [];
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** The host's addresses, external interfaces only, link-local IPv6 left out. */
function hostAddresses(): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') v4.push(a.address);
      else if (a.scopeid === undefined || a.scopeid === 0) v6.push(a.address);
    }
  }
  return { v4, v6 };
}

/** `myIpAddress()`: the first external IPv4 address of the host's interfaces, else 127.0.0.1. No socket is opened. */
export function myIpAddress(): string {
  return hostAddresses().v4[0] ?? '127.0.0.1';
}

/** `myIpAddressEx()`: every external address of the host, IPv6 first, separated by `;` (else `127.0.0.1`). */
export function myIpAddressEx(): string {
  const { v4, v6 } = hostAddresses();
  const all = [...v6, ...v4];
  return all.length === 0 ? '127.0.0.1' : all.join(';');
}

function ipv4ToInt(s: string): number | undefined {
  if (isIP(s) !== 4) return undefined;
  return s.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** `isInNet` on an address already resolved: `pattern`/`mask` in dotted form, as Netscape's spec has it. */
export function ipv4InNet(ip: string, pattern: string, mask: string): boolean {
  const a = ipv4ToInt(ip);
  const p = ipv4ToInt(String(pattern));
  const m = ipv4ToInt(String(mask));
  if (a === undefined || p === undefined || m === undefined) return false;
  return ((a & m) >>> 0) === ((p & m) >>> 0);
}

/** True when `ip` is in `prefix` (`198.95.0.0/16`, `2001:db8::/32`); false for anything malformed. */
export function inPrefix(ip: string, prefix: string): boolean {
  const slash = String(prefix).lastIndexOf('/');
  if (slash < 0) return false;
  const net = prefix.slice(0, slash);
  const bits = prefix.slice(slash + 1);
  const fam = isIP(net);
  if (fam === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128)) return false;
  const ipFam = isIP(ip);
  if (ipFam !== fam) return false;
  const list = new BlockList();
  const type = fam === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(net, Number(bits), type);
  return list.check(ip, type);
}

function ipv6Words(s: string): number[] {
  const [head = '', tail] = s.split('::');
  const words = (part: string): string[] => (part === '' ? [] : part.split(':'));
  let left = words(head);
  let right = tail === undefined ? [] : words(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two words.
  const embed = (list: string[]): string[] => {
    const last = list[list.length - 1];
    if (last === undefined || !last.includes('.')) return list;
    const n = ipv4ToInt(last) ?? 0;
    return [...list.slice(0, -1), (n >>> 16).toString(16), (n & 0xffff).toString(16)];
  };
  if (tail === undefined) left = embed(left);
  else right = embed(right);
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((w) => parseInt(w, 16));
}

/** `sortIpAddressList(list)`: `;`-separated addresses sorted, IPv6 first, each family in numeric order; `''` if one is not an address. */
export function sortIpAddressList(list: string): string {
  if (typeof list !== 'string' || list === '') return '';
  const items = list.split(';').map((s) => s.trim());
  if (items.some((s) => isIP(s) === 0)) return '';
  const key = (s: string): number[] => (isIP(s) === 6 ? [0, ...ipv6Words(s)] : [1, ipv4ToInt(s) ?? 0]);
  return items
    .map((s) => ({ s, k: key(s) }))
    .sort((x, y) => {
      for (let i = 0; i < Math.max(x.k.length, y.k.length); i++) {
        const d = (x.k[i] ?? 0) - (y.k[i] ?? 0);
        if (d !== 0) return d;
      }
      return 0;
    })
    .map((e) => e.s)
    .join(';');
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

type DateField = 'day' | 'month' | 'year';

/** One argument of dateRange: a month name, a day (1–31) or a year. */
function dateArg(v: unknown): { field: DateField; value: number } | undefined {
  if (typeof v === 'string' && MONTHS.includes(v.toUpperCase())) return { field: 'month', value: MONTHS.indexOf(v.toUpperCase()) };
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1) return undefined;
  return n < 32 ? { field: 'day', value: n } : { field: 'year', value: n };
}

/**
 * `dateRange(…)` as Netscape specified it: one day, month or year, or a range
 * of them (`day1, day2`, `month1, month2`, `year1, year2`, `day1, month1, day2,
 * month2`, `month1, year1, month2, year2`, `day1, month1, year1, day2, month2,
 * year2`), inclusive, `GMT` last for UTC. A range without years may wrap
 * (`dateRange('NOV', 'FEB')`). (pac-resolver's is a stub that returns false.)
 */
export function dateRange(...input: unknown[]): boolean {
  const gmt = input[input.length - 1] === 'GMT';
  const args = (gmt ? input.slice(0, -1) : input).map(dateArg);
  if (args.length === 0 || args.length > 6 || args.some((a) => a === undefined)) return false;
  const parsed = args as Array<{ field: DateField; value: number }>;
  const now = new Date();
  const today: Record<DateField, number> = gmt
    ? { year: now.getUTCFullYear(), month: now.getUTCMonth(), day: now.getUTCDate() }
    : { year: now.getFullYear(), month: now.getMonth(), day: now.getDate() };
  if (parsed.length === 1) {
    const only = parsed[0] as { field: DateField; value: number };
    return today[only.field] === only.value;
  }
  if (parsed.length % 2 !== 0) return false;
  const half = parsed.length / 2;
  const from = parsed.slice(0, half);
  const to = parsed.slice(half);
  const fields = from.map((a) => a.field);
  if (to.some((a, i) => a.field !== fields[i]) || new Set(fields).size !== fields.length) return false;
  const order: DateField[] = ['year', 'month', 'day'];
  const used = order.filter((f) => fields.includes(f));
  const key = (get: (f: DateField) => number): number => used.reduce((k, f) => k * 10000 + get(f), 0);
  const valueOf = (list: typeof from) => (f: DateField): number => (list.find((a) => a.field === f) as { value: number }).value;
  const start = key(valueOf(from));
  const end = key(valueOf(to));
  const at = key((f) => today[f]);
  if (start <= end) return start <= at && at <= end;
  return !used.includes('year') && (at >= start || at <= end);
}

/** A function a script may call: takes and returns plain values. */
export type Helper = (...args: never[]) => string | number | boolean | null | undefined;

/** The literal address `host` names, if it is one (IPv6 with or without brackets). */
export function literalAddress(host: string): PacAddress | undefined {
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const fam = isIP(literal);
  return fam === 0 ? undefined : { address: literal, family: fam === 6 ? 6 : 4 };
}

/**
 * The functions given to a script: the standard ones, with those that touch
 * the network or the host replaced, and the `Ex` variants. `current()` gives
 * the call in progress (calls on one script never overlap).
 */
export function pacHelpers(current: () => HelperContext): Record<string, Helper> {
  const all = (host: unknown): readonly PacAddress[] => (typeof host === 'string' && host !== '' ? (current().addresses(host) ?? []) : []);
  const first4 = (host: string): string | null => all(host).find((a) => a.family === 4)?.address ?? null;
  return {
    isPlainHostName: standard.isPlainHostName,
    dnsDomainIs: standard.dnsDomainIs,
    localHostOrDomainIs: standard.localHostOrDomainIs,
    dnsDomainLevels: standard.dnsDomainLevels,
    shExpMatch: standard.shExpMatch,
    weekdayRange: standard.weekdayRange as Helper,
    dateRange: dateRange as Helper,
    timeRange: standard.timeRange as Helper,
    // Nothing of a script reaches the host's output.
    alert: () => undefined,
    myIpAddress,
    myIpAddressEx,
    getClientVersion: () => '1.0',
    sortIpAddressList,
    dnsResolve: first4,
    isResolvable: (host: string) => first4(host) !== null,
    isInNet: (host: string, pattern: string, mask: string) => {
      const ip = first4(host);
      return ip !== null && ipv4InNet(ip, pattern, mask);
    },
    dnsResolveEx: (host: string) => all(host).map((a) => a.address).join(';'),
    isResolvableEx: (host: string) => all(host).length > 0,
    isInNetEx: (host: string, prefix: string) => all(host).some((a) => inPrefix(a.address, prefix)),
  };
}
