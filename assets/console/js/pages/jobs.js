// #/jobs: every job with filters (status, kind, text), its name and load, Stop and Stop
// all. #/jobs/<id>: the job monitor — name and notes (editable), the verdict and the
// thresholds, target against actual, SIPp's per-message table, live charts from
// /jobs/{id}/events, stop, the request, artifacts, recordings, worker log and the report.

import * as api from '../api.js';
import { h, clear, icon, table, emptyState, fmtAgo, fmtDuration, fmtTime, jobDuration, showError, errorBox, confirmDialog, toast } from '../ui.js';
import { jobLink, profileLabel, statusBadge, stopJob, isActive, isFinished, editLabel, FINAL } from '../jobs-common.js';
import { liveMonitor, artifactsTable, recordingsBox, reportFrame, logBox, loadSummary, summaryFindings } from '../monitor.js';
import { requestOf, requestView, thresholdRows, finalVerdict, loadText } from '../run-view.js';

export async function render(ctx) {
  if (ctx.parts[1]) return detail(ctx, ctx.parts[1]);
  return list(ctx);
}

async function list(ctx) {
  const status = h('select', { 'aria-label': 'Status', 'data-testid': 'filter-status' }, ['', 'running', 'pending', 'succeeded', 'failed', 'stopped'].map((s) => h('option', { value: s, selected: ctx.query.get('status') === s }, s || 'any status')));
  const kind = h('select', { 'aria-label': 'Kind' }, ['', 'server', 'client', 'tool', 'gateway'].map((s) => h('option', { value: s }, s || 'any kind')));
  const q = h('input', { type: 'search', placeholder: 'Search name, id, profile, scenario…', 'data-testid': 'filter-text' });
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
      && (!f || `${j.name} ${j.id} ${j.profile_id} ${j.scenario_id} ${j.created_by} ${j.notes}`.toLowerCase().includes(f)));
    stopAll.disabled = !jobs.some(isActive);
    ctx.el.querySelector('[data-testid="jobs-count"]').textContent = `${shown.length} of ${jobs.length}`;
    clear(box, table([
      { label: 'Job', render: jobLink },
      { label: 'Profile', render: profileLabel },
      { label: 'Scenario', render: (j) => h('span', { class: 'mono' }, j.scenario_id || '–') },
      { label: 'Load', render: (j) => {
        if (j.profile_kind !== 'client') return '–';
        const r = requestOf(j);
        return h('div', { class: 'small' }, h('div', {}, loadText(r)),
          h('div', { class: 'faint' }, [r.target ? `→ ${r.target}` : null, r.thresholds.length ? `${r.thresholds.length} threshold${r.thresholds.length === 1 ? '' : 's'}` : 'no thresholds'].filter(Boolean).join(' · ')));
      } },
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
  const verdictBox = h('div');
  const tabsBody = h('div');
  let summary = null;
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
        if (!isFinished(job)) content = h('div', { class: 'empty', 'data-testid': 'report-pending' }, job.status === 'stopping' ? 'The job is stopping; its report follows in a moment.' : 'The report is written when the job ends.');
        else {
          const [frame, s] = await Promise.all([reportFrame(id), loadSummary(id).catch(() => null)]);
          content = h('div', { class: 'stack' }, s ? summaryFindings(s) : null,
            h('div', { class: 'row' }, h('span', { class: 'grow' }), h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(id)}` }, icon('reports'), 'Open in Reports'),
              h('button', { class: 'sm', onclick: () => api.download(`/jobs/${encodeURIComponent(id)}/artifacts/report_html`).catch((e) => showError(e, 'download the report')) }, icon('download'), 'Download')), frame);
        }
      } else if (key === 'recordings') content = await recordingsBox(ctx, id);
      else if (key === 'log') content = await logBox(id);
      else content = h('div', { class: 'card pad' }, requestView(job, { extra: [['Profile', `${job.profile_kind} ${job.profile_id}`], ['Job id', h('span', { class: 'mono' }, job.id)]] }));
    } catch (e) {
      content = e.status === 404 ? h('div', { class: 'empty' }, job.error ? `No report: ${job.error}` : 'Not available for this job.') : errorBox(e);
    }
    if (currentTab === key && ctx.alive()) clear(tabsBody, content);
  }

  function drawVerdict() {
    const req = requestOf(job);
    if (!isFinished(job)) {
      clear(verdictBox, req.thresholds.length ? h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Thresholds')),
        h('div', { class: 'card-body' }, thresholdRows({ expressions: req.thresholds, live: mon.latest(), targetRate: req.rate }))) : null);
      return;
    }
    const v = finalVerdict(job, summary);
    clear(verdictBox, h('div', { class: 'grid', style: { gridTemplateColumns: 'minmax(0, 3fr) minmax(300px, 2fr)' } },
      h('div', { class: 'verdict-wrap' }, h('div', { class: ['verdict', v.cls], 'data-testid': 'verdict', 'data-state': v.cls },
        h('span', { class: 'big' }, v.big), h('div', { 'data-testid': 'verdict-text' }, v.lines.map((l) => h('div', {}, l))))),
      h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Thresholds')),
        h('div', { class: 'card-body' }, summary ? thresholdRows({ results: summary.thresholds || [] }) : thresholdRows({ expressions: req.thresholds })))));
  }

  function drawHead() {
    const ran = isActive(job) ? 'running for' : 'ran';
    clear(head, h('div', { class: 'page-head' },
      h('div', {}, h('h1', { class: 'row', style: { gap: '10px' } }, h('span', { 'data-testid': 'job-title' }, job.name || h('span', {}, 'Job ', h('span', { class: 'mono' }, job.id))), statusBadge(job)),
        h('div', { class: 'sub row', style: { gap: '14px' } }, job.name ? h('span', { class: 'mono' }, job.id) : null, profileLabel(job), h('span', {}, 'scenario ', h('span', { class: 'mono' }, job.scenario_id || 'default')),
          h('span', {}, `started ${fmtTime(job.started_at || job.created_at)}`), h('span', { 'data-testid': 'job-ran' }, `${ran} ${fmtDuration(jobDuration(job))}`), job.created_by ? h('span', {}, `by ${job.created_by}`) : null,
          job.exit_code !== null && job.exit_code !== undefined ? h('span', {}, `exit ${job.exit_code}`) : null),
        job.notes ? h('div', { class: 'notes small muted', 'data-testid': 'job-notes' }, job.notes) : null),
      h('div', { class: 'actions' },
        h('button', { 'data-testid': 'edit-label', onclick: () => editLabel(job, (j) => { job = j; drawHead(); }) }, icon('edit'), 'Name & notes'),
        isActive(job) ? h('button', { class: 'danger', 'data-testid': 'job-stop', onclick: () => stopJob(job, reload) }, icon('stop'), 'Stop') : null,
        isFinished(job) ? h('button', { class: 'primary', 'data-testid': 'open-report', onclick: () => showTab('report') }, icon('reports'), 'View report') : null)));
    clear(errorArea, job.error && job.status !== 'succeeded' ? h('div', { class: 'alert error', style: { marginBottom: '16px' }, 'data-testid': 'job-error' }, icon('alert'), h('div', {}, h('b', {}, 'The job reported an error: '), job.error)) : null);
  }
  let summaryLoaded = false;
  async function reload() {
    try {
      const r = await api.get(`/jobs/${encodeURIComponent(id)}`);
      const was = isFinished(job);
      job = r.job; artifacts = r.artifacts || [];
      if (!ctx.alive()) return;
      drawHead();
      if (isFinished(job) && !summaryLoaded) {
        summaryLoaded = true;
        summary = await loadSummary(id, { waitMs: 5000 }).catch(() => null);
        mon.showSummary(summary);
      }
      drawVerdict();
      if (isFinished(job) !== was || currentTab === 'artifacts') showTab(isFinished(job) && !was ? 'report' : currentTab);
    } catch (e) { if (ctx.alive()) showError(e, 'refresh the job'); }
  }
  drawHead();
  drawVerdict();
  const client = job.profile_kind !== 'tool';
  ctx.el.append(head, errorArea, verdictBox, client ? h('div', { class: 'grid g2 mt' }, mon.targetEl, mon.messagesEl) : null, h('div', { class: 'mt' }, mon.el), tabBar, tabsBody);
  if (isFinished(job)) { await reload(); showTab('report'); } else showTab('artifacts');
  ctx.every(2000, () => { if (!isFinished(job)) reload(); });
}
