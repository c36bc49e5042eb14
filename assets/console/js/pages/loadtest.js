// #/load: the load-test wizard (target → load → thresholds → name → review), presets
// kept in this browser, and recent load tests. #/load/<job-id>: the live monitor —
// target against actual with progress and ETA, SIPp's per-message table, thresholds
// judged live, the verdict, then the report.
//
// The wizard computes the concurrency a rate and a hold need (rate × hold, plus a fifth
// and five calls: engine stats/target.rs `concurrency_suggested`) and warns when a limit
// would throttle the run; thresholds are sent as k6-style expressions.

import * as api from '../api.js';
import { h, clear, icon, field, toast, showError, errorBox, table, emptyState, fmtAgo, fmtDuration, fmtNum, jobDuration, modal } from '../ui.js';
import { navigate } from '../app.js';
import { jobLink, statusBadge, stopJob, isActive, isFinished, jobTarget, editLabel, FINAL } from '../jobs-common.js';
import { liveMonitor, reportFrame, loadSummary, summaryFindings } from '../monitor.js';
import { requestOf, thresholdRows, finalVerdict, parseThreshold, loadText } from '../run-view.js';

const PRESETS_KEY = 'gossipper.loadPresets';
const WIZARD_PROFILE = '_load_wizard';

/** Calls a rate and a hold keep open at once, and the limit to ask for (engine
 *  stats/target.rs: needed = ⌈rate × hold⌉, suggested = ⌈needed × 1.2⌉ + 5). */
export function concurrencyFor(rate, holdMs) {
  const needed = Math.ceil(Math.max(0, rate) * Math.max(0, holdMs) / 1000);
  return { needed, suggested: Math.ceil(needed * 1.2) + 5 };
}

/** The threshold builder's metrics: label, expression head, unit shown, default op/value. */
const METRICS = [
  { key: 'p99', label: 'p99 response time', expr: 'p99(response_time)', unit: 'ms', op: '<', value: 200 },
  { key: 'p90', label: 'p90 response time', expr: 'p90(response_time)', unit: 'ms', op: '<', value: 100 },
  { key: 'p50', label: 'median response time', expr: 'p50(response_time)', unit: 'ms', op: '<', value: 50 },
  { key: 'cl', label: 'average call length', expr: 'avg(call_length)', unit: 'ms', op: '<=', value: 5000 },
  { key: 'rate', label: 'achieved rate (% of target)', expr: 'rate', unit: '%', op: '>=', value: 95 },
  { key: 'success', label: 'success ratio', expr: 'success_ratio', unit: '%', op: '>=', value: 95 },
  { key: 'failed', label: 'failed calls', expr: 'failed_calls', unit: '', op: '<=', value: 0 },
  { key: 'timeouts', label: 'SIP timeouts', expr: 'timeouts', unit: '', op: '<=', value: 0 },
  { key: 'retrans', label: 'retransmission ratio', expr: 'retrans_ratio', unit: '%', op: '<', value: 1 },
  { key: 'loss', label: 'RTP loss', expr: 'rtp_loss', unit: '%', op: '<', value: 1 },
  { key: 'mos', label: 'lowest MOS', expr: 'mos_min', unit: '', op: '>=', value: 3.5 },
];
const DEFAULT_THRESHOLDS = ['success_ratio>=95%', 'failed_calls<=0'];

export async function render(ctx) {
  if (ctx.parts[1]) return monitor(ctx, ctx.parts[1]);
  return wizard(ctx);
}

function loadPresets() {
  try { return JSON.parse(localStorage.getItem(PRESETS_KEY) || '{}') || {}; } catch { return {}; }
}

/** What each load-test scenario of the master does (the ids GET /load-test lists). */
const LOAD_SCENARIO_TEXT = {
  invite_media: 'invite_media — INVITE with SDP, RTP both ways, identity headers',
  invite_media_early: 'invite_media_early — early media: a 183 with SDP required, RTP from it',
  invite_media_early_180: 'invite_media_early_180 — early media in a 180 with SDP',
  invite_media_savpf: 'invite_media_savpf — SRTP: RTP/SAVPF offer with SDES keys',
  invite_media_scale: 'invite_media_scale — RTP, 30 s hold unless Call duration says otherwise',
  uac: 'uac — SIPp’s built-in UAC',
};

/** The scenario picker: placing scenarios only, each listed once. */
function scenarioSelect(loadScenarios, mine, builtin, selected) {
  const seen = new Set();
  const opt = (id, text) => { seen.add(id); return h('option', { value: id, selected: id === selected }, text); };
  const ours = loadScenarios.map((s) => (typeof s === 'string' ? s : s.id));
  const groups = [
    ours.length ? h('optgroup', { label: 'Load-test scenarios' }, ours.map((id) => opt(id, LOAD_SCENARIO_TEXT[id] || id))) : null,
  ];
  const yours = mine.filter((s) => s.role === 'uac' && !seen.has(s.id));
  if (yours.length) groups.push(h('optgroup', { label: 'Your UAC scenarios' }, yours.map((s) => opt(s.id, s.name && s.name !== s.id ? `${s.id} — ${s.name}` : s.id))));
  // Built-ins that place calls on their own: not servers, not 3PCC halves (they need a twin).
  const bi = builtin.filter((s) => s.role === 'client' && !/^3pcc/.test(s.id) && !seen.has(s.id));
  if (bi.length) groups.push(h('optgroup', { label: 'Built-in UAC scenarios' }, bi.map((s) => opt(s.id, `${s.id} — ${s.name}`))));
  return h('select', { 'data-testid': 'lt-scenario' }, groups);
}

/** The thresholds editor: rows of metric / comparison / value, or an expression typed in. */
function thresholdEditor(initial) {
  const list = h('div', { class: 'stack-sm', 'data-testid': 'lt-thresholds' });
  const rows = [];
  function addRow(expr) {
    const t = parseThreshold(expr);
    let m = METRICS.find((x) => t && (t.metric === 'latency' ? `${t.stat}(${t.timer})` === x.expr : t.metric === x.expr));
    const custom = !m;
    const metric = h('select', { 'aria-label': 'Metric', 'data-testid': 'th-metric' }, METRICS.map((x) => h('option', { value: x.key, selected: m && x.key === m.key }, x.label)),
      h('option', { value: 'custom', selected: custom }, 'expression…'));
    const op = h('select', { 'aria-label': 'Comparison', 'data-testid': 'th-op' }, ['<', '<=', '>', '>=', '=='].map((o) => h('option', { value: o, selected: t ? t.op === o : false }, o)));
    const shown = t && !custom ? (m.unit === '%' ? +(t.value * 100).toFixed(4) : t.value) : '';
    const value = h('input', { type: 'number', step: 'any', min: 0, value: shown, 'aria-label': 'Limit', 'data-testid': 'th-value' });
    const unit = h('span', { class: 'muted' });
    const text = h('input', { value: custom ? expr : '', placeholder: 'p99(invite)<80ms', 'data-testid': 'th-expr', 'aria-label': 'Threshold expression' });
    const remove = h('button', { class: 'sm ghost', 'aria-label': 'Remove threshold', onclick: () => { row.remove(); rows.splice(rows.indexOf(entry), 1); } }, icon('x'));
    const row = h('div', { class: 'threshold-row' }, metric, op, value, unit, text, remove);
    function sync() {
      const cm = METRICS.find((x) => x.key === metric.value);
      const isCustom = !cm;
      op.hidden = value.hidden = unit.hidden = isCustom;
      text.hidden = !isCustom;
      unit.textContent = cm ? cm.unit || 'calls' : '';
      if (cm && cm.key === 'mos') unit.textContent = '';
    }
    metric.addEventListener('change', () => {
      const cm = METRICS.find((x) => x.key === metric.value);
      if (cm) { op.value = cm.op; value.value = cm.value; }
      sync();
    });
    const entry = {
      expr() {
        const cm = METRICS.find((x) => x.key === metric.value);
        if (!cm) return text.value.trim();
        if (value.value === '') return '';
        return `${cm.expr}${op.value}${value.value}${cm.unit === '%' ? '%' : cm.unit === 'ms' ? 'ms' : ''}`;
      },
    };
    rows.push(entry);
    sync();
    list.append(row);
  }
  for (const e of initial) addRow(e);
  const add = h('button', { class: 'sm', 'data-testid': 'th-add', onclick: () => addRow('p99(response_time)<200ms') }, icon('plus'), 'Add threshold');
  return {
    el: h('div', {}, list, h('div', { class: 'row mt' }, add,
      h('span', { class: 'small muted' }, 'Thresholds decide PASS or FAIL. Without any, a run is not judged. Grammar: p50/p90/p99/p99.9/avg/min/max(response_time | call_length | an rtd name), rate, success_ratio, failed_calls, timeouts, retrans_ratio, rtp_loss, mos_min, mos_avg.'))),
    values: () => rows.map((r) => r.expr()).filter(Boolean),
    set(list2) { rows.splice(0); list.replaceChildren(); for (const e of list2) addRow(e); },
  };
}

async function wizard(ctx) {
  let info = {};
  let missing = null;
  try { info = await api.get('/load-test'); } catch (e) {
    if (e.status !== 404) throw e;
    missing = e;
  }
  const d = { scenario_id: 'invite_media', total_calls: 10, rate: 4, ...(info.defaults || {}) };
  const [mine, builtin] = await Promise.all([api.get('/scenarios').catch(() => ({ scenarios: [] })), api.get('/builtin-scenarios').catch(() => ({ scenarios: [] }))]);

  const I = {
    director: h('input', { placeholder: '127.0.0.1:5060 or sip:bob@sbc.example.net', 'data-testid': 'lt-director', required: true }),
    scenario_id: scenarioSelect(info.scenarios || [], mine.scenarios || [], builtin.scenarios || [], d.scenario_id),
    total_calls: h('input', { type: 'number', min: 0, value: d.total_calls, 'data-testid': 'lt-calls' }),
    rate: h('input', { type: 'number', min: 0.1, step: 'any', value: d.rate, 'data-testid': 'lt-rate' }),
    call_duration_ms: h('input', { type: 'number', min: 0, value: 0, 'data-testid': 'lt-hold' }),
    max_concurrent: h('input', { type: 'number', min: 1, placeholder: 'computed', 'data-testid': 'lt-concurrency' }),
    run_timeout_ms: h('input', { type: 'number', min: 0, placeholder: 'none', 'data-testid': 'lt-timeout' }),
    name: h('input', { placeholder: 'e.g. SBC 4.2 baseline, 100 cps', maxlength: 200, 'data-testid': 'lt-name' }),
    notes: h('textarea', { rows: 3, placeholder: 'What this run is for, what changed since the last one…', 'data-testid': 'lt-notes' }),
    sip_from: h('input', { placeholder: 'sip:loadtest@example.net' }),
    sip_pai: h('input', { placeholder: 'sip:+15550100@example.net' }),
    sip_provider: h('input', { placeholder: 'X-Provider value' }),
    record_wav: h('input', { type: 'checkbox' }),
  };
  const thresholds = thresholdEditor(DEFAULT_THRESHOLDS);
  const concHint = h('div', { class: 'small', 'data-testid': 'lt-concurrency-hint' });
  let concTouched = false;
  I.max_concurrent.addEventListener('input', () => { concTouched = I.max_concurrent.value !== ''; });

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
      if (I[k].type === 'checkbox') I[k].checked = !!v; else I[k].value = v ?? '';
    }
    concTouched = I.max_concurrent.value !== '';
    if (Array.isArray(p.thresholds)) thresholds.set(p.thresholds);
    toast(`Loaded preset “${preset.value}”.`);
    refresh();
  });

  function values() {
    const num = (el) => (el.value === '' ? undefined : Number(el.value));
    const v = {
      director: I.director.value.trim(), scenario_id: I.scenario_id.value,
      total_calls: num(I.total_calls) ?? 0, rate: num(I.rate), call_duration_ms: num(I.call_duration_ms) ?? 0,
      record_wav: I.record_wav.checked,
      // The wizard's thresholds replace the API's default health gates.
      health_enabled: false, thresholds: thresholds.values(),
    };
    if (num(I.max_concurrent)) v.max_concurrent = num(I.max_concurrent);
    if (num(I.run_timeout_ms)) v.run_timeout_ms = num(I.run_timeout_ms);
    if (I.name.value.trim()) v.name = I.name.value.trim();
    if (I.notes.value.trim()) v.notes = I.notes.value.trim();
    for (const k of ['sip_from', 'sip_pai', 'sip_provider']) if (I[k].value.trim()) v[k] = I[k].value.trim();
    return v;
  }
  /** Blocking problems, and warnings (the run starts, but not as asked). */
  function check(v) {
    const p = [];
    const w = [];
    if (!v.director) p.push('Director: say where to send calls (host[:port] or a sip: URI).');
    if (!(v.rate > 0)) p.push('Rate must be above 0 calls per second.');
    if (v.max_concurrent !== undefined && !(v.max_concurrent >= 1)) p.push('Concurrency must be at least 1.');
    if (v.total_calls < 0) p.push('Calls cannot be negative (0 = soak until stopped).');
    for (const t of v.thresholds) if (!parseThreshold(t)) p.push(`Threshold “${t}” is not one the console understands; the server will say why.`);
    const { needed } = concurrencyFor(v.rate || 0, v.call_duration_ms || 0);
    if (v.max_concurrent !== undefined && v.max_concurrent < needed) {
      const cap = v.call_duration_ms > 0 ? v.max_concurrent / (v.call_duration_ms / 1000) : null;
      w.push(`A concurrency limit of ${fmtNum(v.max_concurrent)} cannot hold ${fmtNum(v.rate, 2)} calls/s for ${fmtNum(v.call_duration_ms)} ms each: that needs ${fmtNum(needed)} open calls. The run will be throttled to about ${fmtNum(cap, 1)} calls/s and its verdict will say the target was not reached.`);
    }
    if (!v.thresholds.length) w.push('No thresholds: the run will not be judged pass or fail.');
    return { p, w };
  }
  function refresh() {
    const v = values();
    const { needed, suggested } = concurrencyFor(v.rate || 0, v.call_duration_ms || 0);
    if (!concTouched) I.max_concurrent.value = v.rate > 0 ? String(suggested) : '';
    const cur = Number(I.max_concurrent.value || 0);
    clear(concHint, v.rate > 0
      ? h('span', { class: cur && cur < needed ? 'warn-text' : 'muted' },
        `${fmtNum(v.rate, 2)} calls/s held ${fmtNum(v.call_duration_ms || 0)} ms keep about ${fmtNum(needed)} calls open; suggested limit ${fmtNum(suggested)} (+20 % and 5 for set-up).`
        + (cur && cur < needed ? ` A limit of ${fmtNum(cur)} throttles the run.` : ''))
      : null);
    if (step === steps.length - 1) review();
  }

  const steps = ['Target', 'Load', 'Thresholds', 'Name & extras', 'Review'];
  const stepEls = steps.map((s, i) => h('div', { class: 'step', onclick: () => go(i) }, h('span', { class: 'n' }, String(i + 1)), s));
  const panes = [
    h('div', { class: 'form-grid' },
      field('Director (target)', I.director, 'host[:port] or sip:[user@]host[:port]; port 5060 when omitted.', 'span2'),
      field('Scenario', I.scenario_id, 'A scenario that places calls (UAC).', 'span2')),
    h('div', { class: 'form-grid' },
      field('Calls', I.total_calls, '0 = soak until you stop it.'),
      field('Rate (calls/s)', I.rate),
      field('Call hold time (ms)', I.call_duration_ms, 'How long each call stays up.'),
      field('Concurrency limit', I.max_concurrent, 'Calls open at once, at most. Computed from rate × hold unless you type one.'),
      h('div', { class: 'span4' }, concHint),
      field('Run timeout (ms)', I.run_timeout_ms, 'Stop the run after this long.')),
    h('div', {}, thresholds.el),
    h('div', { class: 'stack' },
      h('div', { class: 'form-grid' }, field('Name', I.name, 'Shown in the jobs list, the report and comparisons.', 'span2'), field('Notes', I.notes, null, 'span2')),
      h('fieldset', {}, h('legend', {}, 'Identity headers and recording (optional)'), h('div', { class: 'form-grid' },
        field('From', I.sip_from), field('P-Asserted-Identity', I.sip_pai), field('X-Provider', I.sip_provider),
        h('label', { class: 'check', style: { alignSelf: 'end', paddingBottom: '8px' } }, I.record_wav, 'Record each call (WAV)')))),
    h('div'),
  ];
  const reviewBox = panes[4];
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
    const { p, w } = check(v);
    const { needed } = concurrencyFor(v.rate || 0, v.call_duration_ms || 0);
    const limit = v.max_concurrent;
    const effRate = limit !== undefined && limit < needed && v.call_duration_ms > 0 ? Math.min(v.rate, limit / (v.call_duration_ms / 1000)) : v.rate;
    const dur = v.total_calls && effRate ? (v.total_calls / effRate) * 1000 + (v.call_duration_ms || 0) : null;
    clear(reviewBox, h('div', { class: 'grid g2' },
      h('dl', { class: 'kv', 'data-testid': 'lt-review' },
        h('dt', {}, 'Name'), h('dd', {}, v.name || '—'),
        h('dt', {}, 'Target'), h('dd', { class: 'mono' }, v.director || '—'),
        h('dt', {}, 'Scenario'), h('dd', { class: 'mono' }, v.scenario_id),
        h('dt', {}, 'Calls'), h('dd', {}, v.total_calls ? fmtNum(v.total_calls) : 'soak (until stopped)'),
        h('dt', {}, 'Rate'), h('dd', {}, `${fmtNum(v.rate, 2)} calls/s`),
        h('dt', {}, 'Call hold time'), h('dd', {}, `${fmtNum(v.call_duration_ms || 0)} ms`),
        h('dt', {}, 'Concurrency limit'), h('dd', {}, limit ? `${fmtNum(limit)} (needs ${fmtNum(needed)})` : 'engine default'),
        h('dt', {}, 'Expected length'), h('dd', { 'data-testid': 'lt-expected' }, dur ? `about ${fmtDuration(dur)}` : '—')),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Thresholds'), h('dd', {}, v.thresholds.length ? v.thresholds.map((t) => h('div', { class: 'mono' }, t)) : 'none: the run is not judged'),
        h('dt', {}, 'Recording'), h('dd', {}, v.record_wav ? 'every call' : 'off'),
        h('dt', {}, 'Headers'), h('dd', {}, ['sip_from', 'sip_pai', 'sip_provider'].filter((k) => v[k]).map((k) => `${k}=${v[k]}`).join(', ') || '—'),
        h('dt', {}, 'Notes'), h('dd', { class: 'notes' }, v.notes || '—'))),
    w.length ? h('div', { class: 'alert warn mt', 'data-testid': 'lt-warnings' }, icon('alert'), h('div', {}, w.map((x) => h('div', {}, x)))) : null,
    p.length ? h('div', { class: 'alert error mt' }, icon('alert'), h('div', {}, p.map((x) => h('div', {}, x)))) : null);
    run.disabled = p.length > 0;
  }
  async function start() {
    err.replaceChildren();
    const v = values();
    const { p } = check(v);
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
      all[n] = { ...values(), max_concurrent: concTouched ? values().max_concurrent : undefined };
      localStorage.setItem(PRESETS_KEY, JSON.stringify(all));
      drawPresets();
      m.close();
      toast(`Saved preset “${n}”. Presets live in this browser only.`, 'ok');
    };
    name.addEventListener('keydown', (e) => { if (e.key === 'Enter') ok(); });
    const m = modal({ title: 'Save as preset', size: 'narrow', body: field('Preset name', name),
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), h('button', { class: 'primary', onclick: ok }, 'Save')] });
  }
  for (const el of Object.values(I)) el.addEventListener('input', refresh);
  panes[2].addEventListener('input', () => { if (step === steps.length - 1) review(); });

  const recent = h('div');
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Load test'), h('div', { class: 'sub' }, 'Point gossipper at a SIP target, set the load and the thresholds that decide pass or fail, and watch it run.')),
      h('div', { class: 'actions' }, preset, h('button', { onclick: savePreset }, 'Save as preset'))),
    missing ? h('div', { class: 'alert warn', style: { marginBottom: '16px' } }, icon('alert'), h('div', {}, h('b', {}, 'This master cannot run load tests yet: '), missing.message)) : null,
    h('div', { class: 'card pad' }, h('div', { class: 'steps' }, stepEls), panes, err,
      h('div', { class: 'row mt' }, back, h('span', { class: 'grow' }), next, run)),
    h('div', { class: 'card mt' }, h('div', { class: 'card-head' }, h('h2', {}, 'Recent load tests')), recent));
  go(0);
  refresh();
  I.director.focus();

  async function drawRecent() {
    try {
      const jobs = ((await api.get('/jobs?limit=200')).jobs || []).filter((j) => j.profile_id === WIZARD_PROFILE).slice(0, 10);
      if (!ctx.alive()) return;
      clear(recent, table([
        { label: 'Load test', render: jobLink },
        { label: 'Target', render: (j) => h('span', { class: 'mono' }, jobTarget(j) || '–') },
        { label: 'Load', render: (j) => loadText(requestOf(j)) },
        { label: 'Status', render: statusBadge },
        { label: 'Started', render: (j) => fmtAgo(j.started_at || j.created_at) },
        { label: 'Duration', render: (j) => fmtDuration(jobDuration(j)) },
        { label: '', cls: 'actions', render: (j) => h('a', { class: 'btn sm', href: `#/load/${encodeURIComponent(j.id)}` }, 'Monitor') },
      ], jobs, { rowAttrs: (j) => ({ 'data-job': j.id }), empty: emptyState('No load tests yet', 'Your runs will be listed here.') }));
    } catch (e) { if (ctx.alive()) clear(recent, errorBox(e)); }
  }
  drawRecent();
  ctx.every(5000, drawRecent);
}

async function monitor(ctx, id) {
  ctx.crumbs([['Load test', '#/load'], [id]]);
  let { job } = await api.get(`/jobs/${encodeURIComponent(id)}`);
  const req = requestOf(job);
  const verdict = h('div', { class: 'verdict-wrap' });
  const gatesBox = h('div');
  const reportBox = h('div');
  const head = h('div');
  let last = null;
  let plan = null;
  let summary = null;

  function drawVerdict() {
    const targetRate = plan?.target?.rate_cps ?? req.rate;
    if (summary || isFinished(job)) {
      clear(gatesBox, summary ? thresholdRows({ results: summary.thresholds || [] }) : thresholdRows({ expressions: req.thresholds, live: last, targetRate }));
    } else {
      clear(gatesBox, thresholdRows({ expressions: req.thresholds, live: last, targetRate }));
    }
    let cls, big, lines;
    if (isActive(job) || (FINAL.has(job.status) && !isFinished(job))) {
      const failing = gatesBox.querySelector('[data-state="fail"]');
      cls = 'running';
      big = job.status === 'stopping' ? 'Stopping' : failing ? 'Failing' : 'Running';
      const created = last?.created ?? 0;
      lines = [job.status === 'stopping' ? 'The worker is ending the calls in flight and writing the report…'
        : failing ? 'A threshold is failing right now; the run goes on until it ends.'
          : req.calls ? `${fmtNum(created)} of ${fmtNum(req.calls)} calls so far.` : `${fmtNum(created)} calls so far.`];
    } else if (isFinished(job)) {
      ({ cls, big, lines } = finalVerdict(job, summary));
    } else { cls = 'idle'; big = 'Waiting'; lines = ['The job is being prepared.']; }
    clear(verdict, h('div', { class: ['verdict', cls], 'data-testid': 'verdict', 'data-state': cls },
      h('span', { class: 'big' }, big), h('div', { 'data-testid': 'verdict-text' }, lines.map((l) => h('div', {}, l)))));
  }
  function drawHead() {
    const ran = isActive(job) ? 'running for' : 'ran for';
    clear(head, h('div', { class: 'page-head' },
      h('div', {}, h('h1', { class: 'row', style: { gap: '10px' } }, h('span', { 'data-testid': 'job-title' }, job.name || h('span', {}, 'Load test ', h('span', { class: 'mono' }, job.id))), statusBadge(job)),
        h('div', { class: 'sub', 'data-testid': 'job-sub' }, `${jobTarget(job) || 'target ?'} · scenario ${job.scenario_id || 'default'} · ${loadText(req)} · ${ran} ${fmtDuration(jobDuration(job))}`),
        job.notes ? h('div', { class: 'notes small muted', 'data-testid': 'job-notes' }, job.notes) : null),
      h('div', { class: 'actions' },
        h('button', { 'data-testid': 'edit-label', onclick: () => editLabel(job, (j) => { job = j; drawHead(); }) }, icon('edit'), 'Name & notes'),
        h('a', { class: 'btn', href: `#/jobs/${encodeURIComponent(job.id)}` }, icon('jobs'), 'Job details'),
        isActive(job) ? h('button', { class: 'danger', 'data-testid': 'lt-stop', onclick: () => stopJob(job, reload) }, icon('stop'), 'Stop') : null,
        h('a', { class: 'btn primary', href: '#/load' }, icon('plus'), 'New load test'))),
    job.error && job.status !== 'succeeded' ? h('div', { class: 'alert error', style: { marginBottom: '16px' }, 'data-testid': 'job-error' }, icon('alert'), h('div', {}, h('b', {}, 'Why: '), job.error)) : null);
  }
  let reportShown = false;
  async function showReport() {
    if (!isFinished(job) || reportShown) return;
    reportShown = true;
    try {
      summary = await loadSummary(id).catch(() => null);
      mon.showSummary(summary);
      drawVerdict();
      const frame = await reportFrame(id);
      if (!ctx.alive()) return;
      clear(reportBox, h('div', { class: 'card mt' }, h('div', { class: 'card-head' }, h('h2', {}, 'Report'),
        h('div', { class: 'actions' }, h('a', { class: 'btn sm', href: `#/reports?report=${encodeURIComponent(id)}`, 'data-testid': 'lt-open-report' }, icon('reports'), 'Open in Reports'))),
      h('div', { class: 'card-body stack' }, summary ? summaryFindings(summary, { findings: false }) : null, frame)));
    } catch (e) {
      if (ctx.alive()) clear(reportBox, h('div', { class: 'mt' }, errorBox(e.status === 404 ? new Error(`This job left no report${job.error ? `: ${job.error}` : '.'}`) : e)));
    }
  }
  async function reload() {
    try {
      job = (await api.get(`/jobs/${encodeURIComponent(id)}`)).job;
      if (!ctx.alive()) return;
      drawHead(); drawVerdict();
      showReport();
    } catch (e) { if (ctx.alive()) showError(e, 'refresh the job'); }
  }
  const mon = liveMonitor(ctx, job, { prefix: 'lt', onStats: (pt) => { last = pt; drawVerdict(); }, onPlan: (p) => { plan = p; }, onExit: () => setTimeout(reload, 300) });
  drawHead(); drawVerdict();
  ctx.el.append(head,
    h('div', { class: 'grid', style: { gridTemplateColumns: 'minmax(0, 3fr) minmax(300px, 2fr)' } },
      verdict,
      h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Thresholds')), h('div', { class: 'card-body' }, gatesBox))),
    h('div', { class: 'grid g2 mt' }, mon.targetEl, mon.messagesEl),
    h('div', { class: 'mt' }, mon.el),
    reportBox);
  showReport();
  ctx.every(1000, () => { if (!isFinished(job)) reload(); });
}
