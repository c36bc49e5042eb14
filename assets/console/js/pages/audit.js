// #/audit (admin): the audit log, newest first, with a text filter.

import * as api from '../api.js';
import { h, clear, table, fmtTime, emptyState, icon } from '../ui.js';

export async function render(ctx) {
  const q = h('input', { type: 'search', placeholder: 'Filter by user, action or target…', 'data-testid': 'audit-filter' });
  const limit = h('select', {}, [100, 500, 1000].map((n) => h('option', { value: n }, `last ${n}`)));
  const box = h('div');
  ctx.el.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Audit log'), h('div', { class: 'sub' }, 'Every change made through the API, by whom and when.')),
    h('div', { class: 'actions' }, h('button', { class: 'ghost', title: 'Refresh', onclick: () => load() }, icon('refresh')))),
  h('div', { class: 'card' }, h('div', { class: 'filters' }, q, limit), box));
  let rows = [];
  function draw() {
    const f = q.value.trim().toLowerCase();
    const shown = f ? rows.filter((r) => `${r.username} ${r.action} ${r.target} ${r.payload_json}`.toLowerCase().includes(f)) : rows;
    clear(box, table([
      { label: 'When', render: (r) => h('span', { class: 'nowrap' }, fmtTime(r.ts)) },
      { label: 'User', render: (r) => r.username || h('span', { class: 'faint' }, 'system') },
      { label: 'Action', render: (r) => h('span', { class: 'badge plain' }, r.action) },
      { label: 'Target', render: (r) => h('span', { class: 'mono' }, r.target) },
      { label: 'Details', render: (r) => h('span', { class: 'mono small muted' }, r.payload_json && r.payload_json !== '{}' ? r.payload_json : '') },
    ], shown, { empty: emptyState(f ? 'No entry matches' : 'The audit log is empty') }));
  }
  async function load() {
    rows = (await api.get(`/audit?limit=${limit.value}`)).audit || [];
    draw();
  }
  q.addEventListener('input', draw);
  limit.addEventListener('change', load);
  await load();
}
