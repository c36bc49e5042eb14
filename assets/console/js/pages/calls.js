// #/calls and #/calls/<call-id>: the calls catalogue of `gossipper server` (GET
// /api/v2/calls?limit=&offset=: its engine's finished calls, newest first, from
// calls.sqlite with -ui_data_dir) a page of 100 at a time, and one call's messages drawn
// as a ladder diagram (GET /api/v2/calls/{id}), the message text on click.
//
// The list refreshes every 3 s (the page shown stays). A call's messages come from the live trace ring, so an
// old call may have none left: the page says so. Download ZIP gets the call's ZIP
// (GET /api/v2/calls/{id}/dump: call.json, sip.txt, sip.pcap).

import * as api from '../api.js';
import { h, clear, icon, table, badge, showError, toast, emptyState, confirmDialog, fmtTime, fmtNum } from '../ui.js';
import { runtime } from '../runtime.js';
import { serverOnly } from './trace.js';
import { ladderModel, ladderSvg } from '../ladder.js';
import { messageDialog } from '../sip-messages.js';

export async function render(ctx) {
  const rt = await runtime();
  if (!rt.server) { serverOnly(ctx.el, 'Calls'); return; }
  if (ctx.parts[1]) return renderCall(ctx, ctx.parts.slice(1).join('/'));
  return renderList(ctx);
}

function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** The URI of a From/To header value (`name <sip:u@h>;tag=x` → `sip:u@h`). */
export function uriOf(v) {
  const s = String(v || '');
  const m = /<([^>]*)>/.exec(s);
  return (m ? m[1] : s.split(';')[0]).trim();
}

function resultBadge(c) {
  const ok = c.result === 'success';
  return badge(ok ? 'ok' : 'failed', c.result || c.state || '?');
}

const PAGE = 100;

async function renderList(ctx) {
  const box = h('div');
  const count = h('span', { class: 'small muted', 'data-testid': 'calls-count' });
  let offset = 0;
  const newer = h('button', { class: 'sm', 'data-testid': 'calls-newer', onclick: () => { offset = Math.max(0, offset - PAGE); refresh(); } }, 'Newer');
  const older = h('button', { class: 'sm', 'data-testid': 'calls-older', onclick: () => { offset += PAGE; refresh(); } }, 'Older');
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Calls'), h('div', { class: 'sub' }, 'The calls this server’s engine finished, newest first. Open one to see its messages as a ladder.')),
      h('div', { class: 'actions' },
        h('button', { onclick: () => refresh() }, icon('refresh'), 'Refresh'),
        h('button', { class: 'danger', 'data-testid': 'calls-clear', onclick: clearAll }, icon('trash'), 'Clear'))),
    h('div', { class: 'card' }, h('div', { class: 'filters' }, count, h('span', { class: 'grow' }), newer, older), box));

  async function refresh() {
    try {
      const r = await api.get(`/calls?limit=${PAGE}&offset=${offset}`);
      if (!ctx.alive()) return;
      const calls = r.calls || [];
      const total = typeof r.total === 'number' ? r.total : offset + calls.length;
      if (!calls.length && offset > 0 && total > 0) { offset = Math.max(0, Math.floor((total - 1) / PAGE) * PAGE); return refresh(); }
      count.textContent = calls.length ? `${fmtNum(offset + 1)}–${fmtNum(offset + calls.length)} of ${fmtNum(total)} call${total === 1 ? '' : 's'}${r.store ? ` (kept in ${r.store})` : ''}` : '0 calls';
      newer.disabled = offset === 0;
      older.disabled = offset + calls.length >= total;
      clear(box, table([
        { label: 'Started', render: (c) => h('span', { class: 'nowrap' }, fmtTime(c.started_at)) },
        { label: 'Call-ID', render: (c) => h('a', { href: `#/calls/${encodeURIComponent(c.call_id)}`, class: 'mono small call-id', 'data-testid': 'call-link' }, c.call_id) },
        { label: 'From', render: (c) => h('span', { class: 'mono small', title: c.from || '' }, uriOf(c.from) || '–') },
        { label: 'To', render: (c) => h('span', { class: 'mono small', title: c.to || '' }, uriOf(c.to) || '–') },
        { label: 'Result', render: (c) => [resultBadge(c), c.error ? h('div', { class: 'small bad-text' }, c.error) : null] },
        { label: 'Duration', cls: 'num', render: (c) => duration(c.duration_ms) },
        { label: 'SIP', cls: 'num', render: (c) => fmtNum(c.sip_count) },
      ], calls, {
        empty: emptyState('No finished call yet', 'Calls appear here when the server’s engine ends them.'),
        rowAttrs: () => ({ 'data-testid': 'call-row' }),
      }));
    } catch (e) { if (ctx.alive()) showError(e, 'load the calls'); }
  }

  async function clearAll() {
    if (!await confirmDialog('Clear the calls', 'Forget every call in the catalogue? Their messages stay in the live trace until it moves on.', { okText: 'Clear', danger: true })) return;
    try {
      await api.post('/calls/clear', {});
      offset = 0;
      toast('The calls catalogue was cleared.', 'ok');
      refresh();
    } catch (e) { showError(e, 'clear the calls'); }
  }

  await refresh();
  ctx.every(3000, refresh);
}

/** Lane names: this server is the sender of what it sent and the receiver of the rest. */
function laneNames(sip) {
  const names = {};
  for (const r of sip) {
    if (r.dir === 'send' && r.src) names[r.src] = 'this server';
    if (r.dir === 'recv' && r.dst) names[r.dst] = 'this server';
  }
  return names;
}

async function renderCall(ctx, id) {
  ctx.crumbs([['Calls', '#/calls'], [id]]);
  let c;
  try {
    c = await api.get(`/calls/${encodeURIComponent(id)}`);
  } catch (e) {
    // Not in the catalogue (still in progress, or long gone): its messages still in the
    // live trace, if any, make the ladder.
    if (e?.status !== 404) throw e;
    const t = await api.get(`/sip/trace?limit=500&call_id=${encodeURIComponent(id)}`).catch(() => null);
    const sip = (t?.messages || []).filter((r) => (r.kind || 'sip') === 'sip');
    if (!sip.length) throw e;
    return renderTraceOnly(ctx, id, sip, e);
  }
  const sip = c.sip || [];
  const names = laneNames(sip);
  const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Call'), h('div', { class: 'sub mono', 'data-testid': 'call-id' }, c.call_id)),
      h('div', { class: 'actions' },
        h('button', { 'data-testid': 'call-zip', onclick: () => downloadZip(c.call_id) }, icon('download'), 'Download ZIP'),
        h('a', { class: 'btn', href: '#/calls' }, 'All calls'))),
    h('div', { class: 'grid g2' },
      h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Summary')), h('div', { class: 'card-body' }, h('dl', { class: 'kv' },
        row('Result', [resultBadge(c), c.error ? h('span', { class: 'bad-text' }, ` ${c.error}`) : null]),
        row('Scenario', c.scenario || '–'),
        row('Direction', c.direction || '–'),
        row('From', h('span', { class: 'mono small' }, c.from || '–')),
        row('To', h('span', { class: 'mono small' }, c.to || '–')),
        row('Peer', h('span', { class: 'mono' }, c.peer || '–')),
        (c.debug || []).length ? row('Debug', h('span', { class: 'mono small', 'data-testid': 'call-debug' }, c.debug.map((d) => d.summary).join('\n'))) : null))),
      h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Timing and counts')), h('div', { class: 'card-body' }, h('dl', { class: 'kv' },
        row('Started', fmtTime(c.started_at)),
        row('Ended', fmtTime(c.ended_at)),
        row('Duration', duration(c.duration_ms)),
        row('SIP messages', `${fmtNum(c.sip_count)} (${fmtNum(c.sip_send)} sent, ${fmtNum(c.sip_recv)} received)`),
        row('RTP packets', `${fmtNum(c.rtp_send)} sent, ${fmtNum(c.rtp_recv)} received`))))),
    h('div', { class: 'card mt' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Ladder'), h('div', { class: 'actions small muted' }, sip.length ? 'Click a message to read it.' : '')),
      sip.length
        ? h('div', { class: 'ladder-wrap' }, ladderSvg(ladderModel(sip), { onPick: messageDialog, names }))
        : emptyState('No message of this call is left', 'A call’s messages are read from the live trace, which keeps the last 1024 messages of the server (and none while SIP capture is off).')));
}

/** The call's ZIP, named by the server (`call-<Call-ID>.zip`). */
async function downloadZip(id) {
  try {
    await api.download(`/calls/${encodeURIComponent(id)}/dump`);
  } catch (e) { showError(e, 'download the call\u2019s ZIP'); }
}

/** A call not in the catalogue whose messages are in the live trace: the ladder alone. */
function renderTraceOnly(ctx, id, sip, why) {
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Call'), h('div', { class: 'sub mono', 'data-testid': 'call-id' }, id)),
      h('div', { class: 'actions' }, h('a', { class: 'btn', href: '#/calls' }, 'All calls'))),
    h('div', { class: 'alert info', 'data-testid': 'call-not-finished' }, icon('about'),
      h('div', {}, h('b', {}, 'Not in the calls catalogue. '), `The server says: ${why.message} `,
        'It may still be in progress. Below are its messages in the live trace so far.')),
    h('div', { class: 'card mt' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Ladder'), h('div', { class: 'actions small muted' }, 'Click a message to read it.')),
      h('div', { class: 'ladder-wrap' }, ladderSvg(ladderModel(sip), { onPick: messageDialog, names: laneNames(sip) }))));
}
