// Search: the home page of everyone who may list recordings. Results follow the filters as they
// are typed (debounced, the stale request cancelled), page on with "older calls" (keyset
// cursor), and each row opens with Enter or a click.
import { useEffect, useRef, useState } from 'preact/hooks';
import { isAbort, post } from '../api';
import { announce } from '../announce';
import { ErrorText, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useLang } from '../context';
import { dateTime, duration, localDayStart, number } from '../format';
import { Link, navigate } from '../router';
import { EMPTY_FILTERS, SearchFilters, flagKey, type Filters } from './SearchFilters';

export interface RecordingSummary {
  id: string; callId: string | null; startedAt: string; durationMs: number; direction: string; careUnit: string; agentId: string | null;
  codec: string; container: string; sampleRate: number; channels: number; sizeBytes: number; flags: string[]; hasCaller: boolean;
}
interface ListAnswer { items: RecordingSummary[]; next: string | null; count?: { value: number; capped: boolean } }

// Kept while the app is open, so coming back from a recording finds the same search.
let remembered: Filters = EMPTY_FILTERS;

const CALLER = /^\+?[0-9][0-9 ()-]{5,}$/;
const seconds = (v: string) => (v.trim() === '' || Number.isNaN(Number(v)) ? undefined : Math.round(Number(v) * 1000));

/** The search as a JSON body: a phone number never goes in a URL (proxies and access logs keep them). */
function toBody(f: Filters, cursor?: string): Record<string, string | number> {
  const caller = f.caller.trim();
  const values: Record<string, string | number | undefined> = {
    limit: 50, cursor, careUnit: f.careUnit.trim(), agent: f.agent.trim(), direction: f.direction, flag: f.flag,
    from: localDayStart(f.from), to: localDayStart(f.to, 1),
    caller: CALLER.test(caller) ? caller : undefined,
    minDurationMs: seconds(f.minSeconds), maxDurationMs: seconds(f.maxSeconds),
  };
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== ''));
}

export function Search() {
  const { t, lang } = useLang();
  const [filters, setFilters] = useState<Filters>(remembered);
  const [items, setItems] = useState<RecordingSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [count, setCount] = useState<ListAnswer['count'] | null>(null);
  const [state, setState] = useState<'loading' | 'ready' | 'error'>('loading');
  const [error, setError] = useState('');
  const inFlight = useRef<AbortController | null>(null);

  const load = async (f: Filters, cursor?: string) => {
    inFlight.current?.abort();
    const ac = new AbortController();
    inFlight.current = ac;
    setState('loading');
    try {
      const r = await post<ListAnswer>('/api/v1/recordings/search', toBody(f, cursor), { signal: ac.signal });
      if (ac.signal.aborted) return;
      const all = cursor ? [...items, ...r.items] : r.items;
      setItems(all);
      setNext(r.next);
      if (!cursor) setCount(r.count ?? null);
      setState('ready');
      setError('');
      const total = cursor ? null : r.count;
      announce(total ? (total.capped ? t('search.countCapped', { n: number(lang, total.value) }) : t('search.count', { n: number(lang, total.value) }))
        : t('search.shown', { n: number(lang, all.length) }));
    } catch (e) {
      if (isAbort(e)) return;
      setState('error');
      setError(errorText(t, e));
    }
  };

  useEffect(() => {
    remembered = filters;
    const timer = setTimeout(() => void load(filters), 250);
    return () => clearTimeout(timer);
  }, [filters]);
  useEffect(() => () => inFlight.current?.abort(), []);

  const callerPartial = filters.caller.trim() !== '' && !CALLER.test(filters.caller.trim());
  return (
    <Page title={t('search.title')}>
      <SearchFilters value={filters} onChange={setFilters} onReset={() => setFilters(EMPTY_FILTERS)} onRefresh={() => void load(filters)} />
      <section aria-labelledby="results-heading" aria-busy={state === 'loading'}>
        <h2 id="results-heading">
          {t('search.results')}{' '}
          <span class="count">
            {count ? (count.capped ? t('search.countCapped', { n: number(lang, count.value) }) : t('search.count', { n: number(lang, count.value) }))
              : state === 'ready' ? t('search.shown', { n: number(lang, items.length) }) : ''}
          </span>
        </h2>
        {callerPartial ? <p class="hint">{t('search.callerIncomplete')}</p> : null}
        <ErrorText>{state === 'error' ? error : ''}</ErrorText>
        {items.length === 0 && state === 'ready' ? <p>{t('search.none')}</p> : null}
        {items.length > 0 ? (
          <div class="table-wrap">
            <table class="results">
              <caption class="visually-hidden">{t('search.caption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('rec.startedAt')}</th><th scope="col">{t('rec.duration')}</th><th scope="col">{t('rec.direction')}</th>
                  <th scope="col">{t('rec.careUnit')}</th><th scope="col">{t('rec.agent')}</th><th scope="col">{t('rec.channels')}</th><th scope="col">{t('rec.flags')}</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.id} class="clickable" onClick={(e) => { if (!(e.target as Element).closest('a')) navigate(`/recordings/${r.id}`); }}>
                    <td><Link href={`/recordings/${r.id}`}>{dateTime(lang, r.startedAt)}</Link></td>
                    <td>{duration(r.durationMs)}</td>
                    <td>{t(r.direction === 'outbound' ? 'direction.outbound' : 'direction.inbound')}</td>
                    <td>{r.careUnit}</td>
                    <td>{r.agentId ?? ''}</td>
                    <td>{r.channels === 2 ? t('rec.stereo') : t('rec.mono')}</td>
                    <td>{r.flags.map((f) => t(flagKey(f))).join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        {next ? <button type="button" class="secondary" disabled={state === 'loading'} onClick={() => void load(filters, next)}>{t('search.older')}</button> : null}
      </section>
    </Page>
  );
}
