// What a run was asked to do and what it did, shared by the job monitor, the load-test
// monitor and the reports: the request as a readable list, target against actual (with
// progress and ETA while it runs), SIPp's per-message table, the thresholds (judged live
// where the stats line allows, finally from summary.json) and the verdict.
//
// Owns: these views and the small parsing they need (a job's recorded request, the
// threshold grammar for live judging). Must not: decide the final verdict (summary.json's
// `verdict` does) or fetch anything (callers pass the data in).

import { h, clear, fmtNum, fmtDuration, fmtTime } from './ui.js';

/** The request a job was started with, from its recorded overrides (args_json). */
export function requestOf(job) {
  let a = {};
  if (job?.args_json && typeof job.args_json === 'object') a = job.args_json;
  else { try { a = JSON.parse(job?.args_json || '{}') || {}; } catch { a = {}; } }
  const host = a.remote_host;
  return {
    target: host ? `${host.includes(':') ? `[${host}]` : host}:${a.remote_port || 5060}` : '',
    service: a.service || '',
    scenario: job?.scenario_id || '',
    rate: a.rate ?? null,
    calls: a.total_calls ?? null,
    concurrency: a.max_concurrent ?? null,
    hold_ms: a.call_duration_ms ?? null,
    timeout_ms: a.global_timeout_ms ?? null,
    thresholds: thresholdsOf(a),
    identity: ['sip_from', 'sip_pai', 'sip_provider'].filter((k) => a[k]).map((k) => `${k}=${a[k]}`),
    transport: a.transport || '',
    shards: a.shards ?? null,
    seed: a.seed ?? null,
    raw: a,
  };
}

/** The thresholds of a request: the health gates as the expressions they mean, then the
 *  thresholds as written (the engine's order, stats/thresholds.rs `from_gates`). */
export function thresholdsOf(a) {
  const out = [];
  if (a.health_min_success_ratio > 0) out.push(`success_ratio>=${+(a.health_min_success_ratio * 100).toFixed(4)}%`);
  if (a.health_max_failed_calls !== undefined && a.health_max_failed_calls !== null) out.push(`failed_calls<=${a.health_max_failed_calls}`);
  if (a.health_max_timeouts !== undefined && a.health_max_timeouts !== null) out.push(`timeouts<=${a.health_max_timeouts}`);
  for (const t of a.thresholds || []) for (const one of String(t).split(',')) if (one.trim()) out.push(one.replace(/\s+/g, ''));
  return out;
}

const dash = (v, f = (x) => x) => (v === null || v === undefined || v === '' ? '–' : f(v));

/** The request as a definition list (the job page's Parameters, the reports). */
export function requestView(job, { extra = [] } = {}) {
  const r = requestOf(job);
  const rows = [
    ['Name', job.name || '–'],
    ['Target', r.target ? `${r.service ? `${r.service}@` : ''}${r.target}` : '–'],
    ['Scenario', r.scenario || 'default'],
    ['Rate', dash(r.rate, (v) => `${fmtNum(v, 2)} calls/s`)],
    ['Calls', r.calls === 0 ? 'until stopped' : dash(r.calls, (v) => fmtNum(v))],
    ['Concurrency limit', r.concurrency === null ? 'computed: 3 × rate × max(hold, 1 s)' : fmtNum(r.concurrency)],
    ['Call hold time', dash(r.hold_ms, (v) => `${fmtNum(v)} ms`)],
    ['Run timeout', dash(r.timeout_ms, (v) => fmtDuration(v))],
    ['Thresholds', r.thresholds.length ? h('div', {}, r.thresholds.map((t) => h('div', { class: 'mono' }, t))) : 'none'],
    ['Identity headers', r.identity.length ? r.identity.join(', ') : '–'],
    ['Transport', r.transport || 'profile default'],
    ['Started by', `${job.created_by || '–'} at ${fmtTime(job.created_at)}`],
    ...extra,
  ];
  if (job.notes) rows.push(['Notes', h('div', { class: 'notes' }, job.notes)]);
  return h('dl', { class: 'kv', 'data-testid': 'request' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, v)]));
}

/** "1,000 calls at 100 calls/s, held 2 s" from a request. */
export function loadText(r) {
  const parts = [];
  parts.push(r.calls ? `${fmtNum(r.calls)} call${r.calls === 1 ? '' : 's'}` : r.calls === 0 ? 'soak' : '');
  if (r.rate) parts.push(`at ${fmtNum(r.rate, 2)}/s`);
  if (r.hold_ms) parts.push(`held ${r.hold_ms < 1000 ? `${fmtNum(r.hold_ms)} ms` : fmtDuration(r.hold_ms)}`);
  return parts.filter(Boolean).join(' ') || '–';
}

// ---------- thresholds ----------

const RE_LAT = /^(p(\d+(?:\.\d+)?)|avg|mean|min|max|med)\(([\w.-]+)\)(<=|>=|==|<|>)([\d.]+)(ms|s|us)?$/;
const RE_PLAIN = /^(rate|success_ratio|failed_calls|timeouts|retrans_ratio|rtp_loss|mos_min|mos_avg)(<=|>=|==|<|>)([\d.]+)(%|cps)?$/;

/** Parses one threshold for live judging: {text, metric, stat, timer, op, value, relative} or null. */
export function parseThreshold(text) {
  const s = String(text).replace(/\s+/g, '');
  let m = RE_LAT.exec(s);
  if (m) {
    const unit = m[6] || 'ms';
    const v = Number(m[5]) * (unit === 's' ? 1000 : unit === 'us' ? 0.001 : 1);
    const stat = m[2] ? `p${m[2]}` : m[1] === 'med' ? 'p50' : m[1];
    return { text: s, metric: 'latency', stat, timer: m[3], op: m[4], value: v };
  }
  m = RE_PLAIN.exec(s);
  if (!m) return null;
  let v = Number(m[3]);
  const pct = m[4] === '%';
  if (['success_ratio', 'retrans_ratio', 'rtp_loss'].includes(m[1]) && pct) v /= 100;
  return { text: s, metric: m[1], op: m[2], value: m[1] === 'rate' && pct ? v / 100 : v, relative: m[1] === 'rate' && pct };
}

const holds = (op, a, b) => (op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : op === '>=' ? a >= b : Math.abs(a - b) < 1e-9);

/** The achieved rate over the creation window of a stats point (null under two calls). */
export function windowRate(pt) {
  if (!pt || pt.firstCallMs === null || pt.lastCallMs === null || pt.created < 2) return null;
  const secs = (pt.lastCallMs - pt.firstCallMs) / 1000;
  return secs > 0 ? (pt.created - 1) / secs : null;
}

/** Judges a threshold against a live stats point: {state: 'pass'|'fail'|'waiting'|'end', observed}. */
export function judgeLive(t, pt, targetRate) {
  if (!t) return { state: 'end', observed: null };
  let obs = null;
  const finished = (pt?.succeeded || 0) + (pt?.failed || 0);
  switch (t.metric) {
    case 'latency':
      if (t.timer !== 'response_time' && t.timer !== 'call_length') return { state: 'end', observed: null };
      if (t.timer === 'call_length') obs = t.stat === 'avg' || t.stat === 'mean' ? pt?.callLengthAvg ?? null : undefined;
      else obs = { p50: pt?.p50, p90: pt?.p90, p99: pt?.p99 }[t.stat];
      if (obs === undefined) return { state: 'end', observed: null };
      break;
    case 'success_ratio': obs = finished ? pt.succeeded / finished : null; break;
    case 'failed_calls': obs = pt?.failed ?? null; break;
    case 'timeouts': obs = pt?.timeouts ?? null; break;
    case 'rate': {
      const r = windowRate(pt);
      obs = t.relative ? (r !== null && targetRate > 0 ? r / targetRate : null) : r;
      break;
    }
    default: return { state: 'end', observed: null };
  }
  if (obs === null || obs === undefined) return { state: 'waiting', observed: null };
  return { state: holds(t.op, obs, t.value) ? 'pass' : 'fail', observed: obs };
}

function showObserved(t, obs) {
  if (obs === null || obs === undefined) return '–';
  if (t.metric === 'latency') return `${fmtNum(obs, 2)} ms`;
  if (t.metric === 'success_ratio') return `${fmtNum(obs * 100, 2)} %`;
  if (t.metric === 'rate') return t.relative ? `${fmtNum(obs * 100, 1)} % of target` : `${fmtNum(obs, 2)} calls/s`;
  return fmtNum(obs, 2);
}

/** Rows for the thresholds panel: live while the run goes, then summary.json's results. */
export function thresholdRows({ expressions = [], live = null, targetRate = null, results = null }) {
  if (results) {
    if (!results.length) return h('div', { class: 'muted', 'data-testid': 'no-thresholds' }, 'No thresholds were set: this run is not judged pass or fail.');
    return results.map((r) => h('div', { class: 'gate', 'data-testid': 'gate', 'data-state': r.pass ? 'pass' : 'fail' },
      h('div', { class: 'what' }, h('div', { class: 'mono', style: { fontWeight: 600 } }, r.threshold), h('div', { class: 'small muted' }, r.text)),
      h('span', { class: ['badge', r.pass ? 'pass' : 'fail'] }, r.pass ? 'pass' : 'fail')));
  }
  if (!expressions.length) return h('div', { class: 'muted', 'data-testid': 'no-thresholds' }, 'No thresholds were set: this run will not be judged pass or fail.');
  return expressions.map((text) => {
    const t = parseThreshold(text);
    const j = judgeLive(t, live, targetRate);
    const label = { pass: 'holding', fail: 'failing', waiting: 'waiting', end: 'judged at the end' }[j.state];
    return h('div', { class: 'gate', 'data-testid': 'gate', 'data-state': j.state },
      h('div', { class: 'what' }, h('div', { class: 'mono', style: { fontWeight: 600 } }, text),
        h('div', { class: 'small muted' }, j.state === 'end' ? 'measured from the whole run when it ends' : `now ${showObserved(t, j.observed)}`)),
      h('span', { class: ['badge', j.state === 'pass' ? 'pass' : j.state === 'fail' ? 'fail' : 'plain'] }, label));
  });
}

// ---------- verdict ----------

/** The verdict of a finished job: {cls, big, lines} from summary.json (revision 2). */
export function finalVerdict(job, summary) {
  const v = summary?.verdict;
  const lines = [];
  if (job.status === 'stopped') {
    lines.push('The run was stopped before it finished.');
    if (v) lines.push(...v.reasons.filter((r) => !r.startsWith('target not reached')));
    return { cls: 'stopped', big: 'Stopped', lines, status: v?.status || null };
  }
  if (!v) {
    if (job.error) lines.push(job.error);
    return { cls: job.status === 'succeeded' ? 'idle' : 'fail', big: job.status === 'succeeded' ? 'No verdict' : 'FAIL', lines, status: null };
  }
  lines.push(...v.reasons, ...v.notes);
  if (v.status === 'pass') return { cls: 'pass', big: 'PASS', lines: lines.length ? lines : ['Every threshold held.'], status: 'pass' };
  if (v.status === 'fail') return { cls: 'fail', big: 'FAIL', lines, status: 'fail' };
  return { cls: 'idle', big: 'No thresholds', lines: ['Nothing was judged: add thresholds to get a pass or a fail.', ...lines], status: 'no_thresholds' };
}

// ---------- target against actual ----------

/** Target-against-actual panel. update({plan, pt, active}) redraws it. */
export function targetPanel() {
  const body = h('tbody');
  const note = h('div');
  const el = h('div', { class: 'card', 'data-testid': 'target-actual' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Target and actual')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table tv' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'Asked'), h('th', {}, 'Actual'))), body)), note);
  const row = (label, id, asked, actual, extra) => h('tr', {},
    h('td', { class: 'muted' }, label), h('td', { 'data-testid': `tv-${id}-asked` }, asked),
    h('td', {}, h('div', { 'data-testid': `tv-${id}-actual` }, actual), extra || null));

  function update({ plan, pt, active, achieved }) {
    const t = plan?.target;
    if (!t) { clear(body, h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'Waiting for the run to start…'))); return; }
    const created = achieved ? achieved.calls : pt?.created ?? 0;
    const rate = achieved ? achieved.rate_cps ?? null : windowRate(pt);
    const win = achieved?.window || (pt && pt.firstCallMs !== null ? { from_s: pt.firstCallMs / 1000, to_s: pt.lastCallMs / 1000 } : null);
    const peak = achieved ? achieved.peak_concurrency : pt?.peak ?? 0;
    const blockedS = achieved ? achieved.limit_blocked_s : (pt?.limitBlockedMs || 0) / 1000;
    const hold = achieved ? achieved.hold_ms ?? null : pt?.callLengthAvg ?? null;
    const rows = [];
    if (t.role === 'server') {
      rows.push(row('Calls', 'calls', 'answers what arrives', `${fmtNum(created)} answered`));
    } else {
      rows.push(row('Rate', 'rate', t.users ? `${fmtNum(t.users)} users` : t.rate_cps !== undefined ? `${fmtNum(t.rate_cps, 2)} calls/s${t.rate_ramp ? ' (ramping)' : ''}` : '–',
        rate === null ? '–' : `${fmtNum(rate, 2)} calls/s`,
        win && rate !== null ? h('div', { class: 'small faint', 'data-testid': 'tv-window' }, `averaged from ${fmtNum(win.from_s, 1)} s to ${fmtNum(win.to_s, 1)} s (first to last call created)`) : null));
      let progress = null;
      let callsActual = fmtNum(created);
      if (t.calls) {
        const pct = Math.min(100, (100 * created) / t.calls);
        callsActual = `${fmtNum(created)} of ${fmtNum(t.calls)}`;
        let eta = null;
        if (active && created < t.calls) {
          const r = rate && rate > 0 ? Math.min(rate, t.rate_cps || rate) : t.rate_cps;
          const left = r > 0 ? ((t.calls - created) / r) * 1000 + (t.hold_ms || 0) : null;
          eta = left === null ? null : `about ${fmtDuration(left)} left`;
        }
        progress = h('div', {}, h('div', { class: 'progress', 'data-testid': 'tv-progress', 'data-pct': pct.toFixed(1) }, h('i', { style: { width: `${pct}%` } })),
          eta ? h('div', { class: 'small muted', 'data-testid': 'tv-eta' }, eta) : null);
      }
      rows.push(row('Calls', 'calls', t.calls ? fmtNum(t.calls) : 'until stopped', callsActual, progress));
      rows.push(row('Concurrency', 'conc', `limit ${fmtNum(t.concurrency)}${t.concurrency_needed > 0 ? ` (rate × hold needs ${fmtNum(t.concurrency_needed)})` : ''}`,
        `${active && pt ? `${fmtNum(pt.active)} open now, ` : ''}peak ${fmtNum(peak)}`));
      rows.push(row('Hold', 'hold', t.hold_ms !== undefined && t.hold_ms !== null ? `${fmtNum(t.hold_ms)} ms` : 'set by the scenario',
        hold === null ? '–' : `${fmtNum(hold, 1)} ms mean call length`));
    }
    clear(body, rows);
    const capped = t.concurrency_needed > t.concurrency;
    clear(note, blockedS > 0 || capped ? h('div', { class: 'alert warn', style: { margin: '0 16px 16px' }, 'data-testid': 'tv-throttle' },
      h('div', {}, h('b', {}, 'The concurrency limit throttles this run. '),
        `A limit of ${fmtNum(t.concurrency)} open calls cannot sustain ${fmtNum(t.rate_cps, 2)} calls/s held ${fmtNum(t.hold_ms || 0)} ms`
        + `${t.concurrency_needed ? ` (that needs about ${fmtNum(t.concurrency_needed)})` : ''}`
        + `${blockedS > 0 ? `; calls were held back for ${fmtNum(blockedS, 1)} s so far` : ''}.`)) : null);
  }
  update({});
  return { el, update };
}

// ---------- SIPp's per-message table ----------

/** SIPp's scenario-screen table; update(rows, steps?) with summary rows or plan rows plus
 *  a stats line's `steps` ([messages, retrans, timeouts, unexpected] per command). */
export function messageTable(role) {
  const body = h('tbody');
  const el = h('div', { class: 'card', 'data-testid': 'msg-table' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Messages'), h('span', { class: 'small muted' }, 'per scenario step, as SIPp’s scenario screen counts them')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table msgs' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Step'), h('th', { class: 'num' }, 'Messages'), h('th', { class: 'num' }, 'Retrans'), h('th', { class: 'num' }, 'Timeout'), h('th', { class: 'num' }, 'Unexpected'))), body)));
  function update(rows, steps) {
    if (!rows?.length) { clear(body, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Waiting for the scenario…'))); return; }
    const server = role?.() === 'server';
    clear(body, rows.map((r) => {
      const c = steps ? steps[r.index] || [0, 0, 0, 0] : [r.messages, r.retrans, r.timeouts, r.unexpected];
      const arrow = r.direction === 'out' ? (server ? '◀──' : '──▶') : r.direction === 'in' ? (server ? '──▶' : '◀──') : '';
      const label = r.kind === 'pause' ? `pause [${r.label}]` : r.kind === 'nop' ? `[${r.label || 'nop'}]` : r.label;
      const marks = [r.rtd_start ? `B-RTD${r.rtd_start}` : '', r.rtd_stop ? `E-RTD${r.rtd_stop}` : '', r.optional ? 'optional' : ''].filter(Boolean).join(' ');
      const cell = (v, shown, bad) => h('td', { class: ['num', shown && bad && v > 0 ? 'bad-num' : ''] }, shown ? fmtNum(v) : '');
      const isSend = r.kind === 'send';
      const isRecv = r.kind === 'recv';
      return h('tr', { 'data-step': r.label, 'data-kind': r.kind },
        h('td', { class: 'mono' }, server && arrow ? h('span', { class: 'arrow' }, `${arrow} `) : null, label, !server && arrow ? h('span', { class: 'arrow' }, ` ${arrow}`) : null,
          marks ? h('span', { class: 'small faint' }, ` ${marks}`) : null),
        cell(c[0], r.kind !== 'nop'), cell(c[1], isSend || isRecv, true),
        cell(c[2], (isSend && r.retrans_timer) || isRecv, true), cell(c[3], isRecv || r.kind === 'pause', true));
    }));
  }
  update(null);
  return { el, update };
}
