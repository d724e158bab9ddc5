// The banner: the app's name, the navigation the person's permissions allow, the language
// switch and sign-out.
import type { Session } from '../api';
import { useLang } from '../context';
import type { Key } from '../i18n';
import { Link } from '../router';

export const NAV: ReadonlyArray<{ href: string; label: Key; permission: string | null }> = [
  { href: '/', label: 'nav.search', permission: 'recordings:list' },
  { href: '/audit', label: 'nav.audit', permission: 'audit:read' },
  { href: '/audit/integrity', label: 'nav.integrity', permission: 'audit:read' },
  { href: '/audit/alerts', label: 'nav.alerts', permission: 'audit:read' },
  { href: '/audit/reviews', label: 'nav.reviews', permission: 'audit:review' },
  { href: '/audit/extract', label: 'nav.extract', permission: 'audit:extract' },
  { href: '/admin/users', label: 'nav.users', permission: 'users:manage' },
  { href: '/admin/keys', label: 'nav.keys', permission: 'keys:manage' },
  { href: '/admin/settings', label: 'nav.settings', permission: 'settings:manage' },
  { href: '/account', label: 'nav.account', permission: null },
];

export const navFor = (s: Session) => NAV.filter((n) => n.permission === null || s.permissions.includes(n.permission));

export function Header(props: { session: Session | null; path: string; onSignOut: () => void }) {
  const { lang, setLang, t } = useLang();
  const other = lang === 'sv' ? 'en' : 'sv';
  return (
    <header class="banner">
      <div class="bar">
        <Link href="/" class="brand">callvault</Link>
        <div class="tools">
          <button type="button" class="link-button" lang={other} onClick={() => setLang(other)}>{t('lang.switch')}</button>
          {props.session ? (
            <>
              <span class="who">{t('header.signedInAs', { name: props.session.username })}</span>
              <button type="button" class="secondary on-dark" onClick={props.onSignOut}>{t('header.signOut')}</button>
            </>
          ) : null}
        </div>
      </div>
      {props.session ? (
        <nav aria-label={t('nav.label')}>
          <ul>
            {navFor(props.session).map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={props.path === n.href || (n.href === '/' && props.path.startsWith('/recordings/')) ? 'page' : undefined}>{t(n.label)}</Link>
              </li>
            ))}
          </ul>
        </nav>
      ) : null}
    </header>
  );
}
