// The console shell: sign-in gate, sidebar nav, top bar, hash router, theme, and the
// shared /live connection that pages subscribe to.
//
// Routes: #/dashboard #/servers #/clients #/gateway #/scenarios[/id] #/scenarios/new
// #/scenarios/builtin/id #/jobs[/id] #/load[/id] #/reports?report=id #/media #/users
// #/audit #/settings #/about, and in `gossipper server` #/sip (Live Trace) and
// #/calls[/call-id]. Admin pages are hidden from operators and refused if typed; the
// server-only pages are left out of the nav in `gossipper ui` (typed, they say why).

import * as api from './api.js';
import { h, clear, icon, toast, showError, modal, field, errorBox } from './ui.js';
import { renderLogin } from './pages/login.js';
import { runtime, resetRuntime } from './runtime.js';

const PAGES = {
  dashboard: { title: 'Dashboard', icon: 'dashboard', load: () => import('./pages/dashboard.js') },
  load: { title: 'Load test', icon: 'load', load: () => import('./pages/loadtest.js') },
  jobs: { title: 'Jobs', icon: 'jobs', load: () => import('./pages/jobs.js') },
  reports: { title: 'Reports', icon: 'reports', load: () => import('./pages/reports.js') },
  servers: { title: 'Servers', icon: 'servers', load: () => import('./pages/profiles.js') },
  clients: { title: 'Clients', icon: 'clients', load: () => import('./pages/profiles.js') },
  gateway: { title: 'Gateway', icon: 'gateway', load: () => import('./pages/gateway.js') },
  scenarios: { title: 'Scenarios', icon: 'scenarios', load: () => import('./pages/scenarios.js') },
  media: { title: 'Media', icon: 'media', load: () => import('./pages/media.js') },
  sip: { title: 'Live trace', icon: 'trace', server: true, load: () => import('./pages/trace.js') },
  calls: { title: 'Calls', icon: 'calls', server: true, load: () => import('./pages/calls.js') },
  users: { title: 'Users', icon: 'users', admin: true, load: () => import('./pages/users.js') },
  audit: { title: 'Audit log', icon: 'audit', admin: true, load: () => import('./pages/audit.js') },
  settings: { title: 'Settings', icon: 'settings', load: () => import('./pages/settings.js') },
  about: { title: 'About', icon: 'about', load: () => import('./pages/about.js') },
};

const NAV = [
  ['Overview', ['dashboard']],
  ['Run', ['load', 'jobs', 'reports']],
  ['Live SIP', ['sip', 'calls']],
  ['Configure', ['servers', 'clients', 'gateway', 'scenarios', 'media']],
  ['Administration', ['users', 'audit', 'settings']],
  [null, ['about']],
];

// ---------- theme ----------
export function theme() { return document.documentElement.dataset.theme || 'light'; }
export function setTheme(t) {
  document.documentElement.dataset.theme = t;
  try { localStorage.setItem('gossipper.theme', t); } catch { /* private mode */ }
  window.dispatchEvent(new Event('themechange'));
}

// ---------- live bus ----------
const liveSubs = new Set();
let liveConn = null;
let lastLive = null;
/** Subscribe to /live frames; returns an unsubscribe function. The last frame is replayed. */
export function subscribeLive(fn) {
  liveSubs.add(fn);
  if (lastLive) fn(lastLive);
  return () => liveSubs.delete(fn);
}

// ---------- shell ----------
let shell = null;
let current = { cleanup: [], token: 0 };

function navLink(key) {
  const p = PAGES[key];
  return h('a', { href: `#/${key}`, 'data-nav': key }, icon(p.icon), h('span', {}, p.title),
    key === 'jobs' ? h('span', { class: 'pill', 'data-testid': 'running-pill', hidden: true }) : null);
}

function buildShell() {
  const s = api.currentSession();
  const admin = api.isAdmin();
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' });
  for (const [group, keys] of NAV) {
    const visible = keys.filter((k) => admin || !PAGES[k].admin);
    if (!visible.length) continue;
    // Server-only entries stay hidden until /health says this is `gossipper server`.
    const serverOnly = visible.every((k) => PAGES[k].server);
    if (group) nav.append(h('div', { class: 'group', 'data-server-only': serverOnly ? '' : null, hidden: serverOnly }, admin || group !== 'Administration' ? group : 'Account'));
    visible.forEach((k) => {
      const a = navLink(k);
      if (PAGES[k].server) { a.hidden = true; a.dataset.serverOnly = ''; }
      nav.append(a);
    });
  }
  runtime().then((rt) => {
    if (!rt.server) return;
    for (const el of nav.querySelectorAll('[data-server-only]')) el.hidden = false;
  });
  const crumbs = h('div', { class: 'crumbs' });
  const liveDot = h('span', { class: 'live-dot', title: 'Live updates' }, 'live');
  const menu = h('div', { class: 'menu', hidden: true },
    h('div', { class: 'who' }, h('b', {}, s.username), ' ', h('span', { class: ['badge', 'plain', s.role === 'admin' ? 'admin' : ''] }, s.role)),
    h('button', { onclick: () => { menu.hidden = true; changePasswordDialog(); } }, 'Change password'),
    h('button', { 'data-testid': 'theme-toggle', onclick: () => { menu.hidden = true; setTheme(theme() === 'dark' ? 'light' : 'dark'); } },
      theme() === 'dark' ? 'Light theme' : 'Dark theme'),
    h('button', { 'data-testid': 'sign-out', onclick: () => { api.logout(); start(); } }, 'Sign out'));
  const userBtn = h('button', { class: 'ghost', 'data-testid': 'user-menu', onclick: (e) => { e.stopPropagation(); menu.hidden = !menu.hidden; } },
    h('span', { class: 'avatar' }, s.username.slice(0, 1)), h('span', {}, s.username));
  document.addEventListener('click', () => { menu.hidden = true; });
  const themeBtn = h('button', { class: 'ghost', title: 'Toggle light/dark', 'aria-label': 'Toggle theme', onclick: () => setTheme(theme() === 'dark' ? 'light' : 'dark') },
    icon(theme() === 'dark' ? 'sun' : 'moon'));
  window.addEventListener('themechange', () => themeBtn.replaceChildren(icon(theme() === 'dark' ? 'sun' : 'moon')));
  const page = h('main', { class: 'page', id: 'page' });
  // Pages append optional parts as `cond ? el : null`; skip the nulls.
  page.append = (...xs) => Element.prototype.append.apply(page, xs.flat().filter((x) => x !== null && x !== undefined && x !== false));
  const root = h('div', { class: 'shell' },
    h('aside', { class: 'side' },
      h('div', { class: 'brand' }, logo(), h('div', {}, 'gossipper', h('small', {}, 'SIP load testing'))),
      nav,
      h('div', { class: 'side-foot', 'data-testid': 'side-version' }, '')),
    h('div', { class: 'main' },
      h('header', { class: 'topbar' }, crumbs, h('div', { class: 'spacer' }), liveDot, themeBtn, h('div', { class: 'usermenu' }, userBtn, menu)),
      page));
  clear(document.getElementById('app'), root);
  shell = { nav, crumbs, page, liveDot, root };
  api.get('/health').then((r) => { root.querySelector('.side-foot').textContent = `v${r.version || '?'} · auth ${r.auth}`; }).catch(() => {});
  // The account still on a fresh install's default password is asked to change it, on
  // every page, until it has.
  api.get('/auth/status').then((r) => {
    if (r?.default_password?.username && r.default_password.username.toLowerCase() === s.username.toLowerCase()) {
      const bar = h('div', { class: 'banner warn', 'data-testid': 'default-password-banner' }, icon('alert'),
        h('div', { class: 'grow' }, h('b', {}, 'You are signed in with the default password of a fresh install. '),
          'Anyone who has read gossipper’s README can sign in as you: change it now.'),
        h('button', { class: 'primary sm', 'data-testid': 'change-default-password', onclick: () => changePasswordDialog(() => bar.remove()) }, 'Change password'));
      root.querySelector('.main').insertBefore(bar, page);
    }
  }).catch(() => {});
  liveConn?.close();
  liveConn = api.live((msg) => {
    lastLive = msg;
    const running = (msg.counts && (msg.counts.running || 0)) || (msg.jobs || []).filter((j) => j.status === 'running').length;
    const pill = nav.querySelector('[data-testid="running-pill"]');
    if (pill) { pill.hidden = !running; pill.textContent = String(running); }
    for (const fn of liveSubs) { try { fn(msg); } catch (e) { console.error(e); } }
  }, (on) => shell?.liveDot.classList.toggle('on', on));
}

export function logo(size = 26) {
  const el = h('span', { html: `<svg width="${size}" height="${size}" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#4f5bd5"/><path d="M6 20 L11 20 L14 10 L18 24 L21 15 L26 15" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>` });
  el.style.display = 'inline-flex';
  return el;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(qs || '') };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (!api.currentSession()) return start();
  const { parts, query } = parseHash();
  const key = parts[0] || 'dashboard';
  const page = PAGES[key];
  for (const fn of current.cleanup) { try { fn(); } catch { /* page gone */ } }
  const token = ++current.token;
  current = { cleanup: [], token };
  // `#page[data-ready]` names the hash whose page has rendered (its first data loaded,
  // or its error shown): what tests wait on instead of a fixed delay.
  const hash = location.hash;
  delete shell.page.dataset.ready;
  const ready = () => { if (current.token === token) shell.page.dataset.ready = hash; };
  for (const a of shell.nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.nav === key);
  if (!page) {
    setCrumbs([['Not found']]);
    clear(shell.page, h('div', { class: 'forbidden' }, h('h1', {}, 'Page not found'), h('p', { class: 'muted' }, `There is no page at #/${parts.join('/')}.`), h('a', { href: '#/dashboard' }, 'Go to the dashboard')));
    ready();
    return;
  }
  document.title = `${page.title} · gossipper console`;
  if (page.admin && !api.isAdmin()) {
    setCrumbs([[page.title]]);
    clear(shell.page, h('div', { class: 'forbidden', 'data-testid': 'forbidden' }, icon('lock'), h('h1', {}, 'Administrators only'),
      h('p', { class: 'muted' }, `The ${page.title} page needs the admin role. You are signed in as an operator.`)));
    ready();
    return;
  }
  setCrumbs([[page.title, parts.length > 1 ? `#/${key}` : null]]);
  clear(shell.page, h('div', { class: 'muted' }, h('span', { class: 'spin' }), ' Loading…'));
  const ctx = {
    key, parts, query, el: shell.page,
    alive: () => current.token === token,
    onCleanup: (fn) => { if (current.token === token) current.cleanup.push(fn); else fn(); },
    every(ms, fn) { const id = setInterval(() => { if (ctx.alive()) fn(); }, ms); ctx.onCleanup(() => clearInterval(id)); },
    crumbs: (c) => { if (current.token === token) setCrumbs(c); },
    live: (fn) => ctx.onCleanup(subscribeLive(fn)),
  };
  try {
    const mod = await page.load();
    if (!ctx.alive()) return;
    shell.page.replaceChildren();
    await mod.render(ctx);
    ready();
  } catch (e) {
    if (!ctx.alive() || e?.status === 401) return;
    showError(e, `open ${page.title}`);
    clear(shell.page, h('div', { class: 'page-head' }, h('h1', {}, page.title)), errorBox(e));
    ready();
  }
}

function setCrumbs(items) {
  clear(shell.crumbs, items.map(([label, href], i) => [
    i ? h('span', { class: 'sep' }, '/') : null,
    href ? h('a', { href }, label) : h('span', {}, label),
  ]));
}

export function changePasswordDialog(onChanged) {
  const cur = h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true });
  const nw = h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true, minlength: 8 });
  const again = h('input', { type: 'password', autocomplete: 'new-password', required: true });
  const err = h('div');
  const form = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    err.replaceChildren();
    if (nw.value !== again.value) { err.append(errorBox(new Error('The two new passwords differ.'))); return; }
    try {
      const r = await api.post('/me/password', { current_password: cur.value, new_password: nw.value });
      // The change revoked every earlier token, this one too: carry on with the new one.
      if (r?.token) api.renewSession(r.token, r.expires_at);
      m.close();
      toast('Your password was changed.', 'ok');
      onChanged?.();
    } catch (ex) { err.append(errorBox(ex)); }
  } }, field('Current password', cur), field('New password', nw, 'At least 8 characters.'), field('New password again', again), err,
  h('button', { type: 'submit', hidden: true }));
  const m = modal({ title: 'Change password', size: 'narrow', body: form,
    foot: [h('button', { onclick: () => m.close() }, 'Cancel'), h('button', { class: 'primary', onclick: () => form.requestSubmit() }, 'Change password')] });
}

function start() {
  resetRuntime();
  liveConn?.close();
  liveConn = null;
  lastLive = null;
  shell = null;
  if (!api.currentSession()) {
    document.title = 'Sign in · gossipper console';
    renderLogin(document.getElementById('app'), () => start());
    return;
  }
  buildShell();
  if (!location.hash || location.hash === '#/' || location.hash === '#/login') location.hash = '#/dashboard';
  route();
}

api.onSessionLost(() => {
  toast('Your session has ended. Please sign in again.', 'error', 'Signed out');
  start();
});
window.addEventListener('hashchange', () => { if (shell) route(); });
api.borrowSession().then(() => start());
