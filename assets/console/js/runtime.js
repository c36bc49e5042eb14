// What the console runs inside, and the "legacy engine" toggle.
//
// `gossipper ui` runs no SIP itself (jobs are worker processes); `gossipper server
// -ui_data_dir` is one live SIP engine that also serves this console: only there do the
// Live Trace and Calls pages have data, and only there, when its v1 control API is on,
// does the dashboard show the v1 panel. GET /health says which (`mode`: ui|server, and
// `legacy_api_v1`: whether /api/v1 is served); it is read once per sign-in.
//
// The "legacy engine" toggle (ui-mode.md): in server mode with v1 on, the dashboard can
// show the v1 views (the live engines, their rate and pause, dynamic clients) instead of
// the v2 jobs dashboard. The choice is this browser's, kept in localStorage.

import * as api from './api.js';

const LEGACY_KEY = 'gossipper.legacyEngine';

let cached = null;

/** Reads the runtime facts a /health reply gives: {server, v1, mode, raw}. */
export function runtimeOf(s) {
  const mode = String(s?.mode || 'ui');
  const server = mode === 'server';
  const v1 = server && s?.legacy_api_v1 === true;
  return { server, v1, mode, raw: s || {} };
}

/** The runtime, fetched once (a failure reads as `gossipper ui`). */
export function runtime() {
  if (!cached) cached = api.get('/health').then(runtimeOf, () => runtimeOf(null));
  return cached;
}

/** Forgets the cached runtime (a new sign-in asks again). */
export function resetRuntime() { cached = null; }

/** Whether this browser asked the dashboard for the v1 ("legacy engine") views. */
export function legacyEngine() {
  try { return localStorage.getItem(LEGACY_KEY) === '1'; } catch { return false; }
}

export function setLegacyEngine(on) {
  try {
    if (on) localStorage.setItem(LEGACY_KEY, '1');
    else localStorage.removeItem(LEGACY_KEY);
  } catch { /* private mode: the choice lasts this page */ }
}
