// Audit events as a table: the timeline and a recording's own access history.
import { useLang, useSession } from '../context';
import type { Key } from '../i18n';
import { dateTime } from '../format';
import { Link } from '../router';

export interface AuditEvent {
  seq: number; at: string; action: string; outcome: string; actor: { type: string; id: string | null; username?: string };
  object: { type: string; id: string | null } | null; careUnit: string | null; patient?: string | null; source?: string | null; details: unknown;
}

function details(d: unknown): string {
  if (d === null || d === undefined) return '';
  const s = JSON.stringify(d);
  return s.length > 160 ? `${s.slice(0, 157)}…` : s;
}

export function Outcome(props: { outcome: string }) {
  const { t } = useLang();
  const known = ['success', 'denied', 'failure'].includes(props.outcome);
  return <span class={`outcome ${props.outcome}`}>{known ? t(`outcome.${props.outcome}` as Key) : props.outcome}</span>;
}

/** An audit action in words (the person's language), with its code for filtering the log by it. */
export function ActionName(props: { action: string }) {
  const { t } = useLang();
  const key = `action.${props.action}` as Key;
  const words = t(key);
  // translate() answers an unknown key with its last part: then the code alone is shown.
  return words === props.action.split('.').pop() ? <code>{props.action}</code> : <>{words} <code class="action-code">{props.action}</code></>;
}

export function EventTable(props: { items: AuditEvent[]; caption: string }) {
  const { t, lang } = useLang();
  // Auditors read the log but open no recordings: for them an id is text, not a link.
  const canOpen = useSession().can('recordings:view');
  return (
    <div class="table-wrap">
      <table class="events">
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">{t('audit.seq')}</th><th scope="col">{t('audit.at')}</th><th scope="col">{t('audit.action')}</th><th scope="col">{t('audit.outcome')}</th>
            <th scope="col">{t('audit.actor')}</th><th scope="col">{t('audit.object')}</th><th scope="col">{t('rec.careUnit')}</th><th scope="col">{t('audit.details')}</th>
          </tr>
        </thead>
        <tbody>
          {props.items.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>{dateTime(lang, e.at)}</td>
              <td><ActionName action={e.action} /></td>
              <td><Outcome outcome={e.outcome} /></td>
              <td>{e.actor.username ? <><strong>{e.actor.username}</strong> <code class="id">{e.actor.id}</code></> : <>{e.actor.type}{e.actor.id ? <> <code class="id">{e.actor.id}</code></> : null}</>}</td>
              <td>{e.object ? (e.object.type === 'recording' && e.object.id && canOpen
                ? <Link href={`/recordings/${e.object.id}`}><code class="id">{e.object.id}</code></Link>
                : <>{e.object.type} <code class="id">{e.object.id}</code></>) : ''}</td>
              <td>{e.careUnit ?? ''}</td>
              <td class="details"><code>{details(e.details)}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
