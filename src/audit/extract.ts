// A patient's log extract (PDL 8 kap. 5 §): every access to the patient's recordings, with
// who (role and care unit, and the user for those entitled to see it), what and when. The
// patient is found by pseudonym (the keyed blind index of a phone number or personnummer);
// no number is stored or printed here.
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { NUMBER_COLUMNS, pseudonymOfIndex, type BlindIndex } from '../catalog/blind-index.ts';
import { toE164 } from '../catalog/phone.ts';
import type { Database } from '../catalog/schema.ts';
import { parsePersonnummer } from './personnummer.ts';

export const ACCESS_ACTIONS = ['recordings.listed', 'recording.viewed', 'recording.played', 'recording.downloaded', 'recording.exported', 'recording.denied', 'access.break_glass', 'recording.erased'] as const;

const LABELS: Record<string, { en: string; sv: string }> = {
  'recordings.listed': { en: 'searched for the calls', sv: 'sökte efter samtalen' },
  'recording.viewed': { en: 'viewed the call details', sv: 'visade samtalets uppgifter' },
  'recording.played': { en: 'listened to the call', sv: 'lyssnade på samtalet' },
  'recording.downloaded': { en: 'downloaded the call', sv: 'laddade ned samtalet' },
  'recording.exported': { en: 'exported the call', sv: 'exporterade samtalet' },
  'recording.erased': { en: 'erased the call', sv: 'raderade samtalet' },
  'access.break_glass': { en: 'took emergency access to the call (break-glass)', sv: 'tog nödåtkomst till samtalet' },
  'recording.denied': { en: 'was refused access', sv: 'nekades åtkomst' },
};

export interface ExtractEntry {
  seq: number;
  at: string;
  action: string;
  what: { en: string; sv: string };
  recording: string | null;
  careUnit: string | null;
  actor: { type: string; role: string | null; id?: string | null };
  outcome: string;
  /** Made under a break-glass grant (emergency access), rather than within the person's own scope. */
  emergencyAccess: boolean;
  range?: { start: number; end: number };
}

const EMERGENCY = { en: ' under emergency access (break-glass)', sv: ' med nödåtkomst' };

/** Who an extract is for: their pseudonym, and how their calls are found in the catalog. */
export interface Patient {
  pseudonym: string;
  subject: string;
  /** The catalog columns that hold the patient's blind index on their calls, and that index. */
  calls: { columns: ReadonlyArray<'caller_index' | 'callee_index' | 'patient_index'>; index: Buffer };
}

/**
 * The patient a phone number or a personnummer (samordningsnummer) names; throws
 * PhoneNumberError or PersonnummerError, whose messages never repeat the number.
 */
export function patientOf(blindIndex: BlindIndex, who: { phone?: string; personnummer?: string }): Patient {
  if (who.phone !== undefined) {
    const index = blindIndex.phone(toE164(who.phone));
    return { pseudonym: pseudonymOfIndex(index)!, subject: 'telefonnummer / phone number', calls: { columns: NUMBER_COLUMNS, index } };
  }
  const p = parsePersonnummer(who.personnummer ?? '');
  const index = blindIndex.personnummerIndex(p.normalized);
  return { pseudonym: pseudonymOfIndex(index)!, subject: p.kind, calls: { columns: ['patient_index'], index } };
}

/** The access events that name the patient or concern one of their calls, in log order; both halves are read through an index (audit_patient, audit_object). */
export function accessEvents(db: Kysely<Database>, pseudonym: string, calls: string[]) {
  return db.selectFrom('audit_events').selectAll()
    .where((eb) => eb.or([eb('patient_pseudonym', '=', pseudonym), ...(calls.length > 0 ? [eb('object_id', 'in', calls)] : [])]))
    .where('action', 'in', [...ACCESS_ACTIONS]).orderBy('seq');
}

/**
 * Every access event about the patient: those that carry their pseudonym, and those about any
 * of their calls (found by the blind index the call was filed with: their number as caller or
 * callee, or the personnummer declared at ingest).
 */
export async function patientExtract(db: Kysely<Database>, patient: Patient, opts: { showUsers: boolean }): Promise<ExtractEntry[]> {
  const { columns, index } = patient.calls;
  const calls = (await db.selectFrom('recordings').select('id').where((eb) => eb.or(columns.map((c) => eb(c, '=', index)))).execute()).map((r) => r.id);
  const rows = await accessEvents(db, patient.pseudonym, calls).execute();
  return rows.map((r) => {
    const details = r.details ? (JSON.parse(r.details) as { role?: string; start?: number; end?: number; breakGlass?: string }) : {};
    const what = LABELS[r.action] ?? { en: r.action, sv: r.action };
    const emergencyAccess = typeof details.breakGlass === 'string';
    return {
      seq: r.seq, at: new Date(r.at).toISOString(), action: r.action,
      what: emergencyAccess ? { en: what.en + EMERGENCY.en, sv: what.sv + EMERGENCY.sv } : what,
      recording: r.object_id, careUnit: r.care_unit, outcome: r.outcome, emergencyAccess,
      actor: { type: r.actor_type, role: details.role ?? null, ...(opts.showUsers ? { id: r.actor_id } : {}) },
      ...(typeof details.start === 'number' && typeof details.end === 'number' ? { range: { start: details.start, end: details.end } } : {}),
    };
  });
}

const EXTRACT_CSS = 'body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;font-size:.9rem}@media print{body{margin:0}}';

/** The page's own Content-Security-Policy: nothing may load or run; only its one style block applies. */
export const EXTRACT_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(EXTRACT_CSS).digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A printable, self-contained page in Swedish and English. */
export function extractHtml(entries: ExtractEntry[], meta: { producedAt: string; subject: string }): string {
  const rows = entries.map((e) => `<tr><td>${esc(e.at.replace('T', ' ').slice(0, 19))} UTC</td><td>${esc(e.actor.role ?? e.actor.type)}${e.actor.id ? ` (${esc(e.actor.id)})` : ''}</td>` +
    `<td>${esc(e.careUnit)}</td><td>${esc(e.what.sv)} / ${esc(e.what.en)}</td><td>${esc(e.recording)}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Loggutdrag / Log extract</title>
<style>${EXTRACT_CSS}</style>
</head><body>
<h1>Loggutdrag för inspelade samtal / Log extract of recorded calls</h1>
<p>Enligt patientdatalagen 8 kap. 5 § / Under the Swedish Patient Data Act, chapter 8, section 5.</p>
<p>Avser / Subject: ${esc(meta.subject)}. Framställt / Produced: ${esc(meta.producedAt)}. Poster / Entries: ${entries.length}.</p>
<table><thead><tr><th>Tid / Time</th><th>Vem / Who</th><th>Vårdenhet / Care unit</th><th>Vad / What</th><th>Samtal / Call</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="5">Inga åtkomster / No access recorded</td></tr>'}
</tbody></table>
</body></html>
`;
}
