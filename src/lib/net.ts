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
  const [address, bits] = text.trim().split('/');
  const v = isIP(address ?? '');
  if (!v) throw new CidrError(`"${text.slice(0, 50)}" is not an IP address or CIDR range`);
  const max = v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!/^\d{1,3}$/.test(bits ?? String(max)) || prefix > max) throw new CidrError(`"${text.slice(0, 50)}" has an invalid prefix length`);
  return { address: address!, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
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

/** Whether an address (IPv4, IPv6, or IPv4 mapped into IPv6) is in the ranges; anything else is not. */
export function inRanges(list: BlockList, address: string): boolean {
  const a = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  const v = isIP(a);
  return v !== 0 && list.check(a, v === 6 ? 'ipv6' : 'ipv4');
}
