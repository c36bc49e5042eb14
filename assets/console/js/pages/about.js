// #/about: what gossipper is, the version, and where things are.

import * as api from '../api.js';
import { h } from '../ui.js';
import { logo } from '../app.js';

export async function render(ctx) {
  const health = await api.get('/health').catch(() => ({}));
  ctx.el.append(h('div', { class: 'card pad', style: { maxWidth: '760px' } },
    h('div', { class: 'row', style: { gap: '14px' } }, logo(44), h('div', {}, h('h1', {}, 'gossipper'), h('div', { class: 'muted' }, `version ${health.version || '?'} · auth ${health.auth || '?'}`))),
    h('p', {}, 'gossipper is a SIP traffic generator compatible with SIPp (scenario XML, flags, statistics, exit codes), built for very high call rates, with this master: a console and the REST API ', h('code', {}, '/api/v2'), '.'),
    h('p', {}, 'The master never runs SIP itself: each job is a ', h('code', {}, 'gossipper worker'), ' process it starts, watches and stops. Live numbers come from the worker’s JSON-lines stream; every job leaves ', h('code', {}, 'summary.json'), ', a report and its logs.'),
    h('dl', { class: 'kv' },
      h('dt', {}, 'REST API'), h('dd', {}, h('code', {}, `${location.origin}/api/v2`)),
      h('dt', {}, 'Health'), h('dd', {}, h('a', { href: '/api/v2/health', target: '_blank' }, '/api/v2/health')),
      h('dt', {}, 'Legacy command line'), h('dd', {}, h('code', {}, 'gossipper -sn uac 127.0.0.1:5060 -r 10 -m 100')),
      h('dt', {}, 'Keyboard'), h('dd', {}, h('code', {}, 'Ctrl+S'), ' saves the scenario being edited.'))));
}
