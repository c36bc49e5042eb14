// The rest of the "legacy engine" view (dashboard, `gossipper server` with /api/v1 on),
// beside the engines panel (`v1panel.js`): the transports (GET/POST /api/v1/transports:
// the UAS listener and the dynamic clients, each switched on and off) and the running
// scenario (GET /api/v1/scenario), which can be replaced live (POST
// /api/v1/scenario/apply with the XML: calls in flight finish on the old one).

import * as api from './api.js';
import { h, clear, icon, toast, showError, errorBox, emptyState } from './ui.js';

/** Listeners and clients, each with an on/off switch; re-read every 2 s. */
export function v1Transports(ctx) {
  const body = h('div');
  const el = h('div', { class: 'card mt', 'data-testid': 'v1-transports' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Transports')), body);

  async function change(patch, what) {
    try {
      await api.post('/api/v1/transports', patch);
      toast(what, 'ok');
      refresh();
    } catch (e) { showError(e, 'change the transports'); }
  }

  const sw = (on, testid, onchange) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', checked: on, 'data-testid': testid, onchange: (e) => onchange(e.target.checked) }), on ? 'on' : 'off');

  async function refresh() {
    try {
      const t = await api.get('/api/v1/transports');
      if (!ctx.alive()) return;
      const rows = [
        ...(t.listeners || []).map((l) => h('tr', {},
          h('td', {}, `Listener ${l.index}`), h('td', { class: 'mono' }, `${String(l.transport || '?').toUpperCase()} port ${l.port ?? l.local_port ?? '?'}`),
          h('td', { class: 'small muted' }, l.enabled ? 'takes new calls' : 'off: new calls are not answered'),
          h('td', { class: 'actions' }, sw(l.enabled, `v1-listener-${l.index}`, (on) => change({ listeners: [{ index: l.index, enabled: on }] }, `Listener ${l.index} ${on ? 'on' : 'off'}.`))))),
        ...(t.clients || []).map((c) => h('tr', {},
          h('td', {}, 'Dynamic client'), h('td', { class: 'mono' }, c.id),
          h('td', { class: 'small muted' }, c.accepting ? 'places calls' : 'off: places no new call'),
          h('td', { class: 'actions' }, sw(c.accepting, `v1-accepting-${c.id}`, (on) => change({ clients: [{ id: c.id, accepting: on }] }, `${c.id} ${on ? 'on' : 'off'}.`))))),
      ];
      clear(body, rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, h('tbody', {}, rows)))
        : emptyState('No transport', 'This server has no SIP listener and no dynamic client.'));
    } catch (e) { if (ctx.alive()) clear(body, h('div', { class: 'card-body' }, errorBox(e))); }
  }
  return { el, async start() { await refresh(); ctx.every(2000, refresh); } };
}

/** The running scenario, and a form that replaces it live. */
export function v1Scenario(ctx) {
  const body = h('div', { class: 'card-body stack' });
  const el = h('div', { class: 'card mt', 'data-testid': 'v1-scenario' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Scenario')), body);

  async function load() {
    const s = await api.get('/api/v1/scenario');
    const xml = h('textarea', { class: 'mono', rows: 14, spellcheck: 'false', 'data-testid': 'v1-scenario-xml', value: s.xml || '' });
    const err = h('div');
    const apply = h('button', { class: 'primary', 'data-testid': 'v1-scenario-apply', onclick: async () => {
      err.replaceChildren();
      try {
        await api.api('POST', '/api/v1/scenario/apply', new Blob([xml.value], { type: 'application/xml' }));
        toast('The new scenario takes the next calls; calls in flight finish on the old one.', 'ok', 'Scenario applied');
        load();
      } catch (e) { err.append(errorBox(e)); }
    } }, icon('play'), 'Apply live');
    clear(body,
      h('div', { class: 'row' }, h('span', { class: 'grow' }, 'Running ', h('b', { 'data-testid': 'v1-scenario-name' }, s.scenario_name || '?'),
        s.builtin ? h('span', { class: 'muted' }, ' (built-in)') : s.scenario_file ? h('span', { class: 'muted mono small' }, ` ${s.scenario_file}`) : null)),
      xml, err,
      h('div', { class: 'row' }, h('span', { class: 'grow small muted' }, 'Edit the XML and apply it: it must keep the role (a UAS stays a UAS), and brings no media actions.'), apply));
  }
  return { el, async start() { try { await load(); } catch (e) { clear(body, errorBox(e)); } } };
}
