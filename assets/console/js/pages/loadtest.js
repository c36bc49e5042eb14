// #/load: the load-test wizard (target → load → health gates → review), presets kept in
// this browser, and recent load tests. #/load/<job-id>: the live monitor with pass/fail
// against the health gates, then the report.

import * as api from '../api.js';
import { h, clear, icon, field, toast, showError, errorBox, table, emptyState, fmtAgo, fmtDuration, jobDuration, modal } from '../ui.js';
import { navigate } from '../app.js';
import { jobLink, statusBadge, stopJob, isActive, jobArgs, jobTarget, evaluateGates, gateRows, FINAL } from '../jobs-common.js';
import { liveMonitor, reportFrame, loadSummary, summaryFindings } from '../monitor.js';

const PRESETS_KEY = 'gossipper.loadPresets';
const WIZARD_PROFILE = '_load_wizard';

export async function render(ctx) {
  if (ctx.parts[1]) return monitor(ctx, ctx.parts[1]);
  return wizard(ctx);
}

function loadPresets() {
  try { return JSON.parse(localStorage.getItem(PRESETS_KEY) || '{}') || {}; } catch { return {}; }
}

async function wizard(ctx) {
  let info = {};
  let missing = null;
  try { info = await api.get('/load-test'); } catch (e) {
    if (e.status !== 404) throw e;
    missing = e;
  }
  const d = { scenario_id: 'uac', total_calls: 10, rate: 4, max_concurrent: 2, health_enabled: true, health_min_success_ratio: 0.95, health_max_failed_calls: 0, ...(info.defaults || {}) };
  const scenarios = info.scenarios || [];
  const [mine, builtin] = await Promise.all([api.get('/scenarios').catch(() => ({ scenarios: [] })), api.get('/builtin-scenarios').catch(() => ({ scenarios: [] }))]);

  const I = {
    director: h('input', { placeholder: '127.0.0.1:5060 or sip:bob@sbc.example.net', 'data-testid': 'lt-director', required: true }),
    scenario_id: h('select', { 'data-testid': 'lt-scenario' },
      scenarios.length ? h('optgroup', { label: 'Load-test scenarios' }, scenarios.map((s) => { const id = typeof s === 'string' ? s : s.id; return h('option', { value: id, selected: id === d.scenario_id }, id); })) : null,
      h('optgroup', { label: 'Your scenarios' }, (mine.scenarios || []).filter((s) => s.role !== 'uas').map((s) => h('option', { value: s.id }, s.name || s.id))),
      h('optgroup', { label: 'Built-in' }, (builtin.scenarios || []).filter((s) => s.role !== 'uas').map((s) => h('option', { value: s.id, selected: !scenarios.length && s.id === d.scenario_id }, `${s.id} — ${s.name}`)))),
    total_calls: h('input', { type: 'number', min: 0, value: d.total_calls, 'data-testid': 'lt-calls' }),
    rate: h('input', { type: 'number', min: 0.1, step: 'any', value: d.rate, 'data-testid': 'lt-rate' }),
    max_concurrent: h('input', { type: 'number', min: 1, value: d.max_concurrent, 'data-testid': 'lt-concurrency' }),
    run_timeout_ms: h('input', { type: 'number', min: 0, placeholder: 'none', 'data-testid': 'lt-timeout' }),
    call_duration_ms: h('input', { type: 'number', min: 0, placeholder: 'scenario default', 'data-testid': 'lt-hold' }),
    health_enabled: h('input', { type: 'checkbox', checked: d.health_enabled !== false, 'data-testid': 'lt-health' }),
    health_min_success_ratio: h('input', { type: 'number', min: 0, max: 100, step: 'any', value: Math.round((d.health_min_success_ratio ?? 0.95) * 1000) / 10, 'data-testid': 'lt-min-success' }),
    health_max_failed_calls: h('input', { type: 'number', min: 0, value: d.health_max_failed_calls ?? 0, 'data-testid': 'lt-max-failed' }),
    sip_from: h('input', { placeholder: 'sip:loadtest@example.net' }),
    sip_pai: h('input', { placeholder: 'sip:+15550100@example.net' }),
    sip_provider: h('input', { placeholder: 'X-Provider value' }),
    record_wav: h('input', { type: 'checkbox' }),
  };
  const preset = h('select', { 'aria-label': 'Preset' });
  function drawPresets() {
    const p = loadPresets();
    clear(preset, h('option', { value: '' }, 'Presets…'), Object.keys(p).sort().map((k) => h('option', { value: k }, k)));
  }
  drawPresets();
  preset.addEventListener('change', () => {
    const p = loadPresets()[preset.value];
    if (!p) return;
    for (const [k, v] of Object.entries(p)) {
      if (!I[k]) continue;
      if (I[k].type === 'checkbox') I[k].checked = !!v; else I[k].value = k === 'health_min_success_ratio' ? v * 100 : v ?? '';
    }
    toast(`Loaded preset “${preset.value}”.`);
    review();
  });

  function values() {
    const num = (el) => (el.value === '' ? undefined : Number(el.value));
    const v = {
      director: I.director.value.trim(), scenario_id: I.scenario_id.value,
      total_calls: num(I.total_calls) ?? 0, rate: num(I.rate), max_concurrent: num(I.max_concurrent),
      health_enabled: I.health_enabled.checked, record_wav: I.record_wav.checked,
    };
    if (num(I.run_timeout_ms)) v.run_timeout_ms = num(I.run_timeout_ms);
    if (I.call_duration_ms.value !== '') v.call_duration_ms = num(I.call_duration_ms);
    if (v.health_enabled) {
      v.health_min_success_ratio = (num(I.health_min_success_ratio) ?? 0) / 100;
      v.health_max_failed_calls = num(I.health_max_failed_calls) ?? 0;
    }
    for (const k of ['sip_from', 'sip_pai', 'sip_provider']) if (I[k].value.trim()) v[k] = I[k].value.trim();
    return v;
  }
  function problems(v) {
    const p = [];
    if (!v.director) p.push('Director: say where to send calls (host[:port] or a sip: URI).');
    if (!(v.rate > 0)) p.push('Rate must be above 0 calls per second.');
    if (!(v.max_concurrent >= 1)) p.push('Concurrency must be at least 1.');
    if (v.total_calls < 0) p.push('Calls cannot be negative (0 = soak until stopped).');
    if (v.health_enabled && (v.health_min_success_ratio < 0 || v.health_min_success_ratio > 1)) p.push('Minimum success must be between 0 and 100 %.');
    return p;
  }

  const steps = ['Target', 'Load', 'Health gates', 'Review'];
  const stepEls = steps.map((s, i) => h('div', { class: 'step', onclick: () => go(i) }, h('span', { class: 'n' }, String(i + 1)), s));
  const panes = [
    h('div', { class: 'form-grid' },
      field('Director (target)', I.director, 'host[:port] or sip:[user@]host[:port]; port 5060 when omitted.', 'span2'),
      field('Scenario', I.scenario_id, 'A UAC scenario: the calls to place.', 'span2')),
    h('div', { class: 'form-grid' },
      field('Calls', I.total_calls, '0 = soak until you stop it.'),
      field('Rate (calls/s)', I.rate),
      field('Concurrency', I.max_concurrent, 'Calls open at once, at most.'),
      field('Call hold time (ms)', I.call_duration_ms, 'How long each call stays up.'),
      field('Run timeout (ms)', I.run_timeout_ms, 'Stop the run after this long.')),
    h('div', { class: 'stack' },
      h('label', { class: 'check' }, I.health_enabled, h('b', {}, 'Judge the run with health gates'), h('span', { class: 'muted' }, '— the job fails when a gate fails')),
      h('div', { class: 'form-grid' },
        field('Minimum success (%)', I.health_min_success_ratio), field('Maximum failed calls', I.health_max_failed_calls)),
      h('fieldset', {}, h('legend', {}, 'Identity headers and recording (optional)'), h('div', { class: 'form-grid' },
        field('From', I.sip_from), field('P-Asserted-Identity', I.sip_pai), field('X-Provider', I.sip_provider),
        h('label', { class: 'check', style: { alignSelf: 'end', paddingBottom: '8px' } }, I.record_wav, 'Record each call (WAV)')))),
    h('div'),
  ];
  const reviewBox = panes[3];
  const err = h('div');
  const back = h('button', { onclick: () => go(step - 1) }, 'Back');
  const next = h('button', { class: 'primary', 'data-testid': 'lt-next', onclick: () => go(step + 1) }, 'Next');
  const run = h('button', { class: 'primary', 'data-testid': 'lt-run', onclick: () => start() }, icon('play'), 'Start load test');
  let step = 0;
  function go(i) {
    step = Math.max(0, Math.min(steps.length - 1, i));
    stepEls.forEach((el, k) => { el.classList.toggle('on', k === step); el.classList.toggle('done', k < step); });
    panes.forEach((p, k) => { p.hidden = k !== step; });
    back.disabled = step === 0;
    next.hidden = step === steps.length - 1;
    run.hidden = step !== steps.length - 1;
    if (step === steps.length - 1) review();
  }
  function review() {
    const v = values();
    const p = problems(v);
    const dur = v.total_calls && v.rate ? v.total_calls / v.rate : null;
    clear(reviewBox, h('div', { class: 'grid g2' },
      h('dl', { class: 'kv' },
        h('dt', {}, 'Target'), h('dd', { class: 'mono' }, v.director || '—'),
        h('dt', {}, 'Scenario'), h('dd', { class: 'mono' }, v.scenario_id),
        h('dt', {}, 'Calls'), h('dd', {}, v.total_calls ? String(v.total_calls) : 'soak (until stopped)'),
        h('dt', {}, 'Rate'), h('dd', {}, `${v.rate} calls/s`),
        h('dt', {}, 'Concurrency'), h('dd', {}, String(v.max_concurrent)),
        h('dt', {}, 'Call hold time'), h('dd', {}, v.call_duration_ms !== undefined ? `${v.call_duration_ms} ms` : 'scenario default'),
        h('dt', {}, 'Expected length'), h('dd', {}, dur ? `about ${fmtDuration(dur * 1000)}` : '—')),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Health gates'), h('dd', {}, v.health_enabled ? `success ≥ ${(v.health_min_success_ratio * 100).toFixed(1)} %, failed ≤ ${v.health_max_failed_calls}` : 'off'),
        h('dt', {}, 'Recording'), h('dd', {}, v.record_wav ? 'every call' : 'off'),
        h('dt', {}, 'Headers'), h('dd', {}, ['sip_from', 'sip_pai', 'sip_provider'].filter((k) => v[k]).map((k) => `${k}=${v[k]}`).join(', ') || '—'))),
    p.length ? h('div', { class: 'alert warn mt' }, icon('alert'), h('div', {}, p.map((x) => h('div', {}, x)))) : null);
    run.disabled = p.length > 0;
  }
  async function start() {
    err.replaceChildren();
    const v = values();
    const p = problems(v);
    if (p.length) { clear(err, errorBox(new Error(p.join('\n')))); return; }
    run.disabled = true;
    try {
      const r = await api.post('/load-test/run', v);
      const job = r.job || r;
      toast(r.message || `Load test ${job.id} started.`, 'ok');
      navigate(`#/load/${encodeURIComponent(job.id)}`);
    } catch (e) {
      clear(err, errorBox(e));
      showError(e, 'start the load test');
    } finally { run.disabled = false; }
  }
  function savePreset() {
    const name = h('input', { placeholder: 'e.g. smoke 10 cps' });
    const ok = () => {
      const n = name.value.trim();
      if (!n) return;
      const all = loadPresets();
      all[n] = values();
      localStorage.setItem(PRESETS_KEY, JSON.stringify(all));
      drawPresets();
      m.close();
      toast(`Saved preset “${n}”. Presets live in this browser only.`, 'ok');
    };
    name.addEventListener('keydown', (e) => { if (e.key === 'Enter') ok(); });
    const m = modal({ title: 'Save as preset', size: 'narrow', body: field('Preset name', name),
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), h('button', { class: 'primary', onclick: ok }, 'Save')] });
  }
  for (const el of Object.values(I)) el.addEventListener('input', () => { if (step === 3) review(); });

  const recent = h('div');
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Load test'), h('div', { class: 'sub' }, 'Point gossipper at a SIP target, set the load and the pass/fail gates, and watch it run.')),
      h('div', { class: 'actions' }, preset, h('button', { onclick: savePreset }, 'Save as preset'))),
    missing ? h('div', { class: 'alert warn', style: { marginBottom: '16px' } }, icon('alert'), h('div', {}, h('b', {}, 'This master cannot run load tests yet: '), missing.message)) : null,
    h('div', { class: 'card pad' }, h('div', { class: 'steps' }, stepEls), panes, err,
      h('div', { class: 'row mt' }, back, h('span', { class: 'grow' }), next, run)),
    h('div', { class: 'card mt' }, h('div', { class: 'card-head' }, h('h2', {}, 'Recent load tests')), recent));
  go(0);
  I.director.focus();

  async function drawRecent() {
    try {
      const jobs = ((await api.get('/jobs?limit=200')).jobs || []).filter((j) => j.profile_id === WIZARD_PROFILE).slice(0, 10);
      if (!ctx.alive()) return;
      clear(recent, table([
        { label: 'Job', render: jobLink },
        { label: 'Target', render: (j) => h('span', { class: 'mono' }, jobTarget(j) || '–') },
        { label: 'Status', render: statusBadge },
        { label: 'Started', render: (j) => fmtAgo(j.started_at || j.created_at) },
        { label: 'Duration', render: (j) => fmtDuration(jobDuration(j)) },
        { label: '', cls: 'actions', render: (j) => h('a', { class: 'btn sm', href: `#/load/${encodeURIComponent(j.id)}` }, 'Monitor') },
      ], jobs, { empty: emptyState('No load tests yet', 'Your runs will be listed here.') }));
    } catch (e) { if (ctx.alive()) clear(recent, errorBox(e)); }
  }
  drawRecent();
  ctx.every(5000, drawRecent);
}

/** Gate settings of a load-test job, from its recorded parameters. */
function gatesOf(job) {
  const a = jobArgs(job);
  const src = { ...(a.engine || {}), ...a };
  const min = src.health_min_success_ratio;
  const max = src.health_max_failed_calls;
  if (src.health_enabled === false || (min === undefined && max === undefined)) return { enabled: false };
  return { enabled: true, min_success_ratio: min, max_failed_calls: max };
}

async function monitor(ctx, id) {
  ctx.crumbs([['Load test', '#/load'], [id]]);
  let { job } = await api.get(`/jobs/${encodeURIComponent(id)}`);
  const gates = gatesOf(job);
  const verdict = h('div', { class: 'verdict-wrap' });
  const gatesBox = h('div');
  const reportBox = h('div');
  const head = h('div');
  let last = { succeeded: 0, failed: 0, created: 0 };
  let summary = null;

  function drawVerdict() {
    const res = evaluateGates(gates, last);
    clear(gatesBox, gateRows(res));
    let cls, big, text;
    if (isActive(job)) {
      const failing = res.some((g) => g.pass === false);
      cls = 'running'; big = failing ? 'Failing' : 'Running';
      text = failing ? 'A health gate is failing right now; the run goes on until it ends.' : `${last.created} calls so far.`;
    } else if (FINAL.has(job.status)) {
      const pass = summary?.health ? summary.health.pass && job.status === 'succeeded' : job.status === 'succeeded';
      cls = pass ? 'pass' : 'fail';
      big = job.status === 'stopped' ? 'Stopped' : pass ? 'PASS' : 'FAIL';
      text = job.status === 'stopped' ? 'The run was stopped before it finished.' : pass ? 'Every health gate held.' : (summary?.health?.reasons || []).join(' ') || job.error || `The worker exited with code ${job.exit_code}.`;
    } else { cls = 'idle'; big = 'Waiting'; text = 'The job is being prepared.'; }
    clear(verdict, h('div', { class: ['verdict', cls], 'data-testid': 'verdict', 'data-state': cls }, h('span', { class: 'big' }, big), h('span', {}, text)));
  }
  function drawHead() {
    clear(head, h('div', { class: 'page-head' },
      h('div', {}, h('h1', { class: 'row', style: { gap: '10px' } }, h('span', {}, 'Load test ', h('span', { class: 'mono' }, job.id)), statusBadge(job)),
        h('div', { class: 'sub' }, `${jobTarget(job) || 'target ?'} · scenario ${job.scenario_id || 'default'} · running for ${fmtDuration(jobDuration(job))}`)),
      h('div', { class: 'actions' },
        h('a', { class: 'btn', href: `#/jobs/${encodeURIComponent(job.id)}` }, icon('jobs'), 'Job details'),
        isActive(job) ? h('button', { class: 'danger', 'data-testid': 'lt-stop', onclick: () => stopJob(job, reload) }, icon('stop'), 'Stop') : null,
        h('a', { class: 'btn primary', href: '#/load' }, icon('plus'), 'New load test'))));
  }
  async function showReport() {
    if (!FINAL.has(job.status)) { clear(reportBox); return; }
    try {
      summary = await loadSummary(id).catch(() => null);
      drawVerdict();
      const frame = await reportFrame(id);
      if (!ctx.alive()) return;
      clear(reportBox, h('div', { class: 'card mt' }, h('div', { class: 'card-head' }, h('h2', {}, 'Report'),
        h('div', { class: 'actions' }, h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(id)}`, 'data-testid': 'lt-open-report' }, icon('reports'), 'Open in Reports'))),
      h('div', { class: 'card-body stack' }, summary ? summaryFindings(summary, { findings: false }) : null, frame)));
    } catch (e) { if (ctx.alive()) clear(reportBox, h('div', { class: 'mt' }, errorBox(e))); }
  }
  async function reload() {
    try {
      const was = job.status;
      job = (await api.get(`/jobs/${encodeURIComponent(id)}`)).job;
      if (!ctx.alive()) return;
      drawHead(); drawVerdict();
      if (FINAL.has(job.status) && !FINAL.has(was)) showReport();
    } catch (e) { if (ctx.alive()) showError(e, 'refresh the job'); }
  }
  const mon = liveMonitor(ctx, job, { prefix: 'lt', onStats: (pt) => { last = pt; drawVerdict(); }, onExit: () => setTimeout(reload, 300) });
  drawHead(); drawVerdict();
  ctx.el.append(head,
    h('div', { class: 'grid', style: { gridTemplateColumns: 'minmax(0, 3fr) minmax(300px, 2fr)' } },
      verdict,
      h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Health gates')), h('div', { class: 'card-body' }, gatesBox))),
    h('div', { class: 'mt' }, mon.el),
    reportBox);
  if (FINAL.has(job.status)) showReport();
  ctx.every(2000, () => { if (!FINAL.has(job.status)) reload(); });
}
