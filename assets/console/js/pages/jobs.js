// #/jobs: every job with filters (status, kind, text), Stop and Stop all.
// #/jobs/<id>: the job monitor — live charts from /jobs/{id}/events, stop, artifacts,
// recordings, worker log and the HTML report.

import * as api from '../api.js';
import { h, clear, icon, table, emptyState, fmtAgo, fmtDuration, fmtTime, jobDuration, showError, errorBox, confirmDialog, toast } from '../ui.js';
import { jobLink, profileLabel, statusBadge, stopJob, isActive, jobArgs, FINAL } from '../jobs-common.js';
import { liveMonitor, artifactsTable, recordingsBox, reportFrame, logBox, loadSummary, summaryFindings } from '../monitor.js';

export async function render(ctx) {
  if (ctx.parts[1]) return detail(ctx, ctx.parts[1]);
  return list(ctx);
}

async function list(ctx) {
  const status = h('select', { 'aria-label': 'Status', 'data-testid': 'filter-status' }, ['', 'running', 'pending', 'succeeded', 'failed', 'stopped'].map((s) => h('option', { value: s, selected: ctx.query.get('status') === s }, s || 'any status')));
  const kind = h('select', { 'aria-label': 'Kind' }, ['', 'server', 'client', 'tool', 'gateway'].map((s) => h('option', { value: s }, s || 'any kind')));
  const q = h('input', { type: 'search', placeholder: 'Search id, profile, scenario…', 'data-testid': 'filter-text' });
  const box = h('div');
  const stopAll = h('button', { class: 'danger', onclick: async () => {
    const running = jobs.filter(isActive);
    if (!running.length) return;
    if (!(await confirmDialog('Stop all jobs', `Stop all ${running.length} running jobs?`, { okText: 'Stop all', danger: true }))) return;
    const results = await Promise.allSettled(running.map((j) => api.post(`/jobs/${encodeURIComponent(j.id)}/stop`, {})));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) showError(failed[0].reason, `stop ${failed.length} job(s)`); else toast(`Stopping ${running.length} jobs.`, 'ok');
    refresh();
  } }, icon('stop'), 'Stop all');
  ctx.el.append(h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, 'Jobs'), h('div', { class: 'sub' }, 'Every worker this master started: load tests, profiles and tools.')),
    h('div', { class: 'actions' }, stopAll, h('a', { class: 'btn primary', href: '#/load' }, icon('load'), 'New load test'))),
  h('div', { class: 'card' }, h('div', { class: 'filters' }, q, status, kind, h('span', { class: 'grow' }), h('span', { class: 'small muted', 'data-testid': 'jobs-count' })), box));

  let jobs = [];
  function draw() {
    const f = q.value.trim().toLowerCase();
    const shown = jobs.filter((j) => (!status.value || j.status === status.value) && (!kind.value || j.profile_kind === kind.value)
      && (!f || `${j.id} ${j.profile_id} ${j.scenario_id} ${j.created_by}`.toLowerCase().includes(f)));
    stopAll.disabled = !jobs.some(isActive);
    ctx.el.querySelector('[data-testid="jobs-count"]').textContent = `${shown.length} of ${jobs.length}`;
    clear(box, table([
      { label: 'Job', render: jobLink },
      { label: 'Profile', render: profileLabel },
      { label: 'Scenario', render: (j) => h('span', { class: 'mono' }, j.scenario_id || '–') },
      { label: 'Status', render: (j) => h('div', {}, statusBadge(j), j.error ? h('div', { class: 'small', style: { color: 'var(--bad)', maxWidth: '280px' } }, j.error) : null) },
      { label: 'Started', render: (j) => h('span', { title: fmtTime(j.started_at || j.created_at) }, fmtAgo(j.started_at || j.created_at)) },
      { label: 'Duration', render: (j) => fmtDuration(jobDuration(j)) },
      { label: 'By', render: (j) => j.created_by || '' },
      { label: '', cls: 'actions', render: (j) => [
        isActive(j) ? h('button', { class: 'sm danger', onclick: () => stopJob(j, refresh) }, icon('stop'), 'Stop') : null,
        FINAL.has(j.status) && j.status !== 'stopped' ? h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(j.id)}` }, 'Report') : null,
        h('a', { class: 'btn sm', href: `#/jobs/${encodeURIComponent(j.id)}` }, 'Open')] },
    ], shown, { rowAttrs: (j) => ({ 'data-job': j.id }), empty: emptyState(jobs.length ? 'No job matches the filters' : 'No jobs yet', jobs.length ? null : 'Start a load test or a profile to see it here.') }));
  }
  async function refresh() {
    try { jobs = (await api.get('/jobs?limit=500')).jobs || []; if (ctx.alive()) draw(); } catch (e) { if (ctx.alive()) showError(e, 'load jobs'); }
  }
  for (const el of [status, kind]) el.addEventListener('change', draw);
  q.addEventListener('input', draw);
  await refresh();
  ctx.every(3000, refresh);
}

async function detail(ctx, id) {
  ctx.crumbs([['Jobs', '#/jobs'], [id]]);
  let { job, artifacts } = await api.get(`/jobs/${encodeURIComponent(id)}`);
  const head = h('div');
  const errorArea = h('div');
  const tabsBody = h('div');
  const mon = liveMonitor(ctx, job, { onExit: () => setTimeout(reload, 300) });
  const tabs = {};
  const tabBar = h('div', { class: 'tabs mt' });
  let currentTab = 'artifacts';
  for (const [key, label] of [['artifacts', 'Artifacts'], ['report', 'Report'], ['recordings', 'Recordings'], ['log', 'Worker log'], ['spec', 'Parameters']]) {
    tabs[key] = h('button', { 'data-testid': `tab-${key}`, onclick: () => showTab(key) }, label);
    tabBar.append(tabs[key]);
  }
  async function showTab(key) {
    currentTab = key;
    for (const [k, b] of Object.entries(tabs)) b.classList.toggle('on', k === key);
    clear(tabsBody, h('div', { class: 'muted' }, h('span', { class: 'spin' }), ' Loading…'));
    let content;
    try {
      if (key === 'artifacts') content = h('div', { class: 'card' }, artifactsTable(id, artifacts));
      else if (key === 'report') {
        if (!FINAL.has(job.status)) content = h('div', { class: 'empty' }, 'The report is written when the job ends.');
        else {
          const [frame, summary] = await Promise.all([reportFrame(id), loadSummary(id).catch(() => null)]);
          content = h('div', { class: 'stack' }, summary ? summaryFindings(summary) : null,
            h('div', { class: 'row' }, h('span', { class: 'grow' }), h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(id)}` }, icon('reports'), 'Open in Reports'),
              h('button', { class: 'sm', onclick: () => api.download(`/jobs/${encodeURIComponent(id)}/artifacts/report_html`).catch((e) => showError(e, 'download the report')) }, icon('download'), 'Download')), frame);
        }
      } else if (key === 'recordings') content = await recordingsBox(ctx, id);
      else if (key === 'log') content = await logBox(id);
      else content = h('pre', { class: 'card pad', style: { margin: 0 } }, JSON.stringify({ ...job, args_json: jobArgs(job) }, null, 2));
    } catch (e) {
      content = e.status === 404 ? h('div', { class: 'empty' }, 'Not available for this job.') : errorBox(e);
    }
    if (currentTab === key && ctx.alive()) clear(tabsBody, content);
  }

  function drawHead() {
    clear(head, h('div', { class: 'page-head' },
      h('div', {}, h('h1', { class: 'row', style: { gap: '10px' } }, h('span', {}, 'Job ', h('span', { class: 'mono' }, job.id)), statusBadge(job)),
        h('div', { class: 'sub row', style: { gap: '14px' } }, profileLabel(job), h('span', {}, 'scenario ', h('span', { class: 'mono' }, job.scenario_id || 'default')),
          h('span', {}, `started ${fmtTime(job.started_at || job.created_at)}`), h('span', {}, `ran ${fmtDuration(jobDuration(job))}`), job.created_by ? h('span', {}, `by ${job.created_by}`) : null,
          job.exit_code !== null && job.exit_code !== undefined ? h('span', {}, `exit ${job.exit_code}`) : null)),
      h('div', { class: 'actions' },
        isActive(job) ? h('button', { class: 'danger', 'data-testid': 'job-stop', onclick: () => stopJob(job, reload) }, icon('stop'), 'Stop') : null,
        FINAL.has(job.status) ? h('button', { class: 'primary', 'data-testid': 'open-report', onclick: () => showTab('report') }, icon('reports'), 'View report') : null)));
    clear(errorArea, job.error ? h('div', { class: 'alert error', style: { marginBottom: '16px' } }, icon('alert'), h('div', {}, h('b', {}, 'The job reported an error: '), job.error)) : null);
  }
  async function reload() {
    try {
      const r = await api.get(`/jobs/${encodeURIComponent(id)}`);
      const was = job.status;
      job = r.job; artifacts = r.artifacts || [];
      if (!ctx.alive()) return;
      drawHead();
      if (was !== job.status || currentTab === 'artifacts') showTab(FINAL.has(job.status) && !FINAL.has(was) ? 'report' : currentTab);
    } catch (e) { if (ctx.alive()) showError(e, 'refresh the job'); }
  }
  drawHead();
  ctx.el.append(head, errorArea, mon.el, tabBar, tabsBody);
  showTab(FINAL.has(job.status) ? 'report' : 'artifacts');
  ctx.every(3000, () => { if (isActive(job)) reload(); });
}
