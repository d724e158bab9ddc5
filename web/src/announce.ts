// The app's one polite live region: async results ("12 calls found") and errors are spoken
// by screen readers without moving focus. See LiveRegion in app.tsx.
type Listener = (message: string) => void;
const listeners = new Set<Listener>();

export function announce(message: string): void {
  for (const l of listeners) l(message);
}

export function onAnnounce(l: Listener): () => void {
  listeners.add(l);
  return () => { listeners.delete(l); };
}
