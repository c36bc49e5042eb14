// The one way the console talks to /api/v2.
//
// Owns: the session (JWT in sessionStorage, never in a URL or localStorage; a new tab
// borrows it from an open one over a BroadcastChannel, and signing out ends it in
// every tab), error
// decoding ({"error": …} → ApiError with the server's words), the 401 → sign-in rule,
// single-use tickets for WebSockets, blob downloads, and NDJSON streams. A path is under
// /api/v2 unless it names its API (`/api/v1/…`, served by `gossipper server`).

const SESSION_KEY = 'gossipper.session';
const BASE = '/api/v2';

export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

let session = null;
try { session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null'); } catch { session = null; }
if (session && session.expires_at && session.expires_at * 1000 < Date.now()) session = null;

const listeners = new Set();
/** Called with no argument when the server says the session is gone (401). */
export function onSessionLost(fn) { listeners.add(fn); }

export function currentSession() { return session; }
export function isAdmin() { return session?.role === 'admin'; }

export function setSession(s, { broadcast = true } = {}) {
  const had = !!session;
  session = s;
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
  if (!s && had && broadcast) channel?.postMessage({ type: 'logout' });
}

// Tabs of this origin share the session in memory only (never through storage).
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('gossipper.session') : null;
channel?.addEventListener('message', (ev) => {
  const m = ev.data || {};
  if (m.type === 'need' && session) channel.postMessage({ type: 'session', session });
  if (m.type === 'renewed' && session && m.session?.username === session.username) {
    setSession(m.session, { broadcast: false });
  }
  if (m.type === 'logout' && session) {
    setSession(null, { broadcast: false });
    for (const fn of listeners) fn();
  }
});

/** A tab opened without a session asks the others for theirs (resolves either way). */
export function borrowSession(waitMs = 250) {
  if (session || !channel) return Promise.resolve(session);
  return new Promise((resolve) => {
    const onMsg = (ev) => {
      const m = ev.data || {};
      if (m.type === 'session' && m.session?.token && !(m.session.expires_at * 1000 < Date.now())) {
        done(m.session);
      }
    };
    const done = (s) => {
      channel.removeEventListener('message', onMsg);
      clearTimeout(timer);
      if (s && !session) setSession(s, { broadcast: false });
      resolve(session);
    };
    const timer = setTimeout(() => done(null), waitMs);
    channel.addEventListener('message', onMsg);
    channel.postMessage({ type: 'need' });
  });
}

function sessionLost() {
  if (!session) return;
  setSession(null);
  for (const fn of listeners) fn();
}

function authHeaders(extra = {}) {
  const h = { ...extra };
  if (session?.token) h.Authorization = `Bearer ${session.token}`;
  return h;
}

async function errorFrom(res, path) {
  let msg = '';
  try {
    const text = await res.text();
    try { msg = JSON.parse(text).error || text; } catch { msg = text; }
  } catch { /* body unreadable */ }
  if (!msg) msg = `${res.status} ${res.statusText || 'error'}`;
  return new ApiError(res.status, msg, path);
}

/** `/api/v1/…` paths (gossipper server's hybrid control) are taken as they are; every
 *  other path is under /api/v2. */
function url(path) { return path.startsWith('/api/') ? path : BASE + path; }

/** Raw fetch with auth; throws ApiError on network errors and non-2xx answers. */
export async function request(method, path, { body, headers, signal, expectLogin } = {}) {
  const opts = { method, headers: authHeaders(headers), signal };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof ArrayBuffer) {
      opts.body = body;
    } else {
      opts.body = JSON.stringify(body);
      opts.headers['Content-Type'] = 'application/json';
    }
  }
  let res;
  try {
    res = await fetch(url(path), opts);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `Cannot reach the gossipper server (${e.message}). Is it still running?`, path);
  }
  if (res.status === 401 && !expectLogin) {
    sessionLost();
    throw new ApiError(401, 'Your session has expired. Please sign in again.', path);
  }
  if (!res.ok) throw await errorFrom(res, path);
  return res;
}

/** JSON call: returns the decoded body, or null for 204. */
export async function api(method, path, body, opts = {}) {
  const res = await request(method, path, { ...opts, body });
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b = {}, o) => api('POST', p, b, o);
export const put = (p, b, o) => api('PUT', p, b, o);
export const del = (p, o) => api('DELETE', p, undefined, o);

export async function login(username, password) {
  const r = await api('POST', '/auth/login', { username, password }, { expectLogin: true });
  const s = { token: r.token, expires_at: r.expires_at, username: r.username || username, role: r.role };
  if (!s.role) {
    setSession(s);
    const me = await get('/me');
    s.role = me.role;
  }
  setSession(s);
  return s;
}

export function logout() { setSession(null); }

/** Swaps in a fresh token (after a password change revoked the old ones), in every tab. */
export function renewSession(token, expiresAt) {
  if (!session) return;
  setSession({ ...session, token, expires_at: expiresAt }, { broadcast: false });
  channel?.postMessage({ type: 'renewed', session });
}

/** A single-use ticket for `?ticket=` (WebSocket upgrades). */
export async function ticket() {
  return (await post('/auth/ticket', {})).ticket;
}

/** Fetches a file with the bearer token and returns a Blob. */
export async function blob(path) {
  const res = await request('GET', path);
  return await res.blob();
}

/** Downloads a file through a blob URL, so the token never appears in a URL. */
export async function download(path, fileName) {
  const res = await request('GET', path);
  const b = await res.blob();
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  const url = URL.createObjectURL(b);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName || (m && m[1]) || path.split('/').pop();
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * Reads an NDJSON stream (e.g. /jobs/{id}/events), calling onLine with each decoded
 * object. Resolves when the stream ends; abort with the signal.
 */
export async function streamLines(path, onLine, signal) {
  const res = await request('GET', path, { signal });
  if (!res.body) {
    for (const l of (await res.text()).split('\n')) emit(l);
    return;
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  function emit(line) {
    line = line.trim();
    if (!line) return;
    try { onLine(JSON.parse(line)); } catch { /* a torn or foreign line: skip */ }
  }
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      emit(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  emit(buf);
}

/**
 * Opens the /live WebSocket with a fresh ticket and keeps it open (reconnecting with
 * back-off). Returns { close() }. onState(true|false) reports the connection.
 */
export function live(onMessage, onState = () => {}) {
  let ws = null;
  let closed = false;
  let delay = 1000;
  let timer = null;
  async function open() {
    if (closed || !session) return;
    let t;
    try { t = await ticket(); } catch { return retry(); }
    if (closed) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${proto}//${location.host}${BASE}/live?ticket=${encodeURIComponent(t)}`);
    ws.onopen = () => { delay = 1000; onState(true); };
    ws.onmessage = (ev) => {
      try { onMessage(JSON.parse(ev.data)); } catch { /* ignore a bad frame */ }
    };
    ws.onclose = () => { onState(false); retry(); };
    ws.onerror = () => { /* onclose follows */ };
  }
  function retry() {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(open, delay);
    delay = Math.min(delay * 2, 15000);
  }
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (ws) { ws.onclose = null; ws.close(); }
      onState(false);
    },
  };
}
