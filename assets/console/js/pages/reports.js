// #/reports: the report catalogue (jobs with summary / HTML / PDF artifacts), with each
// run's name and load. #/reports?report=<job-id>: the verdict, thresholds, target against
// actual, SIPp's per-message table and the KPIs of summary.json beside the HTML report;
// &compare=<job-id> puts two runs side by side, their requests first, and says when
// they were not asked the same thing (their numbers then do not compare like with like).
// The list's check boxes pick runs for "Download ZIP": the server's
// GET /reports/export.zip?ids=a,b builds one ZIP with a folder per run (summary.json,
// report.html, report.pdf when there is one), at most EXPORT_MAX runs and 64 MiB.

import * as api from '../api.js';
import { h, clear, icon, table, emptyState, fmtAgo, fmtNum, showError, errorBox, badge } from '../ui.js';
import { navigate } from '../app.js';
import { summaryKpis, summaryFindings, reportFrame, loadSummary } from '../monitor.js';
import { shortJobId } from '../jobs-common.js';
import { requestOf, thresholdRows, finalVerdict, targetPanel, messageTable, loadText } from '../run-view.js';

export async function render(ctx) {
  const reportId = ctx.query.get('report');
  const compare = ctx.query.get('compare');
  let list = [];
  let missing = null;
  try { list = (await api.get('/reports?limit=200')).reports || []; } catch (e) {
    if (e.status !== 404) throw e;
    missing = e;
  }
  const jobsById = new Map(((await api.get('/jobs?limit=1000').catch(() => ({ jobs: [] }))).jobs || []).map((j) => [j.id, j]));
  const byJob = new Map();
  for (const r of list) {
    if (!byJob.has(r.job_id)) byJob.set(r.job_id, { ...r, kinds: new Set(), job: jobsById.get(r.job_id) });
    byJob.get(r.job_id).kinds.add(r.artifact?.kind);
  }
  const jobs = [...byJob.values()];
  if (reportId) return one(ctx, reportId, compare, jobs);
  const picker = exportPicker(jobs);
  ctx.el.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Reports'), h('div', { class: 'sub' }, 'Every finished job leaves a summary and an HTML report.')),
    jobs.length ? h('div', { class: 'actions' }, picker.button) : null),
    missing ? h('div', { class: 'alert warn', style: { marginBottom: '16px' } }, icon('alert'), h('div', {}, h('b', {}, 'This master has no report catalogue yet: '), missing.message)) : null,
    h('div', { class: 'card' }, table([
      { label: picker.all, cls: 'pick', render: picker.box },
      { label: 'Run', render: (r) => h('a', { href: `#/reports?report=${encodeURIComponent(r.job_id)}`, title: r.job_id, 'data-testid': 'report-link' },
        r.name ? [h('b', {}, r.name), ' ', h('span', { class: 'mono faint small' }, shortJobId(r.job_id))] : h('span', { class: 'mono' }, shortJobId(r.job_id))) },
      { label: 'Profile', render: (r) => h('span', {}, h('span', { class: 'faint' }, `${r.profile_kind} · `), r.profile_id === '_load_wizard' ? 'Load test' : r.profile_id) },
      { label: 'Load', render: (r) => h('span', { class: 'small' }, r.job && r.profile_kind === 'client' ? loadText(requestOf(r.job)) : '–') },
      { label: 'Result', render: (r) => badge(r.job_status) },
      { label: 'Finished', render: (r) => fmtAgo(r.finished_at) },
      { label: 'Files', render: (r) => h('div', { class: 'row', style: { gap: '4px' } }, [...r.kinds].filter(Boolean).map((k) => h('span', { class: 'badge plain' }, k.replace('report_', '')))) },
      { label: '', cls: 'actions', render: (r) => h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(r.job_id)}` }, icon('eye'), 'Open') },
    ], jobs, { rowAttrs: (r) => ({ 'data-job': r.job_id }), empty: emptyState('No reports yet', 'Run a load test; its report appears here when it ends.', h('a', { class: 'btn primary', href: '#/load' }, 'New load test')) })));
}

/** The server's cap on the runs of one ZIP export (reports.rs EXPORT_MAX_JOBS). */
const EXPORT_MAX = 50;

/**
 * Check boxes for the list and the "Download ZIP" button they drive. The ZIP holds the
 * picked runs in the list's order (newest first).
 */
function exportPicker(jobs) {
  const picked = new Set();
  const boxes = [];
  const text = h('span', {}, 'Download ZIP');
  const button = h('button', {
    'data-testid': 'export-zip', disabled: true,
    title: `One ZIP of the picked runs: a folder each with summary.json and report.html (at most ${EXPORT_MAX} runs and 64 MiB)`,
    onclick: () => {
      const ids = jobs.map((j) => j.job_id).filter((id) => picked.has(id));
      api.download(`/reports/export.zip?ids=${ids.map(encodeURIComponent).join(',')}`).catch((e) => showError(e, 'download the reports'));
    },
  }, icon('download'), text);
  const all = h('input', { type: 'checkbox', 'aria-label': 'Pick every run', 'data-testid': 'report-pick-all' });
  const refresh = () => {
    const n = picked.size;
    button.disabled = n === 0 || n > EXPORT_MAX;
    text.textContent = n > EXPORT_MAX ? `Download ZIP (${n}: at most ${EXPORT_MAX})` : n ? `Download ZIP (${n})` : 'Download ZIP';
    all.checked = n > 0 && n === jobs.length;
    all.indeterminate = n > 0 && n < jobs.length;
  };
  all.addEventListener('change', () => {
    for (const b of boxes) {
      b.checked = all.checked;
      if (all.checked) picked.add(b.value); else picked.delete(b.value);
    }
    refresh();
  });
  const box = (r) => {
    const b = h('input', { type: 'checkbox', value: r.job_id, 'aria-label': `Pick ${r.job_id}`, 'data-testid': 'report-pick' });
    b.addEventListener('change', () => {
      if (b.checked) picked.add(r.job_id); else picked.delete(r.job_id);
      refresh();
    });
    boxes.push(b);
    return b;
  };
  return { button, all, box };
}

const label = (j, id) => (j?.name ? `${j.name} (${shortJobId(id)})` : shortJobId(id));

/** The request rows compared first: what each run was asked to do. */
function requestRows(s, job) {
  const t = s?.target || {};
  const r = requestOf(job || {});
  return [
    ['Target', t.remote || r.target || '–'],
    ['Scenario', job?.scenario_id || s?.scenario?.name || '–'],
    ['Rate asked', t.rate_cps !== undefined ? `${fmtNum(t.rate_cps, 2)} calls/s` : r.rate !== null ? `${fmtNum(r.rate, 2)} calls/s` : '–'],
    ['Calls asked', t.calls ? fmtNum(t.calls) : r.calls ? fmtNum(r.calls) : 'until stopped'],
    ['Concurrency limit', t.concurrency !== undefined ? fmtNum(t.concurrency) : r.concurrency !== null ? fmtNum(r.concurrency) : '–'],
    ['Hold', t.hold_ms !== undefined && t.hold_ms !== null ? `${fmtNum(t.hold_ms)} ms` : r.hold_ms !== null ? `${fmtNum(r.hold_ms)} ms` : 'set by the scenario'],
    ['Transport', t.transport || '–'],
    ['Thresholds', (s?.thresholds || []).map((x) => x.threshold).join(', ') || r.thresholds.join(', ') || 'none'],
  ];
}

/** The measures compared: [label, value of a summary, decimals, better when higher?]. */
const MEASURES = [
  ['Calls created', (s) => s.total_calls, 0, true],
  ['Success ratio %', (s) => (s.total_calls ? (s.success_ratio ?? 0) * 100 : null), 2, true],
  ['Failed calls', (s) => s.failed_calls, 0, false],
  ['Calls/s (creation window)', (s) => s.achieved?.rate_cps ?? null, 2, true],
  ['Achieved % of target rate', (s) => (s.achieved?.rate_cps && s.target?.rate_cps ? (100 * s.achieved.rate_cps) / s.target.rate_cps : null), 1, true],
  ['Peak concurrency', (s) => s.achieved?.peak_concurrency ?? null, 0, null],
  ['Response p50 ms', (s) => s.invite_rtt?.p50_ms ?? null, 2, false],
  ['Response p90 ms', (s) => s.invite_rtt?.p90_ms ?? null, 2, false],
  ['Response p99 ms', (s) => s.invite_rtt?.p99_ms ?? null, 2, false],
  ['Mean call length ms', (s) => s.call_length?.average_ms ?? null, 1, null],
  ['Retransmissions', (s) => s.retransmits, 0, false],
  ['Timeouts', (s) => s.timeouts, 0, false],
];

function compareView(id, summary, job, other, cmp, cmpJob) {
  const ra = requestRows(summary, job);
  const rb = requestRows(cmp, cmpJob);
  const differ = ra.filter((row, i) => row[0] !== 'Thresholds' && row[1] !== rb[i][1]).map((row) => row[0].toLowerCase());
  const na = label(job, id);
  const nb = label(cmpJob, other);
  const change = (a, b, d, higherBetter) => {
    if (a === null || a === undefined || b === null || b === undefined) return h('span', { class: 'muted' }, '–');
    const diff = a - b;
    if (Math.abs(diff) < 10 ** -d / 2) return h('span', { class: 'muted' }, 'same');
    const pct = b ? ` (${diff > 0 ? '+' : ''}${fmtNum((100 * diff) / Math.abs(b), 1)} %)` : '';
    const good = higherBetter === null ? null : (diff > 0) === higherBetter;
    return h('span', { class: good === null ? '' : good ? 'ok-text' : 'bad-text' }, `${diff > 0 ? '+' : ''}${fmtNum(diff, d)}${pct}`);
  };
  return h('div', { class: 'card', 'data-testid': 'compare' }, h('div', { class: 'card-head' }, h('h2', {}, `Compared with ${nb}`)),
    differ.length
      ? h('div', { class: 'alert warn', style: { margin: '12px 16px 0' }, 'data-testid': 'compare-differs' }, icon('alert'),
        h('div', {}, h('b', {}, 'Not like with like: '), `the runs were not asked the same load (${differ.join(', ')} ${differ.length === 1 ? 'differs' : 'differ'}), so their numbers below differ for that reason too.`))
      : h('div', { class: 'alert ok', style: { margin: '12px 16px 0' }, 'data-testid': 'compare-same' }, icon('check'), h('div', {}, 'Both runs were asked the same load: their numbers compare like with like.')),
    h('div', { class: 'card-body' },
      h('h3', {}, 'Request'),
      table([
        { label: '', render: (r) => r[0] },
        { label: na, render: (r) => r[1] },
        { label: nb, render: (r) => r[2] },
      ], ra.map((row, i) => [row[0], row[1], rb[i][1]]), { rowAttrs: (r) => ({ 'data-row': r[0], class: r[1] !== r[2] ? 'differs' : '' }) }),
      h('h3', { class: 'mt' }, 'Results'),
      table([
        { label: 'Measure', render: (r) => r[0] },
        { label: na, cls: 'num', render: (r) => fmtNum(r[1](summary), r[2]) },
        { label: nb, cls: 'num', render: (r) => fmtNum(r[1](cmp), r[2]) },
        { label: 'Change', cls: 'num', render: (r) => change(r[1](summary), r[1](cmp), r[2], r[3]) },
      ], MEASURES, { rowAttrs: (r) => ({ 'data-measure': r[0] }) }),
      h('div', { class: 'small muted mt' }, 'Rates are averaged over each run’s creation window (first to last call created), so a run’s hold tail does not lower them.')));
}

async function one(ctx, id, compare, jobs) {
  ctx.crumbs([['Reports', '#/reports'], [id]]);
  const job = (await api.get(`/jobs/${encodeURIComponent(id)}`).catch(() => null))?.job || null;
  const cmpJob = compare ? (await api.get(`/jobs/${encodeURIComponent(compare)}`).catch(() => null))?.job || null : null;
  const other = h('select', { 'aria-label': 'Compare with', 'data-testid': 'compare-with' }, h('option', { value: '' }, 'Compare with…'),
    jobs.filter((j) => j.job_id !== id).map((j) => h('option', { value: j.job_id, selected: j.job_id === compare }, `${label(j.job, j.job_id)} · ${j.profile_id === '_load_wizard' ? 'load test' : j.profile_id} (${j.job_status})`)));
  other.addEventListener('change', () => navigate(`#/reports?report=${encodeURIComponent(id)}${other.value ? `&compare=${encodeURIComponent(other.value)}` : ''}`));
  const body = h('div', { class: 'stack' }, h('span', { class: 'spin' }));
  ctx.el.append(h('div', { class: 'page-head' },
    h('div', {}, h('h1', { 'data-testid': 'report-title' }, job?.name || h('span', {}, 'Report ', h('span', { class: 'mono' }, id))),
      h('div', { class: 'sub' }, job?.name ? h('span', { class: 'mono' }, `${id} · `) : null, h('a', { href: `#/jobs/${encodeURIComponent(id)}` }, 'Open the job')),
      job?.notes ? h('div', { class: 'notes small muted' }, job.notes) : null),
    h('div', { class: 'actions' }, other,
      h('button', { onclick: () => api.download(`/jobs/${encodeURIComponent(id)}/artifacts/summary`).catch((e) => showError(e, 'download the summary')) }, icon('download'), 'summary.json'),
      h('button', { onclick: () => api.download(`/jobs/${encodeURIComponent(id)}/artifacts/report_html`).catch((e) => showError(e, 'download the report')) }, icon('download'), 'report.html'))), body);
  const wait = { waitMs: job && !job.finished_at ? 20000 : 0 };
  const [summary, frame, cmp] = await Promise.all([
    loadSummary(id, wait).catch((e) => e),
    reportFrame(id, wait).catch((e) => e),
    compare ? loadSummary(compare, { waitMs: 0 }).catch((e) => e) : null,
  ]);
  if (!ctx.alive()) return;
  // A job that failed before it ran has no report: say why instead of two raw 404s.
  if (summary instanceof Error && frame instanceof Error && job) {
    clear(body, h('div', { class: 'alert error', 'data-testid': 'report-missing' }, icon('alert'),
      h('div', {}, h('b', {}, 'This job left no report. '), job.error ? `Why: ${job.error}` : `It ended ${job.status}${job.exit_code !== null ? ` with exit code ${job.exit_code}` : ''}.`)));
    return;
  }
  const parts = [];
  if (!(summary instanceof Error)) {
    const v = job ? finalVerdict(job, summary) : null;
    if (v) parts.push(h('div', { class: 'grid', style: { gridTemplateColumns: 'minmax(0, 3fr) minmax(300px, 2fr)' } },
      h('div', { class: 'verdict-wrap' }, h('div', { class: ['verdict', v.cls], 'data-testid': 'verdict', 'data-state': v.cls }, h('span', { class: 'big' }, v.big), h('div', {}, v.lines.map((l) => h('div', {}, l))))),
      h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Thresholds')), h('div', { class: 'card-body' }, thresholdRows({ results: summary.thresholds || [] })))));
    parts.push(h('div', { 'data-testid': 'report-kpis' }, summaryKpis(summary)));
    if (summary.target) {
      const tv = targetPanel();
      tv.update({ plan: { target: summary.target }, active: false, achieved: summary.achieved });
      const mt = messageTable(() => summary.scenario?.role);
      mt.update(summary.messages || []);
      parts.push(h('div', { class: 'grid g2' }, tv.el, mt.el));
    }
    parts.push(summaryFindings(summary, { findings: false }));
  } else parts.push(errorBox(summary));
  if (cmp && !(cmp instanceof Error) && !(summary instanceof Error)) parts.push(compareView(id, summary, job, compare, cmp, cmpJob));
  else if (cmp instanceof Error) parts.push(errorBox(cmp));
  parts.push(frame instanceof Error ? errorBox(frame) : frame);
  clear(body, parts);
}
