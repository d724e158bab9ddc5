// Search: the home page of everyone who may list recordings. Results follow the filters as they
// are typed (debounced, the stale request cancelled), page on with "older calls" (keyset
// cursor), and each row opens with Enter or a click.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { isAbort, post } from '../api';
import { announce } from '../announce';
import { ErrorText, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useLang, useSession } from '../context';
import { dateTime, duration, localDayStart, number } from '../format';
import { Link, navigate } from '../router';
import { EMPTY_FILTERS, SearchFilters, flagKey, type Filters } from './SearchFilters';

export interface RecordingSummary {
  id: string; callId: string | null; startedAt: string; durationMs: number; direction: string; careUnit: string; agentId: string | null;
  codec: string; container: string; sampleRate: number; channels: number; sizeBytes: number; flags: string[]; hasCaller: boolean;
}
interface ListAnswer { items: RecordingSummary[]; next: string | null; count?: { value: number; capped: boolean } }

/**
 * The last search of the person signed in, kept while the app is open: coming back from a
 * recording finds the same filters, the pages loaded and the place in them. It belongs to that
 * person alone: forgotten at sign-out, and never shown to another who signs in in this tab (their
 * first search would be made, and audited, in their name).
 */
interface Remembered { username: string; filters: Filters; items: RecordingSummary[]; next: string | null; count: ListAnswer['count'] | null; scrollY: number }
let remembered: Remembered | null = null;

/** Forgets the last search (signing out). */
export function forgetSearch(): void {
  remembered = null;
}

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
  const { session } = useSession();
  const mine = remembered?.username === session.username ? remembered : null;
  const [filters, setFilters] = useState<Filters>(mine?.filters ?? EMPTY_FILTERS);
  const [items, setItems] = useState<RecordingSummary[]>(mine?.items ?? []);
  const [next, setNext] = useState<string | null>(mine?.next ?? null);
  const [count, setCount] = useState<ListAnswer['count'] | null>(mine?.count ?? null);
  const [state, setState] = useState<'loading' | 'ready' | 'error'>(mine ? 'ready' : 'loading');
  const [error, setError] = useState('');
  const inFlight = useRef<AbortController | null>(null);
  // Coming back to the pages already loaded: the first search is not made again.
  const restored = useRef(mine !== null);
  const olderButton = useRef<HTMLButtonElement>(null);
  const endOfResults = useRef<HTMLParagraphElement>(null);
  const focusAfterPaging = useRef(false);

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
      // Rows left from the search before would read as the answer to this one.
      if (!cursor) {
        setItems([]);
        setNext(null);
        setCount(null);
      }
      setState('error');
      setError(errorText(t, e));
    }
  };

  useEffect(() => {
    if (restored.current) {
      restored.current = false;
      return;
    }
    const timer = setTimeout(() => void load(filters), 250);
    return () => clearTimeout(timer);
  }, [filters]);
  useEffect(() => {
    remembered = { username: session.username, filters, items, next, count, scrollY: remembered?.scrollY ?? 0 };
  }, [filters, items, next, count]);
  useEffect(() => {
    // After the app has focused the page's heading (which scrolls to the top), a frame later.
    if (mine) requestAnimationFrame(() => requestAnimationFrame(() => window.scrollTo(0, mine.scrollY)));
    return () => inFlight.current?.abort();
  }, []);
  // The place in the results, taken as a call is opened (before the page changes under it).
  const keepPlace = () => { if (remembered) remembered.scrollY = window.scrollY; };
  // Who asked for older calls stays on the button, or, at the end of the results, is told so
  // where the button was: a keyboard user is not sent back to the top of the page.
  useEffect(() => {
    if (!focusAfterPaging.current || state === 'loading') return;
    focusAfterPaging.current = false;
    (next ? olderButton.current : endOfResults.current)?.focus();
  }, [state, next]);

  const rows = useMemo(() => items.map((r) => (
    <tr key={r.id} class="clickable" onClick={(e) => { if (!(e.target as Element).closest('a')) navigate(`/recordings/${r.id}`); }}>
      <td><Link href={`/recordings/${r.id}`}>{dateTime(lang, r.startedAt)}</Link></td>
      <td>{duration(r.durationMs)}</td>
      <td>{t(r.direction === 'outbound' ? 'direction.outbound' : 'direction.inbound')}</td>
      <td>{r.careUnit}</td>
      <td>{r.agentId ?? ''}</td>
      <td>{r.channels === 2 ? t('rec.stereo') : t('rec.mono')}</td>
      <td>{r.flags.map((f) => t(flagKey(f))).join(', ')}</td>
    </tr>
  // Typing in a filter renders the page again: the rows, thousands after some pages, are left alone.
  )), [items, lang]);
  const older = () => {
    // Busy: the button stays focusable (a disabled one would drop the keyboard's focus).
    if (state === 'loading' || !next) return;
    focusAfterPaging.current = true;
    void load(filters, next);
  };

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
              <tbody onClickCapture={keepPlace} onKeyDownCapture={keepPlace}>{rows}</tbody>
            </table>
          </div>
        ) : null}
        {next ? <button ref={olderButton} type="button" class="secondary" aria-disabled={state === 'loading' ? 'true' : undefined} onClick={older}>{t('search.older')}</button> : null}
        {!next && items.length > 0 && state === 'ready' ? <p ref={endOfResults} tabIndex={-1} class="hint">{t('search.end')}</p> : null}
      </section>
    </Page>
  );
}
