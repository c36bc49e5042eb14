// #/dashboard: running jobs, recent results, and live charts (calls/s, active calls,
// failures, p50/p99 response time) over every running job, fed by /live. Calls placed
// (client jobs) and calls answered (server jobs) are summed apart: a call from a load
// test of this master to a UAS of this master is one call, not two on one line.
//
// In `gossipper server` with /api/v1 on, the v1 panel (`v1panel.js`: the live engines,
// their rate and pause, dynamic clients) is shown under the KPIs, and the "legacy
// engine" toggle (`runtime.js`) shows the v1 views instead of the v2 jobs dashboard: the
// panel, the transports and the running scenario (`v1views.js`).

import * as api from '../api.js';
import { h, clear, kpi, table, fmtAgo, fmtDuration, fmtNum, jobDuration, emptyState, icon, showError } from '../ui.js';
import { standardCharts } from '../chart.js';
import { FINAL, jobLink, profileLabel, statusBadge, stopJob, liveStatsOf, isActive } from '../jobs-common.js';
import { runtime, legacyEngine, setLegacyEngine } from '../runtime.js';
import { v1Panel } from '../v1panel.js';
import { v1Transports, v1Scenario } from '../v1views.js';
import { navigate } from '../app.js';

/** The "legacy engine" switch: v2 jobs dashboard or the v1 engines alone. */
function legacyToggle() {
  const on = legacyEngine();
  const pick = (v) => { setLegacyEngine(v); navigate('#/dashboard'); };
  return h('span', { class: 'legacy-toggle', title: 'The v1 views steer this server’s live engines directly (rate, pause, dynamic clients)' },
    h('span', { class: 'small muted' }, 'Engine view'),
    h('span', { class: 'btn-group', 'data-testid': 'legacy-toggle' },
      h('button', { class: on ? '' : 'on', 'data-testid': 'legacy-off', 'aria-pressed': String(!on), onclick: () => pick(false) }, 'Jobs (v2)'),
      h('button', { class: on ? 'on' : '', 'data-testid': 'legacy-on', 'aria-pressed': String(on), onclick: () => pick(true) }, 'Legacy engine (v1)')));
}

export async function render(ctx) {
  const rt = await runtime();
  const v1 = rt.server && rt.v1 ? v1Panel(ctx) : null;
  if (v1 && legacyEngine()) {
    const transports = v1Transports(ctx);
    const scenario = v1Scenario(ctx);
    ctx.el.append(
      h('div', { class: 'page-head' },
        h('div', {}, h('h1', {}, 'Dashboard'), h('div', { class: 'sub' }, 'The legacy engine view: this server’s live engines, transports and scenario over /api/v1.')),
        h('div', { class: 'actions' }, legacyToggle())),
      v1.el, transports.el, scenario.el);
    await Promise.all([v1.start(), transports.start(), scenario.start()]);
    return;
  }
  const kRunning = h('span', {}, '–');
  const kOk = h('span', {}, '–');
  const kFail = h('span', {}, '–');
  const kCps = h('span', {}, '–');
  const kCpsHint = h('span', {}, '');
  const charts = standardCharts('dash', 5 * 60 * 1000, { split: true });
  ctx.onCleanup(() => charts.destroy());
  const runningBox = h('div');
  const recentBox = h('div');

  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Dashboard'), h('div', { class: 'sub' }, 'Everything running on this master, live.')),
      h('div', { class: 'actions' },
        v1 ? legacyToggle() : null,
        h('a', { class: 'btn', href: '#/jobs' }, icon('jobs'), 'All jobs'),
        h('a', { class: 'btn primary', href: '#/load', 'data-testid': 'new-load-test' }, icon('load'), 'New load test'))),
    h('div', { class: 'grid g4' },
      kpi('Running jobs', kRunning, { testid: 'kpi-running' }),
      kpi('Succeeded (24 h)', kOk, { cls: 'ok', testid: 'kpi-succeeded' }),
      kpi('Failed (24 h)', kFail, { cls: 'bad', testid: 'kpi-failed' }),
      kpi('Calls placed per second now', kCps, { testid: 'kpi-cps', hint: kCpsHint })),
    v1 ? v1.el : null,
    h('div', { class: 'mt' }, charts.el),
    h('div', { class: 'card mt' }, h('div', { class: 'card-head' }, h('h2', {}, 'Running jobs')), runningBox),
    h('div', { class: 'card mt' }, h('div', { class: 'card-head' }, h('h2', {}, 'Recent results'), h('div', { class: 'actions' }, h('a', { href: '#/reports', class: 'small' }, 'All reports'))), recentBox));

  let jobs = [];
  let liveStats = new Map();
  const prevFailed = new Map();
  let prevT = 0;

  function draw() {
    const running = jobs.filter(isActive);
    kRunning.textContent = String(running.length);
    const day = Date.now() - 86400e3;
    const recent = jobs.filter((j) => FINAL.has(j.status) && Date.parse(j.finished_at || j.created_at) >= day);
    kOk.textContent = String(recent.filter((j) => j.status === 'succeeded').length);
    kFail.textContent = String(recent.filter((j) => j.status === 'failed').length);
    clear(runningBox, table([
      { label: 'Job', render: jobLink },
      { label: 'Profile', render: profileLabel },
      { label: 'Status', render: statusBadge },
      { label: 'Running for', render: (j) => fmtDuration(jobDuration(j)) },
      { label: 'Calls/s', cls: 'num', render: (j) => fmtNum(liveStats.get(j.id)?.cps, 1) },
      { label: 'Active', cls: 'num', render: (j) => fmtNum(liveStats.get(j.id)?.calls_active) },
      { label: 'Direction', render: (j) => h('span', { class: 'small muted' }, j.profile_kind === 'server' ? 'answers' : 'places') },
      { label: '', cls: 'actions', render: (j) => h('button', { class: 'sm danger', onclick: () => stopJob(j, refresh) }, icon('stop'), 'Stop') },
    ], running, { empty: emptyState('Nothing is running', 'Start a load test, or start a server or client profile.', h('a', { class: 'btn sm', href: '#/load' }, 'New load test')) }));
    const finished = jobs.filter((j) => FINAL.has(j.status)).slice(0, 8);
    clear(recentBox, table([
      { label: 'Job', render: jobLink },
      { label: 'Profile', render: profileLabel },
      { label: 'Result', render: statusBadge },
      { label: 'Finished', render: (j) => fmtAgo(j.finished_at) },
      { label: '', cls: 'actions', render: (j) => j.status === 'succeeded' || j.status === 'failed' ? h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(j.id)}` }, 'Report') : '' },
    ], finished, { empty: emptyState('No results yet', 'Finished jobs and their reports appear here.') }));
  }

  async function refresh() {
    try {
      jobs = (await api.get('/jobs?limit=200')).jobs || [];
      if (ctx.alive()) draw();
    } catch (e) { if (ctx.alive()) showError(e, 'load jobs'); }
  }

  ctx.live((frame) => {
    const t = frame.ts ? Date.parse(frame.ts) || Date.now() : Date.now();
    if (t <= prevT) return;
    const dt = prevT ? (t - prevT) / 1000 : 0;
    prevT = t;
    const byId = new Map((frame.jobs || []).map((j) => [j.id, j]));
    // Merge live job rows over the list, so status flips without waiting for a refresh.
    let changed = false;
    for (const j of jobs) {
      const l = byId.get(j.id);
      if (l && l.status !== j.status) { Object.assign(j, l); changed = true; }
    }
    for (const l of frame.jobs || []) if (!jobs.some((j) => j.id === l.id)) { jobs.unshift({ ...l }); changed = true; }
    liveStats = new Map();
    let cps = 0, active = 0, cpsAnswered = 0, activeAnswered = 0, failedDelta = 0, p50 = [], p99 = [];
    for (const j of frame.jobs || []) {
      const st = liveStatsOf(j, frame);
      if (!st) continue;
      liveStats.set(j.id, st);
      if (j.status !== 'running') continue;
      if (j.profile_kind === 'server') {
        cpsAnswered += st.cps || 0;
        activeAnswered += st.calls_active || 0;
        continue;
      }
      cps += st.cps || 0;
      active += st.calls_active || 0;
      const f = st.calls_failed || 0;
      if (prevFailed.has(j.id)) failedDelta += Math.max(0, f - prevFailed.get(j.id));
      prevFailed.set(j.id, f);
      if (typeof st.response_time_p50_ms === 'number') p50.push(st.response_time_p50_ms);
      if (typeof st.response_time_p99_ms === 'number') p99.push(st.response_time_p99_ms);
    }
    const avg = (a) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : null);
    charts.push({ t, cps, active, cpsAnswered, activeAnswered, failedPerS: dt ? failedDelta / dt : 0, p50: avg(p50), p99: p99.length ? Math.max(...p99) : null });
    kCps.textContent = fmtNum(cps, 1);
    kCpsHint.textContent = `answered: ${fmtNum(cpsAnswered, 1)}/s`;
    if (changed || liveStats.size) draw();
    if (changed && [...byId.values()].some((j) => FINAL.has(j.status))) refresh();
  });

  await refresh();
  ctx.every(5000, refresh);
  await v1?.start();
}
