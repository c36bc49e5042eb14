// The sign-in page. With auth off (`gossipper ui --no-auth`) it signs in as the
// anonymous admin at once. The default password of a fresh install is shown only while
// it still works (`/auth/status` names the account that has it).

import * as api from '../api.js';
import { h, clear, errorBox } from '../ui.js';

export function renderLogin(root, done) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-username' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const err = h('div', { 'data-testid': 'login-error' });
  const btn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, 'Sign in');
  const form = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    err.replaceChildren();
    btn.disabled = true;
    btn.replaceChildren(h('span', { class: 'spin' }), ' Signing in…');
    try {
      await api.login(user.value.trim(), pass.value);
      done();
    } catch (ex) {
      err.append(errorBox(ex.status === 401 ? new Error('Wrong username or password.') : ex));
      pass.select();
    } finally {
      btn.disabled = false;
      btn.replaceChildren('Sign in');
    }
  } },
  h('div', {}, h('h2', {}, 'Sign in'), h('div', { class: 'muted', 'data-testid': 'login-hint' }, 'Use your gossipper account.')),
  h('label', { class: 'field' }, h('span', {}, 'Username'), user),
  h('label', { class: 'field' }, h('span', {}, 'Password'), pass),
  err, btn);

  const spark = h('div', { class: 'spark', html: heroChart() });
  clear(root, h('div', { class: 'login-wrap' },
    h('section', { class: 'login-hero' },
      h('div', { class: 'brand', html: '<svg width="30" height="30" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#6d78ff"/><path d="M6 20 L11 20 L14 10 L18 24 L21 15 L26 15" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg><div>gossipper<small>SIP load testing</small></div>' }),
      h('div', {}, h('h1', {}, 'Load-test your SIP platform from the browser.'),
        h('p', {}, 'Profiles, scenarios, live charts and reports — SIPp-compatible scenarios, run by a master that forks one worker per job.'), spark),
      h('div', { style: { fontSize: '12px', color: '#8d93c4' } }, 'gossipper console')),
    h('section', { class: 'login-form' }, form)));
  user.focus();

  api.get('/auth/status').then((r) => {
    if (r && r.auth === 'none') {
      api.setSession({ token: null, username: 'anonymous', role: 'admin', expires_at: 0 });
      done();
      return;
    }
    if (r?.default_password?.username) {
      form.querySelector('[data-testid="login-hint"]').textContent =
        `Use your gossipper account. This fresh install still has ${r.default_password.username} / sipcapture: sign in and change it.`;
    }
  }).catch(() => {});
}

function heroChart() {
  const pts = [];
  for (let i = 0; i <= 40; i++) {
    const v = 60 + 35 * Math.sin(i / 5) * Math.min(1, i / 10) + (i > 10 ? 40 : i * 4);
    pts.push(`${(i * 12).toFixed(0)},${(170 - v).toFixed(1)}`);
  }
  return `<svg viewBox="0 0 480 180" width="480" height="180" style="margin-top:28px;max-width:100%">
    <defs><linearGradient id="lg" x1="0" x2="0" y1="0" y2="1"><stop offset="0" stop-color="#7c86ff" stop-opacity=".45"/><stop offset="1" stop-color="#7c86ff" stop-opacity="0"/></linearGradient></defs>
    <g stroke="#2e3463">${[30, 70, 110, 150].map((y) => `<line x1="0" x2="480" y1="${y}" y2="${y}"/>`).join('')}</g>
    <path d="M${pts.join(' L')} L480,180 L0,180 Z" fill="url(#lg)"/>
    <path d="M${pts.join(' L')}" fill="none" stroke="#9aa2ff" stroke-width="2.5"/>
  </svg>`;
}
