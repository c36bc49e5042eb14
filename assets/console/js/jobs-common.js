// Helpers shared by the pages that show jobs: links (with the job's name), stop, live
// stats extraction, and when a finished job's outputs can be read.

import * as api from './api.js';
import { h, clear, badge, toast, showError, confirmDialog, modal, field, errorBox } from './ui.js';

export const FINAL = new Set(['succeeded', 'failed', 'stopped']);
// `stopping`: a stop was asked; the worker is still writing its artifacts.
export const isActive = (j) => j && (j.status === 'running' || j.status === 'pending' || j.status === 'stopping');
/** The worker has exited and its artifacts are registered. */
export const isFinished = (j) => j && FINAL.has(j.status) && !!j.finished_at;

/** A short name for a job id: `j-<time>-<hex>` shows as its hex suffix. */
export function shortJobId(id) {
  const m = /^j-\d{8}T\d{6}(?:\.\d+)?Z-([0-9a-f]+)$/i.exec(id || '');
  return m ? m[1] : id;
}

export function jobLink(j) {
  const href = j.profile_id === '_load_wizard' ? `#/load/${encodeURIComponent(j.id)}` : `#/jobs/${encodeURIComponent(j.id)}`;
  if (j.name) {
    return h('a', { href, title: j.id, 'data-testid': 'job-link', class: 'job-name' }, h('b', {}, j.name), ' ', h('span', { class: 'mono faint small' }, shortJobId(j.id)));
  }
  return h('a', { href, class: 'mono nowrap', title: j.id, 'data-testid': 'job-link' }, shortJobId(j.id));
}

/** A job's name, or its short id when it has none. */
export const jobTitle = (j) => j.name || shortJobId(j.id);

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

/** Edits a job's name and notes (PATCH /jobs/{id}); `after(job)` gets the new row. */
export function editLabel(job, after) {
  const name = h('input', { value: job.name || '', maxlength: 200, 'data-testid': 'label-name' });
  const notes = h('textarea', { rows: 5, 'data-testid': 'label-notes' });
  notes.value = job.notes || '';
  const err = h('div');
  const m = modal({ title: 'Name and notes', body: h('div', { class: 'stack' }, field('Name', name), field('Notes', notes), err),
    foot: [h('button', { onclick: () => m.close() }, 'Cancel'), h('button', { class: 'primary', 'data-testid': 'label-save', onclick: async () => {
      try {
        const j = await api.api('PATCH', `/jobs/${encodeURIComponent(job.id)}`, { name: name.value, notes: notes.value });
        m.close();
        toast('Saved.', 'ok', null, { key: 'label' });
        after?.(j);
      } catch (e) { clear(err, errorBox(e)); }
    } }, 'Save')] });
}
