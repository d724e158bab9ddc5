// The search filters. Changes are reported as they are typed; the search page debounces them.
import { SelectField, TextField } from '../components/Field';
import { useT } from '../context';
import type { Key } from '../i18n';

export interface Filters {
  from: string;
  to: string;
  careUnit: string;
  agent: string;
  caller: string;
  direction: string;
  minSeconds: string;
  maxSeconds: string;
  flag: string;
}

export const EMPTY_FILTERS: Filters = { from: '', to: '', careUnit: '', agent: '', caller: '', direction: '', minSeconds: '', maxSeconds: '', flag: '' };

export const FLAGS = ['truncated_by_crash', 'interrupted_by_shutdown', 'journal_damaged', 'audio_ended_early', 'abandoned', 'synthetic'] as const;

export const flagKey = (f: string) => `flag.${f}` as Key;

export function SearchFilters(props: { value: Filters; onChange: (f: Filters) => void; onReset: () => void; onRefresh: () => void }) {
  const t = useT();
  const f = props.value;
  const set = (k: keyof Filters) => (v: string) => props.onChange({ ...f, [k]: v });
  return (
    <form class="filters card" role="search" aria-label={t('search.filters')} onSubmit={(e) => e.preventDefault()}>
      <div class="grid">
        <TextField label={t('search.from')} type="date" value={f.from} onValue={set('from')} />
        <TextField label={t('search.to')} type="date" value={f.to} onValue={set('to')} />
        <TextField label={t('search.careUnit')} value={f.careUnit} onValue={set('careUnit')} maxLength={64} />
        <TextField label={t('search.agent')} value={f.agent} onValue={set('agent')} maxLength={64} />
        <TextField label={t('search.caller')} type="tel" value={f.caller} onValue={set('caller')} maxLength={40} hint={t('search.callerHint')} autocomplete="off" />
        <SelectField label={t('search.direction')} value={f.direction} onValue={set('direction')}
          options={[['', t('search.any')], ['inbound', t('direction.inbound')], ['outbound', t('direction.outbound')]]} />
        <TextField label={t('search.minDuration')} type="number" min={0} step={1} inputMode="numeric" value={f.minSeconds} onValue={set('minSeconds')} />
        <TextField label={t('search.maxDuration')} type="number" min={0} step={1} inputMode="numeric" value={f.maxSeconds} onValue={set('maxSeconds')} />
        <SelectField label={t('search.flag')} value={f.flag} onValue={set('flag')}
          options={[['', t('search.any')], ...FLAGS.map((x): [string, string] => [x, t(flagKey(x))])]} />
      </div>
      <div class="buttons">
        <button type="button" class="secondary" onClick={props.onRefresh}>{t('search.refresh')}</button>
        <button type="button" class="secondary" onClick={props.onReset}>{t('search.reset')}</button>
      </div>
    </form>
  );
}
