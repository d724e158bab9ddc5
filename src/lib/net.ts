import { BlockList, isIP } from 'node:net';

// Whether a host name or address is this machine's loopback (127.0.0.0/8, ::1, localhost), with
// or without the brackets of an IPv6 URL host. Plain http, and listening without TLS, are
// accepted only there.
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return Boolean(m && m.slice(1).every((o) => Number(o) <= 255));
}

export class CidrError extends Error {}

/** Parses "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32" into its address, prefix length and family. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const m = /^([^/]*)(?:\/(\d{1,3}))?$/.exec(text.trim());
  const v = isIP(m?.[1] ?? '');
  if (!m || !v) throw new CidrError(`"${text.slice(0, 50)}" is not an IP address or CIDR range`);
  const max = v === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) throw new CidrError(`"${text.slice(0, 50)}" has an invalid prefix length`);
  return { address: m[1]!, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * The IPv4 prefix length a range covers, for an IPv4 range or an IPv6 one that takes in
 * IPv4-mapped addresses (::ffff:0:0/96: a proxy connecting over IPv4 to a dual-stack socket);
 * null for an IPv6 range that holds none of them.
 */
export function ipv4PrefixOf(r: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }): number | null {
  if (r.family === 'ipv4') return r.prefix;
  const range = new BlockList();
  range.addSubnet(r.address, r.prefix, 'ipv6');
  if (r.prefix <= 96) return range.check('::ffff:0.0.0.0', 'ipv6') ? 0 : null;
  return isIP(canonicalAddress(r.address) ?? '') === 4 ? r.prefix - 96 : null;
}

/**
 * An address as one text for every way of writing it: IPv4 dotted, an IPv4-mapped IPv6 address
 * as IPv4, IPv6 compressed in lower case without a zone; brackets and a port (as some proxies
 * write them in X-Forwarded-For) taken off. Null for what is no address.
 */
export function canonicalAddress(text: string): string | null {
  let a = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(a);
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(a);
  if (bracketed) a = bracketed[1]!;
  else if (withPort) a = withPort[1]!;
  a = a.replace(/%.*$/, '');
  const v = isIP(a);
  if (v === 4) return a;
  if (v !== 6) return null;
  const host = new URL(`http://[${a}]`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** The addresses of a list of ranges, for membership tests (BlockList.check). */
export function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const { address, prefix, family } = parseCidr(c);
    list.addSubnet(address, prefix, family);
  }
  return list;
}

/** Whether an address, however it is written (canonicalAddress), is in the ranges; what is no address is not. */
export function inRanges(list: BlockList, address: string): boolean {
  const a = canonicalAddress(address);
  return a !== null && list.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4');
}
