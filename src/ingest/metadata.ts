// tus Upload-Metadata: "key base64,key base64,...". Parsed strictly: an unknown or malformed
// field is refused with its reason. Error messages name keys, never values (a value may be a
// phone number).
import { AGENT_ID, AGENT_ID_RULE, CARE_UNIT, CARE_UNIT_RULE } from '../catalog/names.ts';
import { z } from 'zod';
import { PhoneNumberError, toE164 } from '../catalog/phone.ts';
import { parsePersonnummer, PersonnummerError } from '../audit/personnummer.ts';
import { HttpError } from '../http/errors.ts';
import { DATE_TIME, parseIsoDateTime } from '../lib/iso-time.ts';
import { AudioError, validateDeclaration, type AudioDeclaration } from './audio.ts';

/** Accepted for the sake of common tus clients and thrown away: legacy file names carry phone numbers. */
const DISCARDED = new Set(['filename', 'filetype', 'name', 'type']);


const phone = z.string().transform((v, ctx) => {
  try {
    return toE164(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof PhoneNumberError ? err.message : 'not a phone number' });
    return z.NEVER;
  }
});

export const uploadMetadataSchema = z.strictObject({
  callId: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 visible ASCII characters').optional(),
  startedAt: z.string().regex(DATE_TIME, 'must be an ISO 8601 date-time with a time zone, e.g. 2026-11-25T08:30:00Z')
    .transform((v, ctx) => {
      const t = parseIsoDateTime(v);
      if (t === null) {
        ctx.addIssue({ code: 'custom', message: 'is not a real date-time' });
        return z.NEVER;
      }
      return t;
    }),
  direction: z.enum(['inbound', 'outbound'], { error: 'must be inbound or outbound' }),
  careUnit: z.string().regex(CARE_UNIT, CARE_UNIT_RULE),
  agentId: z.string().regex(AGENT_ID, AGENT_ID_RULE).optional(),
  caller: phone.optional(),
  callee: phone.optional(),
  // The patient the call is about, when known: personnummer or samordningsnummer, normalized to
  // twelve digits; only its blind index is kept.
  patientId: z.string().transform((v, ctx) => {
    try {
      return parsePersonnummer(v).normalized;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof PersonnummerError ? err.message : 'not a personnummer' });
      return z.NEVER;
    }
  }).optional(),
  // The audio: a WAV or Ogg/Opus stream describes itself; raw G.711 needs its rate and channels.
  codec: z.string().max(16).optional(),
  sampleRate: z.string().max(8).optional(),
  channels: z.string().max(2).optional(),
});

export type UploadMetadata = z.infer<typeof uploadMetadataSchema> & { audio: AudioDeclaration };

export function parseUploadMetadata(header: string | undefined): UploadMetadata {
  if (header === undefined || header.trim() === '') {
    throw new HttpError(400, 'Upload-Metadata is required (startedAt, direction and careUnit at least)');
  }
  if (header.length > 4096) throw new HttpError(400, 'Upload-Metadata is too long');
  // No prototype: a key such as __proto__ is a field like any other (and refused as unknown).
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const pair of header.split(',')) {
    const m = /^\s*([^\s,]+)(?: ([A-Za-z0-9+/]*={0,2}))?\s*$/.exec(pair);
    if (!m) throw new HttpError(400, 'Upload-Metadata is malformed: expected "key base64value" pairs separated by commas');
    const key = m[1]!;
    const safeKey = key.replace(/[^\w.-]/g, '?').slice(0, 32);
    if (Object.hasOwn(fields, key)) throw new HttpError(400, `Upload-Metadata: key "${safeKey}" appears twice`);
    const raw = m[2] ?? '';
    const bytes = Buffer.from(raw, 'base64');
    if (bytes.toString('base64').replace(/=+$/, '') !== raw.replace(/=+$/, '')) {
      throw new HttpError(400, `Upload-Metadata: value of "${safeKey}" is not valid base64`);
    }
    const value = bytes.toString('utf8');
    if (!bytes.equals(Buffer.from(value, 'utf8'))) throw new HttpError(400, `Upload-Metadata: value of "${safeKey}" is not UTF-8`);
    fields[key] = value;
  }
  for (const k of DISCARDED) delete fields[k];
  const parsed = uploadMetadataSchema.safeParse(fields, { reportInput: true });
  if (!parsed.success) {
    const reasons = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') return `unknown key(s) ${i.keys.map((k) => `"${k.replace(/[^\w.-]/g, '?').slice(0, 32)}"`).join(', ')}`;
      const key = String(i.path[0] ?? '');
      return i.input === undefined ? `"${key}" is required` : `"${key}" ${i.message}`;
    });
    throw new HttpError(400, `Upload-Metadata: ${reasons.join('; ')}`);
  }
  try {
    return { ...parsed.data, audio: validateDeclaration({ codec: parsed.data.codec, sampleRate: parsed.data.sampleRate, channels: parsed.data.channels }) };
  } catch (err) {
    if (err instanceof AudioError) throw new HttpError(400, `Upload-Metadata: ${err.message}`);
    throw err;
  }
}
