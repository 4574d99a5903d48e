/**
 * The cookie-date parsing algorithm of RFC 6265bis §5.1.1: the lenient
 * reading of `Expires` that browsers share (tokens in any order, two-digit
 * years, trailing junk after each field).
 */

// Delimiters: %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E.
function isDelimiter(c: number): boolean {
  return c === 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** `min*maxDIGIT ( non-digit *OCTET )` at the start of `token`: its value, or -1. */
function leadingNumber(token: string, min: number, max: number): number {
  let n = 0;
  while (n < token.length && isDigit(token.charCodeAt(n))) n++;
  if (n < min || n > max) return -1;
  return Number(token.slice(0, n));
}

/** `hms-time ( non-digit *OCTET )`: [hour, minute, second], or undefined. */
function time(token: string): [number, number, number] | undefined {
  const m = /^(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D|$)/.exec(token);
  if (m === null) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/**
 * Parses a cookie-date (RFC 6265bis §5.1.1) into milliseconds since the
 * epoch, or undefined when the algorithm fails (a field missing or out of
 * range, a day that does not exist in that month, a year before 1601).
 */
export function parseCookieDate(s: string): number | undefined {
  let hms: [number, number, number] | undefined;
  let day = -1;
  let month = -1;
  let year = -1;
  let i = 0;
  while (i < s.length) {
    while (i < s.length && isDelimiter(s.charCodeAt(i))) i++;
    const start = i;
    while (i < s.length && !isDelimiter(s.charCodeAt(i))) i++;
    if (start === i) continue;
    const token = s.slice(start, i);
    if (hms === undefined) {
      const t = time(token);
      if (t !== undefined) {
        hms = t;
        continue;
      }
    }
    if (day < 0) {
      const d = leadingNumber(token, 1, 2);
      if (d >= 0) {
        day = d;
        continue;
      }
    }
    if (month < 0 && token.length >= 3) {
      const m = MONTHS.indexOf(token.slice(0, 3).toLowerCase());
      if (m >= 0) {
        month = m;
        continue;
      }
    }
    if (year < 0) {
      const y = leadingNumber(token, 2, 4);
      if (y >= 0) {
        year = y;
        continue;
      }
    }
  }
  if (year >= 70 && year <= 99) year += 1900;
  else if (year >= 0 && year <= 69) year += 2000;
  if (hms === undefined || day < 0 || month < 0 || year < 0) return undefined;
  const [hour, minute, second] = hms;
  if (day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59) return undefined;
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(hour, minute, second, 0);
  // A day that does not exist in that month (Feb 30) rolls over: refuse it.
  if (d.getUTCDate() !== day || d.getUTCMonth() !== month) return undefined;
  return d.getTime();
}
