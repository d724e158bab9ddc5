// /api/v1/audit: what auditors need in the browser. The event timeline with filters, the log's
// verification status, alerts, and a patient's log extract. Reading the log is itself logged.
import { z } from 'zod';
import { isoInstant, parseIsoInstant } from '../lib/iso-time.ts';
import { actorOf, type Principal } from '../access/policy.ts';
import { PhoneNumberError } from '../catalog/phone.ts';
import type { BlindIndex } from '../catalog/blind-index.ts';
import type { Catalog } from '../catalog/db.ts';
import { HttpError } from '../http/errors.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { AUDIT_ACTIONS } from './events.ts';
import { EXTRACT_CSP, extractHtml, patientExtract, patientOf, type Patient } from './extract.ts';
import type { AuditLog } from './log.ts';
import { PersonnummerError } from './personnummer.ts';
import { readTimeline } from './timeline.ts';
import { proveEntry, type VerifyReport } from './verify.ts';

const eventsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.coerce.number().int().min(1).optional(),
  action: z.string().max(64).refine((a) => a in AUDIT_ACTIONS || /^[a-z]+\.$/.test(a), 'unknown action (give a full action or a prefix like "auth.")').optional(),
  actor: z.string().regex(/^[0-9a-z][0-9a-z._-]{0,63}$/, 'an actor id or a username').optional(),
  recording: z.string().regex(/^[0-9a-f]{32}$/, 'a recording id').optional(),
  outcome: z.enum(['success', 'denied', 'failure']).optional(),
  from: isoInstant.optional(),
  to: isoInstant.optional(),
});
// A sequence number as written in the log: digits only (not 0x3, 1e0 or " 2").
const seqParams = z.object({ seq: z.string().regex(/^[1-9]\d{0,15}$/, 'a sequence number: 1, 2, 3...').transform(Number).refine(Number.isSafeInteger, 'too large') });
const extractBody = z.strictObject({
  phone: z.string().max(40).optional(),
  personnummer: z.string().max(20).optional(),
  format: z.enum(['json', 'html']).default('json'),
}).refine((b) => (b.phone === undefined) !== (b.personnummer === undefined), 'give either phone or personnummer');

export interface AuditRouteDeps {
  db: Catalog;
  audit: AuditLog;
  blindIndex: BlindIndex;
  /** Verifies the whole log against its signed checkpoints and witness copies. */
  verify: () => Promise<VerifyReport>;
}

export function auditRoutes(deps: AuditRouteDeps): RouteDef[] {
  const { db, audit } = deps;
  let lastVerification: { at: string; ok: boolean; entries: number; latestCheckpoint: number | null; problems: string[] } | null = null;
  const info = (p: Principal, requestId: string, source: string) => ({ actor: actorOf(p), requestId, source });

  return [
    defineRoute({
      method: 'GET', url: '/api/v1/audit/events', tag: 'audit', policy: { permission: 'audit:read' }, query: eventsQuery,
      summary: 'Audit events, newest first; filters: action (or prefix), actor (an id or a username), recording, outcome, from, to; page with `before` (a seq)',
      responses: { 200: '{ items, next }' },
      async handler({ principal, query, requestId, source }) {
        // The actor by username or id: a person's name stands for their id (the log holds ids).
        const named = query.actor ? await db.selectFrom('users').select('id').where('username', '=', query.actor).executeTakeFirst() : undefined;
        const { items, next } = await readTimeline(db, {
          ...query, actor: named?.id ?? query.actor, from: query.from ? parseIsoInstant(query.from)! : undefined, to: query.to ? parseIsoInstant(query.to)! : undefined,
        });
        const { before: _b, limit: _l, ...filters } = query;
        await audit.record({ action: 'audit.searched', ...info(principal, requestId, source), outcome: 'success', details: { filters, count: items.length } });
        return { items, next };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/audit/status', tag: 'audit', policy: { permission: 'audit:read' },
      summary: "The log's size, its latest signed checkpoint and the last verification",
      responses: { 200: '{ entries, latestCheckpoint, lastVerification }' },
      async handler() {
        const size = await db.selectFrom('audit_events').select((eb) => eb.fn.max('seq').as('n')).executeTakeFirst();
        const cp = await db.selectFrom('audit_checkpoints').select(['size', 'created_at', 'note']).orderBy('size', 'desc').limit(1).executeTakeFirst();
        return {
          entries: Number(size?.n ?? 0),
          latestCheckpoint: cp ? { size: cp.size, at: new Date(cp.created_at).toISOString(), note: cp.note } : null,
          lastVerification,
        };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/audit/verify', tag: 'audit', policy: { permission: 'audit:read' },
      summary: 'Verify the whole log now: every entry against its hash, every checkpoint signature and witness copy',
      responses: { 200: '{ at, ok, entries, latestCheckpoint, problems }' },
      async handler({ principal, requestId, source }) {
        const r = await deps.verify();
        lastVerification = { at: new Date().toISOString(), ok: r.problems.length === 0, entries: r.entries, latestCheckpoint: r.latest?.size ?? null, problems: r.problems.slice(0, 20) };
        await audit.record({ action: 'audit.verified', ...info(principal, requestId, source), outcome: lastVerification.ok ? 'success' : 'failure', details: { entries: r.entries, problems: r.problems.length } });
        return lastVerification;
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/audit/proof/:seq', tag: 'audit', policy: { permission: 'audit:read' }, params: seqParams,
      summary: 'Inclusion proof (RFC 6962) of one entry in the latest signed checkpoint that covers it',
      responses: { 200: '{ seq, index, leafHash, size, rootHash, proof, checkpoint }', 404: 'no such entry' },
      async handler({ principal, params, requestId, source }) {
        const proof = await proveEntry(db, params.seq);
        if (!proof) throw new HttpError(404, `no audit entry ${params.seq}`);
        await audit.record({ action: 'audit.searched', ...info(principal, requestId, source), outcome: 'success', details: { proof: params.seq } });
        return proof;
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/audit/alerts', tag: 'audit', policy: { permission: 'audit:read' },
      summary: 'Alerts raised on unusual access, newest first',
      responses: { 200: '{ items }' },
      async handler({ principal, requestId, source }) {
        const rows = await db.selectFrom('audit_alerts').selectAll().orderBy('id', 'desc').limit(500).execute();
        await audit.record({ action: 'audit.searched', ...info(principal, requestId, source), outcome: 'success', details: { alerts: true, count: rows.length } });
        return { items: rows.map((r) => ({ id: r.id, at: new Date(r.at).toISOString(), rule: r.rule, actor: { type: r.actor_type, id: r.actor_id }, summary: r.summary, details: r.details ? JSON.parse(r.details) as unknown : null })) };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/audit/extract', tag: 'audit', policy: { permission: 'audit:extract' }, body: extractBody,
      summary: "A patient's log extract (PDL 8 kap. 5 §) by phone number or personnummer, as JSON or a printable page",
      responses: { 200: 'application/json or text/html', 400: 'not a valid phone number or personnummer' },
      async handler({ principal, body, reply, requestId, source }) {
        let patient: Patient;
        try {
          patient = patientOf(deps.blindIndex, body);
        } catch (e) {
          if (e instanceof PhoneNumberError || e instanceof PersonnummerError) throw new HttpError(400, e.message);
          throw e;
        }
        const { pseudonym, subject } = patient;
        const entries = await patientExtract(db, patient, { showUsers: true });
        await audit.record({ action: 'audit.extract_produced', ...info(principal, requestId, source), outcome: 'success', patientPseudonym: pseudonym, details: { entries: entries.length, format: body.format } });
        const producedAt = new Date().toISOString();
        if (body.format === 'html') {
          reply.headers({ 'content-disposition': 'inline; filename="log-extract.html"', 'content-security-policy': EXTRACT_CSP }).type('text/html; charset=utf-8');
          return reply.send(extractHtml(entries, { producedAt, subject }));
        }
        return { producedAt, subject, entries };
      },
    }),
  ];
}
