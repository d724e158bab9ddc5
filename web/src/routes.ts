// The app's client-side paths. callvault serves index.html for exactly these (src/http/pages.ts
// keeps the same list; test/browser/app-paths.test.ts checks that the two agree). No imports:
// the server's tests read this file too.

export type RouteName =
  | 'home' | 'enroll' | 'recording' | 'audit' | 'auditIntegrity' | 'auditAlerts' | 'reviews' | 'extract'
  | 'users' | 'keys' | 'settings' | 'account';

export const APP_ROUTES: ReadonlyArray<{ name: RouteName; pattern: string }> = [
  { name: 'home', pattern: '/' },
  { name: 'enroll', pattern: '/enroll' },
  { name: 'recording', pattern: '/recordings/:id' },
  { name: 'audit', pattern: '/audit' },
  { name: 'auditIntegrity', pattern: '/audit/integrity' },
  { name: 'auditAlerts', pattern: '/audit/alerts' },
  { name: 'reviews', pattern: '/audit/reviews' },
  { name: 'extract', pattern: '/audit/extract' },
  { name: 'users', pattern: '/admin/users' },
  { name: 'keys', pattern: '/admin/keys' },
  { name: 'settings', pattern: '/admin/settings' },
  { name: 'account', pattern: '/account' },
];

export interface Match {
  name: RouteName;
  params: Record<string, string>;
}

/** The route a path names, or null. A `:param` matches one non-empty path segment. */
export function matchRoute(path: string): Match | null {
  const parts = path.split('/');
  for (const r of APP_ROUTES) {
    const want = r.pattern.split('/');
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < want.length; i++) {
      const w = want[i]!;
      const p = parts[i]!;
      if (w.startsWith(':')) {
        if (p === '') { ok = false; break; }
        try { params[w.slice(1)] = decodeURIComponent(p); } catch { ok = false; break; }
      } else if (w !== p) { ok = false; break; }
    }
    if (ok) return { name: r.name, params };
  }
  return null;
}
