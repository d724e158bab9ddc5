// Bech32 (BIP 173, constant 1 — not Bech32m) without the 90-character length limit,
// as age specifies it for recipients ("age1...") and identities ("AGE-SECRET-KEY-1...").
//
// Invariants:
// - a string is either all lowercase or all uppercase; mixed case is rejected;
// - the checksum is computed over the lowercased HRP and data;
// - decoded data must use zero padding bits (canonical 5-to-8 bit regrouping);
// - the HRP is returned in the case it was written in, so callers can insist on it.

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >>> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function regroup(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | null {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const maxv = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    acc = (acc << from) | data[i]!;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >>> bits) & maxv);
    }
    acc &= (1 << bits) - 1;
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || acc !== 0) {
    return null;
  }
  return out;
}

/** Encodes bytes under `hrp`; the output is lowercase unless `upper`. */
export function bech32Encode(hrp: string, data: Uint8Array, upper = false): string {
  const lower = hrp.toLowerCase();
  const words = regroup(data, 8, 5, true)!;
  const pm = polymod([...hrpExpand(lower), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  let out = lower + '1';
  for (const w of words) out += CHARSET[w];
  for (let i = 0; i < 6; i++) out += CHARSET[(pm >>> (5 * (5 - i))) & 31];
  return upper ? out.toUpperCase() : out;
}

/** Decodes a Bech32 string; null on any syntax, case or checksum error. */
export function bech32Decode(text: string): { hrp: string; data: Buffer } | null {
  const lower = text.toLowerCase();
  if (text !== lower && text !== text.toUpperCase()) return null;
  const sep = lower.lastIndexOf('1');
  if (sep < 1 || sep + 7 > lower.length) return null;
  const hrp = lower.slice(0, sep);
  for (let i = 0; i < hrp.length; i++) {
    const c = hrp.charCodeAt(i);
    if (c < 33 || c > 126) return null;
  }
  const words: number[] = [];
  for (let i = sep + 1; i < lower.length; i++) {
    const w = CHARSET.indexOf(lower[i]!);
    if (w < 0) return null;
    words.push(w);
  }
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) return null;
  const bytes = regroup(words.slice(0, -6), 5, 8, false);
  if (bytes === null) return null;
  return { hrp: text.slice(0, sep), data: Buffer.from(bytes) };
}
