// Small DOM toolkit shared by every page: element builder, toasts, modals, confirm,
// formatting, status badges and icons. No framework: pages build DOM with h().

/** h('div', {class: 'x', onclick: fn}, child, [children], 'text') */
export function h(tag, attrs, ...children) {
  const el = tag === 'svg' || attrs?.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false || k === 'svg') continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'readOnly') el[k] = !!v;
    else if (k === 'html') el.innerHTML = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const svgCache = new Map();
/** An inline icon (feather-style strokes drawn here; no icon font). */
export function icon(name) {
  const paths = ICONS[name] || ICONS.dot;
  if (!svgCache.has(name)) svgCache.set(name, paths);
  const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('width', '16');
  s.setAttribute('height', '16');
  s.setAttribute('class', 'icon');
  s.setAttribute('fill', 'none');
  s.setAttribute('stroke', 'currentColor');
  s.setAttribute('stroke-width', '2');
  s.setAttribute('stroke-linecap', 'round');
  s.setAttribute('stroke-linejoin', 'round');
  s.setAttribute('aria-hidden', 'true');
  s.innerHTML = paths;
  return s;
}

const ICONS = {
  dot: '<circle cx="12" cy="12" r="3"/>',
  dashboard: '<rect x="3" y="3" width="7" height="9" rx="1"/><rect x="14" y="3" width="7" height="5" rx="1"/><rect x="14" y="12" width="7" height="9" rx="1"/><rect x="3" y="16" width="7" height="5" rx="1"/>',
  load: '<path d="M13 2 3 14h9l-1 8 10-12h-9l1-8z"/>',
  jobs: '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 9h10M7 13h6M7 17h8"/>',
  reports: '<path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z"/><path d="M14 2v6h6M8 17v-3M12 17v-6M16 17v-2"/>',
  servers: '<rect x="3" y="3" width="18" height="7" rx="1.5"/><rect x="3" y="14" width="18" height="7" rx="1.5"/><path d="M7 6.5h.01M7 17.5h.01"/>',
  clients: '<path d="M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8 9.8a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2z"/>',
  gateway: '<circle cx="12" cy="12" r="10"/><path d="M2 12h20M12 2a15.3 15.3 0 0 1 0 20M12 2a15.3 15.3 0 0 0 0 20"/>',
  scenarios: '<path d="m16 18 6-6-6-6M8 6l-6 6 6 6"/>',
  media: '<path d="M9 18V5l12-2v13"/><circle cx="6" cy="18" r="3"/><circle cx="18" cy="16" r="3"/>',
  users: '<path d="M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2"/><circle cx="9" cy="7" r="4"/><path d="M23 21v-2a4 4 0 0 0-3-3.9M16 3.1a4 4 0 0 1 0 7.8"/>',
  audit: '<path d="M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"/><path d="m9 12 2 2 4-4"/>',
  settings: '<circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/>',
  about: '<circle cx="12" cy="12" r="10"/><path d="M12 16v-4M12 8h.01"/>',
  play: '<path d="m6 3 14 9-14 9V3z"/>',
  stop: '<rect x="5" y="5" width="14" height="14" rx="1.5"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  edit: '<path d="M12 20h9"/><path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z"/>',
  trash: '<path d="M3 6h18M8 6V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6"/>',
  copy: '<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>',
  download: '<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3"/>',
  upload: '<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M17 8l-5-5-5 5M12 3v12"/>',
  refresh: '<path d="M23 4v6h-6M1 20v-6h6"/><path d="M3.5 9a9 9 0 0 1 14.9-3.4L23 10M1 14l4.6 4.4A9 9 0 0 0 20.5 15"/>',
  sun: '<circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4"/>',
  moon: '<path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z"/>',
  logout: '<path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9"/>',
  key: '<path d="M21 2l-2 2m-7.6 7.6a5.5 5.5 0 1 1-7.8 7.8 5.5 5.5 0 0 1 7.8-7.8zm0 0L15.5 7.5m0 0 3 3L22 7l-3-3m-3.5 3.5L19 4"/>',
  x: '<path d="M18 6 6 18M6 6l12 12"/>',
  alert: '<path d="M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0zM12 9v4M12 17h.01"/>',
  check: '<path d="M20 6 9 17l-5-5"/>',
  history: '<path d="M3 3v5h5"/><path d="M3.05 13A9 9 0 1 0 6 5.3L3 8"/><path d="M12 7v5l4 2"/>',
  fork: '<circle cx="6" cy="6" r="3"/><circle cx="6" cy="18" r="3"/><circle cx="18" cy="6" r="3"/><path d="M6 9v6M18 9a9 9 0 0 1-9 9"/>',
  eye: '<path d="M1 12s4-8 11-8 11 8 11 8-4 8-11 8-11-8-11-8z"/><circle cx="12" cy="12" r="3"/>',
  external: '<path d="M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6M15 3h6v6M10 14 21 3"/>',
  trace: '<path d="M22 12h-4l-3 9L9 3l-3 9H2"/>',
  calls: '<path d="M3 6h18M3 12h18M3 18h12"/><path d="m17 15 4 3-4 3"/>',
  pause: '<rect x="6" y="4" width="4" height="16" rx="1"/><rect x="14" y="4" width="4" height="16" rx="1"/>',
  lock: '<rect x="3" y="11" width="18" height="11" rx="2"/><path d="M7 11V7a5 5 0 0 1 10 0v4"/>',
};

// ---------- toasts ----------
/**
 * A toast. `key` names what it is about: a new toast with the same key replaces the old
 * one instead of stacking under it (a save that fails five times shows one message, the
 * latest).
 */
export function toast(message, kind = 'info', title, { key } = {}) {
  const box = document.getElementById('toasts');
  const k = key || `${kind}:${title || message}`;
  for (const old of box.querySelectorAll('.toast')) if (old.dataset.key === k) old.remove();
  const t = h('div', { class: ['toast', kind], role: kind === 'error' ? 'alert' : 'status', 'data-key': k },
    h('div', { class: 'msg' }, title ? h('div', { class: 'title' }, title) : null, message),
    h('button', { 'aria-label': 'Dismiss', onclick: () => t.remove() }, icon('x')));
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 3500);
  return t;
}

/** Shows an API error plainly (toast; one per action). 401s are handled by the sign-in
 *  redirect. */
export function showError(e, what) {
  if (e?.name === 'AbortError') return;
  if (e?.status === 401) return;
  console.error(e);
  const title = what ? `Could not ${what}` : 'Error';
  toast(e?.message || String(e), 'error', title, { key: `error:${title}` });
}

/** Inline error box for forms. */
export function errorBox(e) {
  return h('div', { class: 'alert error', role: 'alert' }, icon('alert'), h('pre', {}, e?.message || String(e)));
}

// ---------- modal ----------
/**
 * modal({title, body, foot, wide}) → {el, close}. Escape and the backdrop close it;
 * `onClose` runs once.
 */
export function modal({ title, body, foot, size, onClose }) {
  const close = () => {
    overlay.remove();
    document.removeEventListener('keydown', onKey);
    onClose?.();
  };
  const onKey = (e) => { if (e.key === 'Escape') close(); };
  const box = h('div', { class: ['modal', size], role: 'dialog', 'aria-modal': 'true', 'aria-label': title },
    h('div', { class: 'modal-head' }, h('h2', {}, title), h('button', { class: 'ghost sm', 'aria-label': 'Close', onclick: close }, icon('x'))),
    h('div', { class: 'modal-body' }, body),
    foot ? h('div', { class: 'modal-foot' }, foot) : null);
  const overlay = h('div', { class: 'overlay', onmousedown: (e) => { if (e.target === overlay) close(); } }, box);
  document.body.append(overlay);
  document.addEventListener('keydown', onKey);
  // The first field gets the focus, unless something in the dialog already has it: a
  // fast hand (or a test) typing before this timer ran must not see its text land in
  // the first field instead.
  setTimeout(() => {
    if (!box.contains(document.activeElement)) box.querySelector('input:not([readonly]),select,textarea')?.focus();
  }, 0);
  return { el: box, close };
}

/** confirm dialog → Promise<boolean> */
export function confirmDialog(title, message, { okText = 'Confirm', danger = false } = {}) {
  return new Promise((resolve) => {
    let answered = false;
    const ok = h('button', { class: danger ? 'danger solid' : 'primary', onclick: () => { answered = true; m.close(); resolve(true); } }, okText);
    const m = modal({
      title, size: 'narrow',
      body: h('p', { style: { margin: 0 } }, message),
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), ok],
      onClose: () => { if (!answered) resolve(false); },
    });
    setTimeout(() => ok.focus(), 0);
  });
}

// ---------- formatting ----------
export function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i && v < 10 ? 1 : 0)} ${u[i]}`;
}
export function parseTime(t) {
  if (t === null || t === undefined || t === '') return null;
  if (typeof t === 'number') return new Date(t > 1e12 ? t : t * 1000);
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}
export function fmtTime(t) {
  const d = parseTime(t);
  if (!d) return '–';
  const same = new Date().toDateString() === d.toDateString();
  return same ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : d.toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
export function fmtAgo(t) {
  const d = parseTime(t);
  if (!d) return '–';
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
export function jobDuration(job) {
  const a = parseTime(job.started_at);
  if (!a) return null;
  const b = parseTime(job.finished_at) || new Date();
  return b - a;
}

export function badge(status, text) {
  return h('span', { class: ['badge', status] }, text || status || 'unknown');
}

export function emptyState(title, text, action) {
  return h('div', { class: 'empty' }, h('div', { class: 'big' }, title), text ? h('div', {}, text) : null,
    action ? h('div', { style: { marginTop: '12px' } }, action) : null);
}

/** A labelled form field. */
export function field(label, input, help, cls) {
  return h('label', { class: ['field', cls] }, h('span', {}, label), input, help ? h('span', { class: 'help' }, help) : null);
}

export function kpi(label, value, { cls, hint, unit, testid } = {}) {
  const v = h('div', { class: 'value', 'data-testid': testid }, value, unit ? h('small', {}, unit) : null);
  return h('div', { class: ['card', 'kpi', cls] }, h('div', { class: 'label' }, label), v, hint ? h('div', { class: 'hint' }, hint) : null);
}

/** Builds a table: cols = [{label, cls, render(row)}]. */
export function table(cols, rows, { empty, rowAttrs } = {}) {
  if (!rows.length && empty) return empty;
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: c.cls }, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, cols.map((c) => h('td', { class: c.cls }, c.render(r))))))));
}

/** Reads a form's named inputs into an object (numbers for type=number, booleans for checkboxes). */
export function formValues(form) {
  const out = {};
  for (const el of form.querySelectorAll('[name]')) {
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'number') out[el.name] = el.value === '' ? null : Number(el.value);
    else out[el.name] = el.value;
  }
  return out;
}

/** A name safe for ids and media: [A-Za-z0-9._-]. */
export function safeName(s) {
  return String(s).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 100) || 'file';
}
