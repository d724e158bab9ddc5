// Something shown once (an enrollment link, an API key, recovery codes): selectable, with a
// copy button, and a plain statement that it will not be shown again.
import { useState } from 'preact/hooks';
import { useT } from '../context';

export function Secret(props: { label: string; value: string | string[] }) {
  const t = useT();
  const [copied, setCopied] = useState(false);
  const text = Array.isArray(props.value) ? props.value.join('\n') : props.value;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch { /* the text stays selectable */ }
  };
  return (
    <div class="secret-box">
      <p><strong>{props.label}</strong> {t('secret.once')}</p>
      {Array.isArray(props.value)
        ? <ul class="secret codes">{props.value.map((c) => <li key={c}>{c}</li>)}</ul>
        : <p class="secret">{props.value}</p>}
      <button type="button" class="secondary" onClick={copy}>{t('secret.copy')}</button>
      <span role="status">{copied ? ` ${t('secret.copied')}` : ''}</span>
    </div>
  );
}
