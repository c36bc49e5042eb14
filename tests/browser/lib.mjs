// Helpers for the console's browser tests: Chromium launch options, sign-in, direct API
// calls (for setup that is not under test), screenshots, and small assertions.

import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';

const here = dirname(fileURLToPath(import.meta.url));
export const BASE = process.env.BASE_URL || 'http://127.0.0.1:8080';
export const ADMIN = { username: process.env.ADMIN_USER || 'admin', password: process.env.ADMIN_PASS || 'sipcapture' };
export const SHOTS = process.env.SCREENSHOT_DIR || join(here, 'screenshots');
mkdirSync(SHOTS, { recursive: true });

/** Playwright gives every launch a fresh temporary profile (--user-data-dir) itself. */
export function launchOptions() {
  return {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      // Pages fulfilled from disk (CONSOLE_FROM_DISK) count as non-local, and Chromium
      // would then refuse their WebSocket to 127.0.0.1.
      ...(process.env.CONSOLE_FROM_DISK === '1' ? ['--disable-features=LocalNetworkAccessChecks'] : [])],
  };
}

/** A unique, id-safe suffix so no test depends on another's objects. */
export function uniq(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

export class AssertionError extends Error {}
export function assert(cond, msg) { if (!cond) throw new AssertionError(msg); }
export function assertEq(a, b, msg) { if (a !== b) throw new AssertionError(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); }

/** Polls fn until it returns a truthy value (or throws with the last value). */
export async function eventually(fn, { timeout = 15000, interval = 200, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new AssertionError(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Direct REST call (setup/teardown), returning {status, body}. */
export async function api(token, method, path, body) {
  return apiAt(BASE, token, method, path, body);
}

/** The same against another listener (`base`); a path starting `/api/` is taken as it is
 *  (`/api/v1/…`), any other is under `/api/v2`. */
export async function apiAt(base, token, method, path, body) {
  const res = await fetch(`${base}${path.startsWith('/api/') ? '' : '/api/v2'}${path}`, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed };
}

export async function apiToken(user = ADMIN, base = BASE) {
  const r = await apiAt(base, null, 'POST', '/auth/login', user);
  assertEq(r.status, 200, `API login of ${user.username}`);
  return r.body.token;
}

export async function createUser(username, password, role) {
  const t = await apiToken();
  const r = await api(t, 'POST', '/users', { username, password, role });
  assertEq(r.status, 201, `create user ${username}: ${JSON.stringify(r.body)}`);
}

/** Signs in through the form and waits for the dashboard. */
export async function signIn(page, user = ADMIN, base = BASE) {
  await page.goto(`${base}/`);
  await page.getByTestId('login-username').fill(user.username);
  await page.getByTestId('login-password').fill(user.password);
  await page.getByTestId('login-submit').click();
  await page.waitForSelector('.shell .nav', { timeout: 10000 });
  await page.waitForFunction(() => location.hash.startsWith('#/'));
}

/** Navigates by hash and waits until that page has rendered (the console marks
 *  `#page[data-ready]` with the hash once its first data is in, or its error shown). */
export async function goto(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((h) => document.getElementById('page')?.dataset.ready === new URL(h, location.href).hash, hash, { timeout: 10000 });
}

export async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Sets the console's theme in this page, as the theme toggle does. */
export async function setTheme(page, theme) {
  await page.evaluate((t) => {
    document.documentElement.dataset.theme = t;
    try { localStorage.setItem('gossipper.theme', t); } catch { /* private mode */ }
    window.dispatchEvent(new Event('themechange'));
  }, theme);
}

/** Screenshots the page in the light and the dark theme (`<name>-light.png`,
 *  `<name>-dark.png`), then puts back the theme it had. */
export async function shotBoth(page, name) {
  const was = await page.evaluate(() => document.documentElement.dataset.theme || 'light');
  for (const theme of ['light', 'dark']) {
    await setTheme(page, theme);
    // Charts redraw on the theme change (their colours come from CSS variables).
    await page.waitForTimeout(250);
    await shot(page, `${name}-${theme}`);
  }
  await setTheme(page, was);
}

/** A UAS profile (built-in uas on a free loopback port) started as a job. */
export async function startUas(t, { scenario = 'uas' } = {}) {
  const port = await freeUdpPort();
  const id = uniq('uas');
  const c = await api(t, 'POST', '/servers', { id, name: 'UAS', scenario_ref: scenario, transports: [{ transport: 'u1', local_ip: '127.0.0.1', local_port: port, enabled: true }] });
  assertEq(c.status, 201, `create UAS profile: ${JSON.stringify(c.body)}`);
  const s = await api(t, 'POST', `/servers/${id}/start`, {});
  assert(s.status === 201 || s.status === 200, `start UAS: ${s.status} ${JSON.stringify(s.body)}`);
  const job = s.body.job || s.body;
  await eventually(async () => (await api(t, 'GET', `/jobs/${job.id}`)).body?.job?.status === 'running', { what: 'the UAS job to run' });
  // Its socket is bound once the worker has written a stats line.
  await eventually(async () => {
    const r = await fetch(`${BASE}/api/v2/jobs/${job.id}/events?follow=false`, { headers: { Authorization: `Bearer ${t}` } });
    return (await r.text()).includes('"kind":"stats"');
  }, { what: 'the UAS to bind its port' });
  return { id, port, job, stop: () => api(t, 'POST', `/servers/${id}/stop`, {}) };
}

/** Polls a job until it has finished (its worker exited and its artifacts are in). */
export async function waitFinished(t, id, timeout = 60000) {
  return eventually(async () => {
    const j = (await api(t, 'GET', `/jobs/${encodeURIComponent(id)}`)).body?.job;
    return j?.finished_at ? j : null;
  }, { timeout, interval: 300, what: `job ${id} to finish` });
}

/** A free loopback UDP port (bound and released). */
export function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** A tiny valid WAV: 8 kHz, mono, 16-bit, `n` samples (0.25 s by default) of a 440 Hz tone. */
export function tinyWav(n = 2000) {
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24); b.writeUInt32LE(16000, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), 44 + i * 2);
  return b;
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
/**
 * Development aid (CONSOLE_FROM_DISK=1): serve the console files from assets/console
 * instead of the binary's embedded copy, so page edits need no rebuild. Never used by
 * scripts/browser-test.sh, which tests what the binary embeds.
 */
export async function maybeServeFromDisk(context) {
  if (process.env.CONSOLE_FROM_DISK !== '1') return;
  const root = join(here, '../../assets/console');
  await context.route(/^[^?#]*\/(assets\/.*|)$/, (route) => {
    const url = new URL(route.request().url());
    if (url.pathname.startsWith('/api/')) return route.continue();
    const rel = url.pathname === '/' ? 'index.html' : url.pathname.replace(/^\/assets\//, '');
    const file = join(root, rel);
    if (!existsSync(file)) return route.continue();
    return route.fulfill({ status: 200, contentType: TYPES[extname(file)] || 'application/octet-stream', body: readFileSync(file) });
  });
}
