// What every page may need: the language (and its dictionary), and who is signed in.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session } from './api';
import { translate, type Key, type Lang, type Vars } from './i18n';

export interface LangState {
  lang: Lang;
  setLang(lang: Lang): void;
}

export const LangContext = createContext<LangState>({ lang: 'en', setLang: () => undefined });

export type T = (key: Key, vars?: Vars) => string;

export function useLang(): LangState & { t: T } {
  const l = useContext(LangContext);
  return { ...l, t: (key, vars) => translate(l.lang, key, vars) };
}

export const useT = (): T => useLang().t;

export interface SessionState {
  session: Session;
  /** Reads the session again (after a step-up, say). */
  refresh(): Promise<void>;
  signOut(): Promise<void>;
}

export const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState & { can(permission: string): boolean } {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return { ...s, can: (p) => s.session.permissions.includes(p) };
}
