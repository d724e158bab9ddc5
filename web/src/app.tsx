// The app shell: session, language, landmarks (banner, navigation, main), skip link, the live
// region, focus on the new page's heading after each navigation, and the route table.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, get, onSessionEnded, setCsrf, type Session } from './api';
import { onAnnounce } from './announce';
import { Header, navFor } from './components/Header';
import { StepUpProvider } from './components/StepUp';
import { LangContext, SessionContext, useT, type SessionState } from './context';
import { initialLang, saveLang, type Lang } from './i18n';
import { matchRoute, type Match, type RouteName } from './routes';
import { navigate, usePath } from './router';
import { Account } from './pages/Account';
import { AuditAlerts } from './pages/AuditAlerts';
import { AuditIntegrity } from './pages/AuditIntegrity';
import { AuditTimeline } from './pages/AuditTimeline';
import { Enroll } from './pages/Enroll';
import { Extract } from './pages/Extract';
import { Keys } from './pages/Keys';
import { Recording } from './pages/Recording';
import { Reviews } from './pages/Reviews';
import { forgetSearch, Search } from './pages/Search';
import { Settings } from './pages/Settings';
import { SignIn } from './pages/SignIn';
import { Users } from './pages/Users';
import { Page } from './components/Page';

const NEEDS: Partial<Record<RouteName, string>> = {
  recording: 'recordings:view', audit: 'audit:read', auditIntegrity: 'audit:read', auditAlerts: 'audit:read', extract: 'audit:extract',
  reviews: 'audit:review', users: 'users:manage', keys: 'keys:manage', settings: 'settings:manage',
};

function LiveRegion() {
  const [message, setMessage] = useState('');
  useEffect(() => onAnnounce((m) => {
    // Cleared first, so the same words said twice are spoken twice.
    setMessage('');
    setTimeout(() => setMessage(m), 50);
  }), []);
  return <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">{message}</div>;
}

function Message(props: { title: string; text: string }) {
  return <Page title={props.title}><p>{props.text}</p></Page>;
}

function SignedIn(props: { match: Match | null; session: Session }) {
  const t = useT();
  const { match, session } = props;
  const home = navFor(session)[0]!.href;
  useEffect(() => {
    if (match?.name === 'home' && home !== '/') navigate(home, { replace: true });
  }, [match?.name, home]);
  if (!match) return <Message title={t('notFound.title')} text={t('notFound.text')} />;
  const need = match.name === 'home' ? 'recordings:list' : NEEDS[match.name];
  if (need && !session.permissions.includes(need)) {
    return match.name === 'home' ? null : <Message title={t('forbidden.title')} text={t('forbidden.text')} />;
  }
  switch (match.name) {
    case 'home': return <Search />;
    case 'recording': return <Recording id={match.params.id!} />;
    case 'audit': return <AuditTimeline />;
    case 'auditIntegrity': return <AuditIntegrity />;
    case 'auditAlerts': return <AuditAlerts />;
    case 'reviews': return <Reviews />;
    case 'extract': return <Extract />;
    case 'users': return <Users />;
    case 'keys': return <Keys />;
    case 'settings': return <Settings />;
    case 'account': return <Account />;
    case 'enroll': return <Enroll />;
  }
}

export function App() {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const path = usePath();
  const first = useRef(true);

  const accept = (s: Session | null) => {
    setCsrf(s?.csrfToken ?? '');
    setSession(s);
  };
  const refresh = async () => {
    try {
      accept(await get<Session>('/api/v1/session'));
    } catch {
      accept(null);
    }
  };
  useEffect(() => { void refresh(); return onSessionEnded(() => accept(null)); }, []);
  // With the DOM change itself, not after the next paint: the new text is never read with the old language.
  useLayoutEffect(() => { document.documentElement.lang = lang; }, [lang]);

  // After a navigation (or signing in or out), focus goes to the new page's heading.
  const signedIn = Boolean(session);
  useEffect(() => {
    if (session === undefined) return;
    if (first.current) { first.current = false; return; }
    requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
  }, [path, signedIn, session === undefined]);

  const setLang = (l: Lang) => { saveLang(l); setLangState(l); };
  const signOut = async () => {
    try { await api('DELETE', '/api/v1/session'); } catch { /* signed out either way */ }
    // Nothing of this person's work is left for whoever uses this tab next.
    forgetSearch();
    accept(null);
    navigate('/', { replace: true });
  };
  const skip = (e: MouseEvent) => {
    e.preventDefault();
    (document.querySelector<HTMLElement>('main h1') ?? document.getElementById('main'))?.focus();
  };

  const match = matchRoute(path);
  let page;
  if (session === undefined) page = <p class="loading">…</p>;
  else if (match?.name === 'enroll') page = <Enroll />;
  else if (!session) page = <SignIn onSignedIn={accept} />;
  else page = <SignedIn match={match} session={session} />;

  const state: SessionState | null = session ? { session, refresh, signOut } : null;
  return (
    <LangContext.Provider value={{ lang, setLang }}>
      <SessionContext.Provider value={state}>
        <StepUpProvider authMethod={session?.authMethod ?? ''} onProven={() => void refresh()}>
          <SkipLink onClick={skip} />
          <Header session={session ?? null} path={path} onSignOut={signOut} />
          <main id="main" tabIndex={-1}>{page}</main>
          <LiveRegion />
        </StepUpProvider>
      </SessionContext.Provider>
    </LangContext.Provider>
  );
}

function SkipLink(props: { onClick: (e: MouseEvent) => void }) {
  const t = useT();
  return <a class="skip-link" href="#main" onClick={props.onClick}>{t('skip')}</a>;
}
