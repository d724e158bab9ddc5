// Upload-Metadata of a simulated live call. Values are base64 (tus 1.0: "key value,key value").
//
// Phone numbers come from the Swedish ranges that the regulator (PTS) reserves for fiction,
// 070-174 06 05..99 and 031-390 06 00..99: they belong to nobody, so a simulated recording can
// never point at a real person.

export type G711Codec = 'pcmu' | 'pcma';

export interface CallDescription {
  startedAt: string;
  direction: 'inbound' | 'outbound';
  careUnit: string;
  agentId: string;
  callId: string;
  caller: string;
  callee: string;
  codec: G711Codec;
  sampleRate: number;
  channels: 1 | 2;
}

const KEY = /^[A-Za-z0-9_.-]+$/;

/** Encodes tus Upload-Metadata. Keys are checked (no spaces or commas); undefined values are left out. */
export function encodeUploadMetadata(fields: Record<string, string | number | undefined>): string {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (!KEY.test(key)) throw new TypeError(`metadata key "${key}" must be letters, digits, _ . or -`);
    const text = String(value);
    pairs.push(text === '' ? key : `${key} ${Buffer.from(text, 'utf8').toString('base64')}`);
  }
  return pairs.join(',');
}

/** A fictional Swedish mobile number, +46701740605 .. +46701740699. */
export function fictionalMobile(n: number): string {
  return `+467017406${String(5 + (Math.abs(Math.trunc(n)) % 95)).padStart(2, '0')}`;
}

/** A fictional Gothenburg number, +46313900600 .. +46313900699. */
export function fictionalLandline(n: number): string {
  return `+463139006${String(Math.abs(Math.trunc(n)) % 100).padStart(2, '0')}`;
}

/** The description of the `index`-th call of a run: deterministic but for the start time. */
export function describeCall(opts: {
  index: number;
  runId: string;
  careUnit: string;
  codec: G711Codec;
  channels: 1 | 2;
  startedAt: Date;
}): CallDescription {
  const i = opts.index;
  const inbound = i % 5 !== 4; // four in five calls come in
  const person = fictionalMobile(i * 7 + 3);
  const line = fictionalLandline(i % 10);
  return {
    startedAt: opts.startedAt.toISOString(),
    direction: inbound ? 'inbound' : 'outbound',
    careUnit: opts.careUnit,
    agentId: `agent-${(i % 40) + 1}`,
    callId: `sim-${opts.runId}-${i}`,
    caller: inbound ? person : line,
    callee: inbound ? line : person,
    codec: opts.codec,
    sampleRate: 8000,
    channels: opts.channels,
  };
}

export function callMetadataHeader(d: CallDescription): string {
  return encodeUploadMetadata({ ...d });
}
