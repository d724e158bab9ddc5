// Whether a host name or address is this machine's loopback (127.0.0.0/8, ::1, localhost), with
// or without the brackets of an IPv6 URL host. Plain http, and listening without TLS, are
// accepted only there.
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return Boolean(m && m.slice(1).every((o) => Number(o) <= 255));
}
