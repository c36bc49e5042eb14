// #/reports: the report catalogue (jobs with summary / HTML / PDF artifacts);
// #/reports?report=<job-id>: KPIs and findings from summary.json beside the HTML report,
// and &compare=<job-id> puts two summaries side by side.

import * as api from '../api.js';
import { h, clear, icon, table, emptyState, fmtAgo, fmtNum, showError, errorBox, badge } from '../ui.js';
import { navigate } from '../app.js';
import { summaryKpis, summaryFindings, reportFrame, loadSummary } from '../monitor.js';
import { shortJobId } from '../jobs-common.js';

export async function render(ctx) {
  const reportId = ctx.query.get('report');
  const compare = ctx.query.get('compare');
  let list = [];
  let missing = null;
  try { list = (await api.get('/reports?limit=200')).reports || []; } catch (e) {
    if (e.status !== 404) throw e;
    missing = e;
  }
  const byJob = new Map();
  for (const r of list) {
    if (!byJob.has(r.job_id)) byJob.set(r.job_id, { ...r, kinds: new Set() });
    byJob.get(r.job_id).kinds.add(r.artifact?.kind);
  }
  const jobs = [...byJob.values()];
  if (reportId) return one(ctx, reportId, compare, jobs);
  ctx.el.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Reports'), h('div', { class: 'sub' }, 'Every finished job leaves a summary and an HTML report.'))),
    missing ? h('div', { class: 'alert warn', style: { marginBottom: '16px' } }, icon('alert'), h('div', {}, h('b', {}, 'This master has no report catalogue yet: '), missing.message)) : null,
    h('div', { class: 'card' }, table([
      { label: 'Job', render: (r) => h('a', { href: `#/reports?report=${encodeURIComponent(r.job_id)}`, class: 'mono', title: r.job_id, 'data-testid': 'report-link' }, shortJobId(r.job_id)) },
      { label: 'Profile', render: (r) => h('span', {}, h('span', { class: 'faint' }, `${r.profile_kind} · `), r.profile_id === '_load_wizard' ? 'Load test' : r.profile_id) },
      { label: 'Result', render: (r) => badge(r.job_status) },
      { label: 'Finished', render: (r) => fmtAgo(r.finished_at) },
      { label: 'Files', render: (r) => h('div', { class: 'row', style: { gap: '4px' } }, [...r.kinds].filter(Boolean).map((k) => h('span', { class: 'badge plain' }, k.replace('report_', '')))) },
      { label: '', cls: 'actions', render: (r) => h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(r.job_id)}` }, icon('eye'), 'Open') },
    ], jobs, { empty: emptyState('No reports yet', 'Run a load test; its report appears here when it ends.', h('a', { class: 'btn primary', href: '#/load' }, 'New load test')) })));
}

const CMP = [
  ['Total calls', (s) => s.total_calls, 0], ['Succeeded', (s) => s.success_calls, 0], ['Failed', (s) => s.failed_calls, 0],
  ['Success ratio %', (s) => (s.success_ratio ?? 0) * 100, 1], ['Average calls/s', (s) => s.calls_per_second, 1],
  ['Retransmissions', (s) => s.retransmits, 0], ['Timeouts', (s) => s.timeouts, 0],
  ['Avg call length ms', (s) => s.average_call_latency_ms, 1], ['Avg INVITE RTT ms', (s) => s.average_invite_rtt_ms, 1],
];

async function one(ctx, id, compare, jobs) {
  ctx.crumbs([['Reports', '#/reports'], [id]]);
  const other = h('select', { 'aria-label': 'Compare with' }, h('option', { value: '' }, 'Compare with…'),
    jobs.filter((j) => j.job_id !== id).map((j) => h('option', { value: j.job_id, selected: j.job_id === compare }, `${shortJobId(j.job_id)} · ${j.profile_id === '_load_wizard' ? 'load test' : j.profile_id} (${j.job_status})`)));
  other.addEventListener('change', () => navigate(`#/reports?report=${encodeURIComponent(id)}${other.value ? `&compare=${encodeURIComponent(other.value)}` : ''}`));
  const body = h('div', { class: 'stack' }, h('span', { class: 'spin' }));
  ctx.el.append(h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, 'Report ', h('span', { class: 'mono' }, id)), h('div', { class: 'sub' }, h('a', { href: `#/jobs/${encodeURIComponent(id)}` }, 'Open the job'))),
    h('div', { class: 'actions' }, other,
      h('button', { onclick: () => api.download(`/jobs/${encodeURIComponent(id)}/artifacts/summary`).catch((e) => showError(e, 'download the summary')) }, icon('download'), 'summary.json'),
      h('button', { onclick: () => api.download(`/jobs/${encodeURIComponent(id)}/artifacts/report_html`).catch((e) => showError(e, 'download the report')) }, icon('download'), 'report.html'))), body);
  const [summary, frame, cmp] = await Promise.all([
    loadSummary(id).catch((e) => e),
    reportFrame(id).catch((e) => e),
    compare ? loadSummary(compare).catch((e) => e) : null,
  ]);
  if (!ctx.alive()) return;
  clear(body,
    summary instanceof Error ? errorBox(summary) : [h('div', { 'data-testid': 'report-kpis' }, summaryKpis(summary)), summaryFindings(summary, { findings: false })],
    cmp && !(cmp instanceof Error) && !(summary instanceof Error) ? h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, `Compared with ${shortJobId(compare)}`)),
      table([
        { label: 'Measure', render: (r) => r[0] },
        { label: shortJobId(id), cls: 'num', render: (r) => fmtNum(r[1](summary), r[2]) },
        { label: shortJobId(compare), cls: 'num', render: (r) => fmtNum(r[1](cmp), r[2]) },
        { label: 'Change', cls: 'num', render: (r) => { const a = r[1](summary) || 0, b = r[1](cmp) || 0; const d = a - b; return h('span', { style: { color: d === 0 ? 'var(--muted)' : 'inherit' } }, `${d > 0 ? '+' : ''}${fmtNum(d, r[2])}`); } },
      ], CMP)) : cmp instanceof Error ? errorBox(cmp) : null,
    frame instanceof Error ? errorBox(frame) : frame);
}
