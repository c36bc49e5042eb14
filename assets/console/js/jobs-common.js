// Helpers shared by the pages that show jobs: links, stop, live stats extraction,
// and the health-gate verdict.

import * as api from './api.js';
import { h, badge, toast, showError, confirmDialog } from './ui.js';

export const FINAL = new Set(['succeeded', 'failed', 'stopped']);
// `stopping`: a stop was asked; the worker is still writing its artifacts.
export const isActive = (j) => j && (j.status === 'running' || j.status === 'pending' || j.status === 'stopping');

/** A short name for a job id: `j-<time>-<hex>` shows as its hex suffix. */
export function shortJobId(id) {
  const m = /^j-\d{8}T\d{6}(?:\.\d+)?Z-([0-9a-f]+)$/i.exec(id || '');
  return m ? m[1] : id;
}

export function jobLink(j) {
  const href = j.profile_id === '_load_wizard' ? `#/load/${encodeURIComponent(j.id)}` : `#/jobs/${encodeURIComponent(j.id)}`;
  return h('a', { href, class: 'mono nowrap', title: j.id, 'data-testid': 'job-link' }, shortJobId(j.id));
}

export function profileLabel(j) {
  if (j.profile_id === '_load_wizard') return h('span', {}, 'Load test');
  const href = j.profile_kind === 'server' ? '#/servers' : j.profile_kind === 'client' ? '#/clients' : null;
  return h('span', {}, h('span', { class: 'faint' }, `${j.profile_kind} · `), href ? h('a', { href }, j.profile_id) : j.profile_id);
}

export function statusBadge(j) {
  const b = badge(j.status);
  b.setAttribute('data-testid', 'job-status');
  if (j.exit_code !== null && j.exit_code !== undefined && FINAL.has(j.status)) b.title = `exit code ${j.exit_code}`;
  return b;
}

export async function stopJob(j, after) {
  const ok = await confirmDialog('Stop job', `Stop job ${j.id}? The worker gets SIGTERM and its calls end.`, { okText: 'Stop job', danger: true });
  if (!ok) return;
  try {
    await api.post(`/jobs/${encodeURIComponent(j.id)}/stop`, {});
    toast(`Job ${j.id} is stopping.`, 'ok');
    after?.();
  } catch (e) { showError(e, 'stop the job'); }
}

/** The latest stats object a /live frame carries for a job, whatever its exact key. */
export function liveStatsOf(job, frame) {
  const s = job.stats || job.latest || job.latest_stats || job.last_stats
    || (frame?.stats && !Array.isArray(frame.stats) ? frame.stats[job.id] : null);
  return s && typeof s === 'object' ? s : null;
}

/** Parses a job's args_json (engine overrides / load-test parameters) safely. */
export function jobArgs(j) {
  if (!j?.args_json) return {};
  if (typeof j.args_json === 'object') return j.args_json;
  try { return JSON.parse(j.args_json) || {}; } catch { return {}; }
}

/** Where a job sends its calls, from its recorded overrides (load tests, clients). */
export function jobTarget(j) {
  const a = jobArgs(j);
  const e = { ...(a.engine || {}), ...a };
  if (e.director) return e.director;
  if (e.remote_host) return `${e.remote_host}:${e.remote_port || 5060}`;
  return '';
}

/**
 * Health gates against the current numbers.
 * gates: {enabled, min_success_ratio, max_failed_calls}; st: {succeeded, failed, created}
 * → [{name, limit, value, pass}] (pass null while there is nothing to judge yet).
 */
export function evaluateGates(gates, st) {
  if (!gates || gates.enabled === false) return [];
  const done = (st.succeeded || 0) + (st.failed || 0);
  const ratio = done ? (st.succeeded || 0) / done : null;
  const out = [];
  if (gates.min_success_ratio !== undefined && gates.min_success_ratio !== null) {
    out.push({ name: 'Success ratio', limit: `≥ ${(gates.min_success_ratio * 100).toFixed(1)} %`,
      value: ratio === null ? '–' : `${(ratio * 100).toFixed(1)} %`, pass: ratio === null ? null : ratio >= gates.min_success_ratio });
  }
  if (gates.max_failed_calls !== undefined && gates.max_failed_calls !== null) {
    out.push({ name: 'Failed calls', limit: `≤ ${gates.max_failed_calls}`, value: String(st.failed || 0),
      pass: (st.failed || 0) <= gates.max_failed_calls });
  }
  return out;
}

export function gateRows(results) {
  if (!results.length) return h('div', { class: 'muted' }, 'Health gates are off for this run.');
  return results.map((g) => h('div', { class: 'gate', 'data-testid': 'gate' },
    h('div', { class: 'what' }, h('div', { style: { fontWeight: 600 } }, g.name), h('div', { class: 'small muted' }, `gate ${g.limit}`)),
    h('div', { class: 'val' }, g.value),
    g.pass === null ? h('span', { class: 'badge plain' }, 'waiting') : h('span', { class: ['badge', g.pass ? 'pass' : 'fail'] }, g.pass ? 'pass' : 'fail')));
}
