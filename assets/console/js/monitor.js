// The job monitor shared by #/jobs/<id> and #/load/<id>: live KPIs, charts, target
// against actual and SIPp's per-message table from /jobs/{id}/events, artifacts,
// recordings playable in the page, the worker log, and the job's HTML report in a
// sandboxed frame (fetched again until the worker has written it).

import * as api from './api.js';
import { h, clear, icon, kpi, fmtNum, fmtBytes, fmtTime, fmtAgo, table, emptyState, showError, errorBox } from './ui.js';
import { StatsSeries, standardCharts } from './chart.js';
import { isActive } from './jobs-common.js';
import { targetPanel, messageTable, windowRate } from './run-view.js';

/**
 * Streams a job's events into charts, KPIs, the target-against-actual panel and SIPp's
 * per-message table. Returns {el, targetEl, messagesEl, charts, kpis, latest(), plan(),
 * showSummary(summary), stop()}. onStats(pt) is called for every stats point, onPlan(plan)
 * for the run's plan line, onExit() when the worker's exit line arrives.
 */
export function liveMonitor(ctx, job, { onStats, onExit, onPlan, prefix = 'job' } = {}) {
  const charts = standardCharts(prefix, null);
  ctx.onCleanup(() => charts.destroy());
  const v = {
    created: h('span', {}, '0'), succeeded: h('span', {}, '0'), failed: h('span', {}, '0'),
    active: h('span', {}, '0'), cps: h('span', {}, '0'), p99: h('span', {}, '–'),
    retrans: h('span', {}, '0'), timeouts: h('span', {}, '0'),
  };
  const cpsLabel = h('span', {}, 'Calls per second');
  const kpis = h('div', { class: 'grid kpis' },
    kpi('Calls created', v.created, { testid: 'kpi-created' }),
    kpi('Succeeded', v.succeeded, { cls: 'ok', testid: 'kpi-succeeded' }),
    kpi('Failed', v.failed, { cls: 'bad', testid: 'kpi-failed' }),
    kpi('Active calls', v.active, { testid: 'kpi-active' }),
    kpi(cpsLabel, v.cps, { testid: 'kpi-cps' }),
    kpi('Response p99', v.p99, { testid: 'kpi-p99' }),
    kpi('Retransmissions', v.retrans, { testid: 'kpi-retrans' }),
    kpi('Timeouts', v.timeouts, { testid: 'kpi-timeouts' }));
  const note = h('div');
  const tv = targetPanel();
  let plan = null;
  const mt = messageTable(() => plan?.scenario?.role);
  let latest = null;
  let aborter = null;
  let stopped = false;
  let running = isActive(job);

  function apply(pt) {
    latest = pt;
    charts.push(pt);
    v.created.textContent = fmtNum(pt.created);
    v.succeeded.textContent = fmtNum(pt.succeeded);
    v.failed.textContent = fmtNum(pt.failed);
    v.active.textContent = fmtNum(pt.active);
    v.cps.textContent = fmtNum(pt.cps, 1);
    v.p99.textContent = pt.p99 === null ? '–' : `${fmtNum(pt.p99, 1)} ms`;
    v.retrans.textContent = fmtNum(pt.retrans);
    v.timeouts.textContent = fmtNum(pt.timeouts);
    tv.update({ plan, pt, active: running });
    if (plan) mt.update(plan.messages, pt.steps);
    onStats?.(pt);
  }

  /** Once the run is over, calls per second is the rate over the creation window (first
   *  to last call created), not the last second's, nor the whole run's with its tail. */
  function finalize() {
    running = false;
    if (!latest) return;
    const r = windowRate(latest);
    v.cps.textContent = r === null ? '–' : fmtNum(r, 1);
    cpsLabel.textContent = 'Calls/s (creation window)';
    tv.update({ plan, pt: latest, active: false });
  }

  async function stream(follow) {
    const series = new StatsSeries();
    aborter = new AbortController();
    ctx.onCleanup(() => aborter.abort());
    let sawExit = false;
    try {
      await api.streamLines(`/jobs/${encodeURIComponent(job.id)}/events${follow ? '' : '?follow=false'}`, (line) => {
        if (line.event === 'absent') { clear(note, h('div', { class: 'muted small' }, 'The worker has not written statistics yet…')); return; }
        if (line.kind === 'plan') {
          plan = line;
          tv.update({ plan, pt: latest, active: running });
          mt.update(plan.messages, latest?.steps);
          onPlan?.(plan);
          return;
        }
        if (line.kind === 'exit' || line.kind === 'error') { sawExit = true; finalize(); onExit?.(line); return; }
        const pt = series.add(line);
        if (!pt) return;
        note.replaceChildren();
        apply(pt);
      }, aborter.signal);
    } catch (e) {
      if (e.name !== 'AbortError' && ctx.alive()) clear(note, errorBox(e));
      return;
    }
    if (!ctx.alive() || stopped) return;
    if (!follow) finalize();
    if (follow && !sawExit) {
      // The stream ended (idle timeout) while the job may still run: read it again.
      const j = (await api.get(`/jobs/${encodeURIComponent(job.id)}`).catch(() => null))?.job;
      if (j && isActive(j) && ctx.alive() && !stopped) {
        charts.cps.clear(); charts.active.clear(); charts.failed.clear(); charts.rt.clear();
        stream(true);
      } else { finalize(); onExit?.({ kind: 'exit' }); }
    } else if (follow) {
      onExit?.({ kind: 'exit' });
    }
  }
  stream(running);
  return {
    el: h('div', { class: 'stack' }, kpis, note, charts.el),
    targetEl: tv.el,
    messagesEl: mt.el,
    charts, kpis,
    latest: () => latest,
    plan: () => plan,
    /** The final numbers of summary.json: the table's counts and the achieved column. */
    showSummary(summary) {
      if (!summary) return;
      if (summary.messages?.length) mt.update(summary.messages);
      if (summary.target) tv.update({ plan: { target: summary.target, scenario: summary.scenario }, pt: latest, active: false, achieved: summary.achieved });
      if (summary.achieved) {
        v.cps.textContent = summary.achieved.rate_cps === undefined || summary.achieved.rate_cps === null ? '–' : fmtNum(summary.achieved.rate_cps, 1);
        cpsLabel.textContent = 'Calls/s (creation window)';
      }
    },
    stop() { stopped = true; aborter?.abort(); },
  };
}

/** Summary-based KPI grid (for finished jobs with no stats stream, and for reports). */
export function summaryKpis(s) {
  const ratio = s.total_calls ? s.success_ratio ?? s.success_calls / s.total_calls : null;
  const windowRate = s.achieved ? s.achieved.rate_cps ?? null : undefined;
  return h('div', { class: 'grid g6' },
    kpi('Total calls', fmtNum(s.total_calls), { testid: 'sum-total' }),
    kpi('Succeeded', fmtNum(s.success_calls), { cls: 'ok', testid: 'sum-succeeded' }),
    kpi('Failed', fmtNum(s.failed_calls), { cls: s.failed_calls ? 'bad' : '', testid: 'sum-failed' }),
    kpi('Success ratio', ratio === null ? '–' : `${(ratio * 100).toFixed(1)}`, { unit: ratio === null ? '' : '%', testid: 'sum-ratio' }),
    windowRate === undefined
      ? kpi('Calls/s (whole run)', fmtNum(s.calls_per_second, 1), { testid: 'sum-cps' })
      : kpi('Calls/s (creation window)', fmtNum(windowRate, 1), { testid: 'sum-cps', hint: s.achieved?.window ? `${fmtNum(s.achieved.window.from_s, 1)}–${fmtNum(s.achieved.window.to_s, 1)} s` : null }),
    kpi('Response p99', fmtNum(s.invite_rtt?.p99_ms ?? null, 2), { unit: s.invite_rtt ? 'ms' : '', testid: 'sum-p99' }));
}

/** The findings and failure classes of a summary (the verdict and thresholds have their
 *  own panels: run-view.js). */
export function summaryFindings(s, { findings = true } = {}) {
  return h('div', { class: 'stack' },
    findings && (s.findings || []).length ? h('div', { class: 'card pad' }, h('h3', {}, 'Findings'), h('ul', { style: { margin: '8px 0 0', paddingLeft: '18px' } }, s.findings.map((f) => h('li', {}, f)))) : null,
    s.failure_classes && Object.keys(s.failure_classes).length ? h('div', { class: 'card pad' }, h('h3', {}, 'Failures by class'),
      h('div', { class: 'row mt' }, Object.entries(s.failure_classes).map(([k, n]) => h('span', { class: 'badge bad plain' }, `${k}: ${n}`)))) : null);
}

/**
 * The HTML report in a sandboxed frame. The report is static (inline SVG and CSS, no
 * script), so the sandbox allows no script at all: nothing in it can reach the session.
 */
export async function reportFrame(jobId, { waitMs = 20000 } = {}) {
  const res = await untilWritten(() => api.request('GET', `/jobs/${encodeURIComponent(jobId)}/artifacts/report_html`), waitMs);
  const html = await res.text();
  return h('iframe', { class: 'report-frame', sandbox: 'allow-same-origin', srcdoc: html, title: `Report of job ${jobId}`, 'data-testid': 'report-frame' });
}

export async function loadSummary(jobId, { waitMs = 20000 } = {}) {
  const res = await untilWritten(() => api.request('GET', `/jobs/${encodeURIComponent(jobId)}/artifacts/summary`), waitMs);
  return JSON.parse(await res.text());
}

/** Retries a fetch answered 404 for up to `waitMs`: a stopped worker writes its report a
 *  moment after the job is marked stopped. Other errors end it at once. */
async function untilWritten(fetchIt, waitMs) {
  const end = Date.now() + waitMs;
  for (;;) {
    try {
      return await fetchIt();
    } catch (e) {
      if (e.status !== 404 || Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 400));
    }
  }
}

const ARTIFACT_LABEL = {
  stats: 'Statistics stream (stats.jsonl)', log: 'Worker log', summary: 'Summary (summary.json)', call_records: 'Call records (call_records.jsonl)',
  report_html: 'HTML report', report_pdf: 'PDF report', recording: 'Recording', scenario_xml: 'Scenario XML', scenario_uac: 'UAC scenario', scenario_uas: 'UAS scenario',
};

export function artifactsTable(jobId, artifacts) {
  const rows = artifacts.filter((a) => a.kind !== 'recording');
  return table([
    { label: 'Artifact', render: (a) => h('div', {}, h('div', { style: { fontWeight: 600 } }, ARTIFACT_LABEL[a.kind] || a.kind), h('div', { class: 'small faint mono' }, a.path.split('/').pop())) },
    { label: 'Size', cls: 'num', render: (a) => fmtBytes(a.size_bytes) },
    { label: 'Created', render: (a) => fmtTime(a.created_at) },
    { label: '', cls: 'actions', render: (a) => h('button', { class: 'sm', 'data-testid': `download-${a.kind}`, onclick: () => api.download(`/jobs/${encodeURIComponent(jobId)}/artifacts/${a.kind}`).catch((e) => showError(e, `download ${a.kind}`)) }, icon('download'), 'Download') },
  ], rows, { empty: emptyState('No artifacts yet', 'They are registered when the worker exits.') });
}

export async function recordingsBox(ctx, jobId) {
  const box = h('div');
  let list = [];
  try { list = (await api.get(`/jobs/${encodeURIComponent(jobId)}/recordings`)).recordings || []; } catch (e) {
    if (e.status === 404) return h('div', { class: 'empty' }, 'No recordings for this job.');
    return errorBox(e);
  }
  clear(box, table([
    { label: 'Call', render: (r) => h('span', { class: 'mono' }, r.name) },
    { label: 'Size', cls: 'num', render: (r) => fmtBytes(r.size_bytes) },
    { label: 'Recorded', render: (r) => fmtAgo(r.mod_time) },
    { label: 'Listen', render: (r) => {
      const c = h('div');
      c.append(h('button', { class: 'sm', 'data-testid': 'recording-play', onclick: async () => {
        try {
          const b = await api.blob(`/jobs/${encodeURIComponent(jobId)}/recordings/${encodeURIComponent(r.name)}`);
          const url = URL.createObjectURL(b);
          ctx.onCleanup(() => URL.revokeObjectURL(url));
          clear(c, h('audio', { controls: true, autoplay: true, src: url }));
        } catch (e) { showError(e, 'load the recording'); }
      } }, icon('play'), 'Play'));
      return c;
    } },
  ], list, { empty: emptyState('No recordings', 'Enable “Record WAV” when starting a job to record each call.') }));
  return box;
}

export async function logBox(jobId) {
  try {
    const res = await api.request('GET', `/jobs/${encodeURIComponent(jobId)}/artifacts/log`);
    const text = await res.text();
    const lines = text.split('\n');
    const tail = lines.slice(-300).join('\n');
    return h('pre', { class: 'card pad', style: { maxHeight: '420px', overflow: 'auto', margin: 0, whiteSpace: 'pre-wrap' } }, tail || '(empty)');
  } catch (e) {
    return e.status === 404 ? h('div', { class: 'empty' }, 'No worker log yet.') : errorBox(e);
  }
}
