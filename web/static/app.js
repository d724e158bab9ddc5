// A small first page: enrollment from a one-time link, sign-in, the list of recordings and a
// player that streams with HTTP Range. It talks only to the public API.
const main = document.getElementById('main');
const signout = document.getElementById('signout');
let csrf = '';

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  return { status: res.status, data };
}

function field(label, name, type = 'text', extra = {}) {
  return el('label', {}, label, el('input', { name, type, required: '', ...extra }));
}

function show(...nodes) {
  main.replaceChildren(...nodes);
  const first = main.querySelector('input, button, audio');
  if (first) first.focus();
}

function errorLine() {
  return el('p', { class: 'error', role: 'alert' });
}

async function enroll(token) {
  const started = await api('POST', '/api/v1/enrollment/start', { token });
  if (started.status !== 200) {
    show(el('p', { class: 'error', role: 'alert' }, started.data?.error ?? 'This enrollment link does not work.'));
    return;
  }
  const { username, totpSecret, otpauthUri } = started.data;
  const err = errorLine();
  const form = el('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    if (f.get('password') !== f.get('confirm')) { err.textContent = 'The two passwords differ.'; return; }
    const done = await api('POST', '/api/v1/enrollment/complete', { token, password: f.get('password'), totpCode: f.get('code') });
    if (done.status === 200) {
      history.replaceState(null, '', '/');
      show(el('p', {}, 'You are enrolled. Keep these one-time recovery codes somewhere safe; each one can stand in for the authenticator once, and they are shown only now:'),
        el('ul', { class: 'secret' }, ...done.data.recoveryCodes.map((c) => el('li', {}, c))),
        el('p', {}, el('a', { href: '/' }, 'Sign in')));
    } else err.textContent = done.data?.error ?? 'Enrollment failed.';
  } },
  field('New password (12 characters or more)', 'password', 'password', { minlength: '12', autocomplete: 'new-password' }),
  field('Password again', 'confirm', 'password', { minlength: '12', autocomplete: 'new-password' }),
  field('Code from your authenticator app', 'code', 'text', { inputmode: 'numeric', pattern: '[0-9]{6}', autocomplete: 'one-time-code' }),
  err, el('button', { type: 'submit' }, 'Finish enrollment'));
  show(el('h2', {}, `Enroll ${username}`),
    el('p', {}, 'Add this secret to an authenticator app (TOTP, 6 digits, 30 seconds):'),
    el('p', { class: 'secret' }, totpSecret.replace(/(.{4})/g, '$1 ').trim()),
    el('p', {}, el('a', { href: otpauthUri }, 'Open in an authenticator app on this device')),
    form);
}

function signInForm() {
  const err = errorLine();
  const form = el('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const res = await api('POST', '/api/v1/session', { username: f.get('username'), password: f.get('password'), totpCode: f.get('code') });
    if (res.status === 200) { csrf = res.data.csrfToken; await recordings(); } else err.textContent = res.data?.error ?? 'Sign-in failed.';
  } },
  field('Username', 'username', 'text', { autocomplete: 'username' }),
  field('Password', 'password', 'password', { autocomplete: 'current-password' }),
  field('Authenticator code', 'code', 'text', { inputmode: 'numeric', pattern: '[0-9]{6}', autocomplete: 'one-time-code' }),
  err, el('button', { type: 'submit' }, 'Sign in'));
  signout.hidden = true;
  show(el('h2', {}, 'Sign in'), form);
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

async function recordings(cursor) {
  const res = await api('GET', `/api/v1/recordings?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  if (res.status === 401) return signInForm();
  signout.hidden = false;
  if (res.status === 403) return show(el('h2', {}, 'Signed in'), el('p', {}, 'Your roles do not include listening to recordings.'));
  const player = el('audio', { controls: '', preload: 'none' });
  const rows = res.data.items.map((r) => el('tr', {},
    el('td', {}, new Date(r.startedAt).toLocaleString()), el('td', {}, r.careUnit), el('td', {}, r.direction),
    el('td', {}, duration(r.durationMs)),
    el('td', {}, el('button', { type: 'button', onclick: () => { player.src = `/api/v1/recordings/${r.id}/audio`; player.play(); } }, 'Play'))));
  const table = el('table', {}, el('thead', {}, el('tr', {}, ...['Started', 'Care unit', 'Direction', 'Length', ''].map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, ...rows));
  const more = res.data.next ? el('button', { type: 'button', onclick: () => recordings(res.data.next) }, 'Older calls') : '';
  show(el('h2', {}, 'Recordings'), rows.length ? table : el('p', {}, 'No recordings yet.'), more, player);
}

signout.addEventListener('click', async () => {
  await api('DELETE', '/api/v1/session');
  csrf = '';
  signInForm();
});

const token = new URLSearchParams(location.hash.slice(1)).get('token');
if (location.pathname === '/enroll' && token) enroll(token);
else {
  const me = await api('GET', '/api/v1/session');
  if (me.status === 200) { csrf = me.data.csrfToken; recordings(); } else signInForm();
}
