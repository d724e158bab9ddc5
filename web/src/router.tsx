// A tiny router on the History API: no hash, no library. Links are real <a href> elements, so
// they open in a new tab, show their target and work with the keyboard; a plain click is kept
// in the app.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();
const emit = () => { for (const l of listeners) l(); };
window.addEventListener('popstate', emit);

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, '', to);
  else if (to !== location.pathname + location.search) history.pushState(null, '', to);
  emit();
}

/** The current path; re-renders when it changes. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const l = () => setPath(location.pathname);
    listeners.add(l);
    return () => { listeners.delete(l); };
  }, []);
  return path;
}

interface AnchorProps { href: string; class?: string; 'aria-current'?: 'page'; children?: ComponentChildren }

export function Link({ href, children, ...rest }: AnchorProps) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={onClick} {...rest}>{children}</a>;
}
