// The dashboard's v1 panel (`gossipper server` with /api/v1 on): every engine of the
// server — the primary one and the dynamic clients — with its live numbers, a rate
// slider and Apply, Pause/Resume, Remove for a dynamic client, and a small form that
// adds one (POST /api/v1/clients with a run-profile snippet).
//
// Reads GET /api/v1/stats, /control, /clients and /transports once a second (the v1
// live WebSocket takes its token in the URL, which this console never does). Calls/s
// "now" is the rise of an engine's created calls between two reads. Rows are kept
// across reads, so a slider being moved is not reset under the hand. A primary engine
// that answers calls (it has a SIP listener) has no rate or pause: the server refuses
// them (409), and the row says why.

import * as api from './api.js';
import { h, clear, icon, field, showError, toast, fmtNum, errorBox, emptyState } from './ui.js';

const POLL_MS = 1000;

/** Engines of a v1 stats/control/clients triple: [{id, stats, rate, paused, dynamic, client}]. */
export function v1Engines(stats, control, clients) {
  const byId = new Map();
  const get = (id) => {
    if (!byId.has(id)) byId.set(id, { id, stats: null, rate: null, paused: false, dynamic: id !== 'primary', client: null });
    return byId.get(id);
  };
  if (stats?.multi && Array.isArray(stats.engines)) {
    for (const e of stats.engines) get(e.id).stats = e.stats;
  } else if (stats) {
    get('primary').stats = stats.stats && stats.multi === false ? stats.stats : stats;
  }
  if (control?.multi && Array.isArray(control.engines)) {
    for (const e of control.engines) Object.assign(get(e.id), { rate: e.rate, paused: !!e.paused });
  } else if (control) {
    Object.assign(get('primary'), { rate: control.rate, paused: !!control.paused });
  }
  for (const c of clients?.clients || []) Object.assign(get(c.id), { client: c, rate: c.rate ?? get(c.id).rate, paused: c.paused ?? get(c.id).paused });
  return [...byId.values()].sort((a, b) => (a.id === 'primary' ? -1 : b.id === 'primary' ? 1 : a.id.localeCompare(b.id, 'en', { numeric: true })));
}

export function v1Panel(ctx) {
  const body = h('div');
  const err = h('div');
  const addBtn = h('button', { class: 'sm primary', 'data-testid': 'v1-add-client', onclick: () => addForm() }, icon('plus'), 'Add client');
  const el = h('div', { class: 'card mt', 'data-testid': 'v1-panel' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Live engines (v1 control)'), h('div', { class: 'actions' }, addBtn)),
    err, body);
  const rows = new Map();
  let answers = false;
  let prev = new Map();
  let formBox = null;

  function rateCell(e) {
    const num = h('input', { type: 'number', min: 0, step: 'any', 'data-testid': `v1-rate-${e.id}`, 'aria-label': `Rate of ${e.id}` });
    const range = h('input', { type: 'range', min: 0, max: 100, step: 0.5, 'aria-label': `Rate slider of ${e.id}` });
    const apply = h('button', { class: 'sm', 'data-testid': `v1-apply-${e.id}` }, 'Apply');
    const wrap = h('span', { class: 'v1-rate' }, range, num, apply);
    let dirty = false;
    const setMax = (v) => { range.max = String(Math.max(100, Math.ceil((v || 0) * 2 / 10) * 10)); };
    range.addEventListener('input', () => { dirty = true; num.value = range.value; });
    num.addEventListener('input', () => { dirty = true; setMax(Number(num.value)); range.value = num.value; });
    apply.addEventListener('click', async () => {
      const rate = Number(num.value);
      if (!(rate >= 0)) { toast('The rate is a number of calls per second from 0.', 'error', 'Not applied'); return; }
      try {
        await api.post('/api/v1/control', { engine_id: e.id, rate });
        dirty = false;
        toast(`${e.id}: rate set to ${fmtNum(rate, 2)} calls/s.`, 'ok', null, { key: `v1-rate-${e.id}` });
        refresh();
      } catch (ex) { showError(ex, `set the rate of ${e.id}`); }
    });
    return {
      el: wrap,
      set(rate) {
        if (dirty || document.activeElement === num) return;
        setMax(rate);
        num.value = rate === null || rate === undefined ? '' : String(rate);
        range.value = num.value || '0';
      },
    };
  }

  function makeRow(e) {
    const live = { cps: h('td', { class: 'num', 'data-testid': `v1-cps-${e.id}` }), active: h('td', { class: 'num' }), ok: h('span', { class: 'ok-text' }), failed: h('span', { class: 'bad-text' }), total: h('td', { class: 'num', 'data-testid': `v1-total-${e.id}` }) };
    const state = h('span', { 'data-testid': `v1-state-${e.id}` });
    const pauseBtn = h('button', { class: 'sm', 'data-testid': `v1-pause-${e.id}` });
    const rate = rateCell(e);
    const what = h('div', { class: 'small muted' });
    const controls = h('td');
    const actions = h('td', { class: 'actions' });
    const tr = h('tr', { 'data-testid': 'v1-engine', 'data-engine': e.id },
      h('td', {}, h('b', { class: 'mono' }, e.id), what), live.total, live.cps, live.active, h('td', { class: 'num nowrap' }, live.ok, ' / ', live.failed), controls, h('td', {}, state), actions);
    pauseBtn.addEventListener('click', async () => {
      const cur = rows.get(e.id)?.paused;
      try {
        await api.post('/api/v1/control', cur ? { engine_id: e.id, resume: true } : { engine_id: e.id, pause: true });
        toast(`${e.id} ${cur ? 'resumed' : 'paused'}.`, 'ok', null, { key: `v1-pause-${e.id}` });
        refresh();
      } catch (ex) { showError(ex, `${cur ? 'resume' : 'pause'} ${e.id}`); }
    });
    if (e.dynamic) {
      actions.append(h('button', { class: 'sm danger', title: `Stop and remove ${e.id}`, 'aria-label': `Remove ${e.id}`, 'data-testid': `v1-remove-${e.id}`, onclick: async () => {
        try {
          await api.del(`/api/v1/clients?id=${encodeURIComponent(e.id)}`);
          toast(`${e.id} stopped and removed (its calls in flight end normally).`, 'ok');
          refresh();
        } catch (ex) { showError(ex, `remove ${e.id}`); }
      } }, icon('trash')));
    }
    const row = {
      tr, paused: false,
      update(x, dt) {
        const s = x.stats || {};
        const total = s.total_calls ?? null;
        const before = prev.get(x.id);
        const cps = before !== undefined && total !== null && dt > 0 ? Math.max(0, total - before) / dt : null;
        live.total.textContent = fmtNum(total);
        live.cps.textContent = cps === null ? '–' : fmtNum(cps, 1);
        live.active.textContent = fmtNum(s.active_calls);
        live.ok.textContent = fmtNum(s.success_calls);
        live.failed.textContent = fmtNum(s.failed_calls);
        const answering = x.id === 'primary' && answers;
        what.textContent = x.client ? `${x.client.scenario || '?'} → ${x.client.remote || '?'}${x.client.running === false ? ' · finished' : ''}` : answering ? 'answers calls (UAS)' : 'places calls';
        if (answering) {
          clear(controls, h('span', { class: 'small muted' }, 'none: a UAS answers calls'));
          clear(state, h('span', { class: 'badge running' }, 'answering'));
        } else {
          if (!controls.contains(rate.el)) clear(controls, rate.el);
          rate.set(x.rate);
          row.paused = !!x.paused;
          clear(state, h('span', { class: ['badge', x.paused ? 'stopped' : 'running'] }, x.paused ? 'paused' : 'running'));
          clear(pauseBtn, icon(x.paused ? 'play' : 'pause'), x.paused ? 'Resume' : 'Pause');
          if (!actions.contains(pauseBtn)) actions.prepend(pauseBtn);
        }
      },
    };
    return row;
  }

  let lastT = 0;
  async function refresh() {
    try {
      const [stats, control, clients, transports] = await Promise.all([
        api.get('/api/v1/stats'), api.get('/api/v1/control'), api.get('/api/v1/clients'), api.get('/api/v1/transports').catch(() => null)]);
      if (!ctx.alive()) return;
      err.replaceChildren();
      answers = (transports?.listeners || []).length > 0;
      const engines = v1Engines(stats, control, clients);
      const now = Date.now();
      const dt = lastT ? (now - lastT) / 1000 : 0;
      lastT = now;
      const ids = engines.map((e) => e.id).join(' ');
      if (ids !== [...rows.keys()].join(' ')) {
        for (const id of [...rows.keys()]) if (!engines.some((e) => e.id === id)) rows.delete(id);
        for (const e of engines) if (!rows.has(e.id)) rows.set(e.id, makeRow(e));
        clear(body, engines.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table v1' },
          h('thead', {}, h('tr', {}, ['Engine', 'Calls', 'Calls/s now', 'Active', 'OK / failed', 'Rate (calls/s)', 'State', ''].map((c, i) => h('th', { class: i >= 1 && i <= 4 ? 'num' : null }, c)))),
          h('tbody', {}, engines.map((e) => rows.get(e.id).tr)))) : emptyState('No engine', 'The server reports no engine.'));
      }
      for (const e of engines) rows.get(e.id).update(e, dt);
      prev = new Map(engines.map((e) => [e.id, e.stats?.total_calls]));
    } catch (e) {
      if (!ctx.alive()) return;
      clear(err, h('div', { class: 'card-body' }, errorBox(e)));
    }
  }

  function addForm() {
    if (formBox) { formBox.remove(); formBox = null; return; }
    const remote = h('input', { name: 'remote_addr', placeholder: '127.0.0.1:5060', required: true, 'data-testid': 'v1-client-remote' });
    const scenario = h('input', { name: 'scenario_name', value: 'uac', 'data-testid': 'v1-client-scenario' });
    const rate = h('input', { name: 'rate', type: 'number', min: 0, step: 'any', value: '1', 'data-testid': 'v1-client-rate' });
    const total = h('input', { name: 'total_calls', type: 'number', min: 0, step: 1, placeholder: 'no limit', 'data-testid': 'v1-client-total' });
    const ferr = h('div');
    const form = h('form', { class: 'card-body', 'data-testid': 'v1-client-form', onsubmit: async (ev) => {
      ev.preventDefault();
      ferr.replaceChildren();
      const snippet = { remote_addr: remote.value.trim(), scenario_name: scenario.value.trim() || 'uac' };
      if (rate.value !== '') snippet.rate = Number(rate.value);
      if (total.value !== '') snippet.total_calls = Number(total.value);
      try {
        const r = await api.post('/api/v1/clients', snippet);
        toast(`Dynamic client ${r?.id || ''} started.`, 'ok');
        formBox?.remove();
        formBox = null;
        refresh();
      } catch (ex) { ferr.append(errorBox(ex)); }
    } },
    h('div', { class: 'form-grid' },
      field('Remote address', remote, 'host:port the client calls', 'span2'),
      field('Built-in scenario', scenario, 'a UAC scenario (uac, uac_pcap…)'),
      field('Rate (calls/s)', rate),
      field('Calls', total, 'empty: until removed')),
    ferr,
    h('div', { class: 'row mt' }, h('span', { class: 'grow' }),
      h('button', { type: 'button', onclick: () => { formBox?.remove(); formBox = null; } }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'v1-client-start' }, icon('play'), 'Start client')));
    formBox = form;
    el.insertBefore(form, err);
    setTimeout(() => remote.focus(), 0);
  }

  return {
    el,
    async start() {
      await refresh();
      ctx.every(POLL_MS, refresh);
    },
  };
}
