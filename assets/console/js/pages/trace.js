// #/sip: the Live Trace of `gossipper server` (GET /api/v2/sip/trace). The newest SIP
// messages the server's engine sent and received, appended as they come, with the SIP
// and debug capture switches (PUT /sip/trace/capture), filters by scenario and by Call-ID
// (part of it is enough), pause (no more polling until resumed), clear (POST
// /sip/trace/clear) and the text, pcap and ZIP exports (GET /sip/trace/export, downloaded
// with the session's token, never a token in a URL). A row opens the whole message.
//
// New messages come over the trace WebSocket (/sip/trace/ws?since=&ticket=, a single-use
// ticket: never the token in a URL), reopened from the last `next` when it drops; if it
// cannot be opened at all, by polling `since=` once a second. The page keeps at most the
// ring's 1024 messages. In `gossipper ui` there is no trace: the page says so.

import * as api from '../api.js';
import { h, clear, icon, showError, toast, emptyState } from '../ui.js';
import { runtime } from '../runtime.js';
import { messageLabel, clockMs, dirArrow, dirWord, messageDialog } from '../sip-messages.js';

const POLL_MS = 1000;
const KEEP = 1024;

export function serverOnly(el, what) {
  el.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, what))),
    h('div', { class: 'card pad', 'data-testid': 'needs-server' },
      h('div', { class: 'alert info' }, icon('about'), h('div', {},
        h('b', {}, `${what} needs gossipper server. `),
        'This console runs inside ', h('code', {}, 'gossipper ui'), ', which runs no SIP itself (each job is a worker process; its messages are on its job page). ',
        'Start ', h('code', {}, 'gossipper server -ui_data_dir DIR'), ' and open its API address to see the live SIP messages and the calls of its engine.'))));
}

export async function render(ctx) {
  const rt = await runtime();
  if (!rt.server) { serverOnly(ctx.el, 'Live trace'); return; }

  let rows = [];
  let next = 0;
  let paused = false;
  let busy = false;
  let capture = { sip: true, app: false };
  let dropped = 0;
  let ws = null;
  let wsFailed = false;
  ctx.onCleanup(() => closeWs());

  const sipBox = h('input', { type: 'checkbox', 'data-testid': 'capture-sip', onchange: () => setCapture({ sip: sipBox.checked }) });
  const dbgBox = h('input', { type: 'checkbox', 'data-testid': 'capture-debug', onchange: () => setCapture({ app: dbgBox.checked, level: dbgBox.checked ? 'debug' : 'info' }) });
  const scenarioSel = h('select', { 'data-testid': 'trace-scenario', 'aria-label': 'Scenario', onchange: draw }, h('option', { value: '' }, 'All scenarios'));
  const callIdInput = h('input', { type: 'search', placeholder: 'Call-ID contains…', 'data-testid': 'trace-callid', 'aria-label': 'Call-ID', oninput: draw });
  const pauseBtn = h('button', { 'data-testid': 'trace-pause', onclick: () => setPaused(!paused) });
  const status = h('span', { class: 'small muted', 'data-testid': 'trace-status' });
  const body = h('div');

  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Live trace'), h('div', { class: 'sub' }, 'The SIP messages this server’s engine sent and received, newest last (the server keeps the last 1024).')),
      h('div', { class: 'actions' },
        pauseBtn,
        h('button', { 'data-testid': 'trace-clear', onclick: clearRing }, icon('trash'), 'Clear'),
        h('button', { 'data-testid': 'export-text', onclick: () => exportAs('text') }, icon('download'), 'Export text'),
        h('button', { 'data-testid': 'export-pcap', onclick: () => exportAs('pcap') }, icon('download'), 'Export pcap'),
        h('button', { 'data-testid': 'export-zip', onclick: () => exportAs('zip') }, icon('download'), 'Export ZIP'))),
    h('div', { class: 'card' },
      h('div', { class: 'filters' },
        h('label', { class: 'check', title: 'Record the SIP messages' }, sipBox, 'SIP'),
        h('label', { class: 'check', title: 'Record the engine’s debug records too (why a call failed, where, on what)' }, dbgBox, 'Debug'),
        h('span', { class: 'sep-v' }),
        scenarioSel, callIdInput, h('span', { class: 'grow' }), status),
      body));

  function setPausedButton() {
    clear(pauseBtn, icon(paused ? 'play' : 'pause'), paused ? 'Resume' : 'Pause');
    pauseBtn.classList.toggle('primary', paused);
  }

  function shown() {
    const sc = scenarioSel.value;
    const cid = callIdInput.value.trim();
    return rows.filter((r) => (!sc || r.scenario === sc) && (!cid || String(r.call_id || '').includes(cid)));
  }

  // Frames can come five times a second under load: the table is redrawn at most every
  // 300 ms (the rows are taken at once).
  let drawTimer = null;
  function drawSoon() {
    if (drawTimer) return;
    drawTimer = setTimeout(() => { drawTimer = null; if (ctx.alive()) { drawScenarios(); draw(); } }, 300);
  }
  ctx.onCleanup(() => clearTimeout(drawTimer));

  function drawScenarios() {
    const have = new Set([...scenarioSel.options].map((o) => o.value));
    for (const r of rows) {
      if (r.scenario && !have.has(r.scenario)) { have.add(r.scenario); scenarioSel.append(h('option', { value: r.scenario }, r.scenario)); }
    }
  }

  function draw() {
    sipBox.checked = !!capture.sip;
    dbgBox.checked = !!capture.app;
    const list = shown();
    status.textContent = `${list.length} of ${rows.length} messages · ${paused ? 'paused' : wsFailed ? 'live (polling)' : 'live (WebSocket)'}${capture.sip ? '' : ' · SIP capture off'}${dropped ? ` · ${dropped} not kept by the server` : ''}`;
    if (!list.length) {
      clear(body, emptyState(rows.length ? 'No message matches the filters' : 'No SIP message yet',
        rows.length ? 'Change the scenario or Call-ID filter.' : capture.sip ? 'Messages appear here as the server sends and receives them.' : 'SIP capture is off: turn it on to record messages.'));
      return;
    }
    const tbody = h('tbody', {}, list.map((r) => h('tr', {
      class: ['trace-row', r.status >= 300 ? 'bad' : ''], 'data-testid': 'trace-row', 'data-seq': r.seq, tabindex: 0,
      onclick: () => messageDialog(r, { callLink: true }), onkeydown: (e) => { if (e.key === 'Enter') messageDialog(r, { callLink: true }); },
    },
    h('td', { class: 'mono nowrap' }, clockMs(r.ts)),
    h('td', { class: 'nowrap', title: dirWord(r.dir) }, h('span', { class: ['dir', r.dir] }, dirArrow(r.dir)), ' ', dirWord(r.dir)),
    h('td', { class: 'mono nowrap' }, r.peer || '–'),
    h('td', { class: 'nowrap', 'data-testid': 'trace-label' }, h('b', {}, messageLabel(r))),
    h('td', { class: 'mono small', 'data-testid': 'trace-callid-cell' }, r.call_id || '–'))));
    clear(body, h('div', { class: 'table-wrap trace-wrap' }, h('table', { class: 'table trace' },
      h('thead', {}, h('tr', {}, ['Time', 'Direction', 'Peer', 'Message', 'Call-ID'].map((c) => h('th', {}, c)))), tbody)));
  }

  /** Takes one listing or WebSocket frame {messages, next, capture, cleared?, dropped?}. */
  function take(f) {
    if (f.cleared) rows = [];
    capture = f.capture || capture;
    if (typeof f.dropped === 'number') dropped = f.dropped;
    rows.push(...(f.messages || []));
    if (rows.length > KEEP) rows = rows.slice(rows.length - KEEP);
    next = f.next ?? next;
    return (f.messages || []).length;
  }

  async function poll() {
    if (paused || busy || !ctx.alive()) return;
    busy = true;
    try {
      // A full page (500) means more are waiting: fetch on until a short one.
      for (let i = 0; i < 3; i++) {
        const r = await api.get(`/sip/trace?since=${next}&limit=500`);
        if (!ctx.alive() || paused) return;
        if (take(r) < 500) break;
      }
      drawScenarios();
      draw();
    } catch (e) {
      if (ctx.alive()) showError(e, 'read the trace');
    } finally { busy = false; }
  }

  function closeWs() {
    const s = ws;
    ws = null;
    if (s) { s.onclose = null; s.close(); }
  }

  /** Opens the WebSocket from `next`; a socket that never opens sends the page to polling. */
  async function connect() {
    if (paused || ws || busy || !ctx.alive()) return;
    busy = true;
    let t;
    try { t = await api.ticket(); } catch { wsFailed = true; busy = false; return; }
    busy = false;
    if (paused || ws || !ctx.alive()) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(`${proto}//${location.host}/api/v2/sip/trace/ws?since=${next}&ticket=${encodeURIComponent(t)}`);
    ws = sock;
    let opened = false;
    sock.onopen = () => { opened = true; };
    sock.onmessage = (ev) => {
      if (ws !== sock || paused || !ctx.alive()) return;
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      take(f);
      drawSoon();
    };
    sock.onerror = () => { /* onclose follows */ };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (!opened) { wsFailed = true; draw(); }
    };
  }

  /** Once a second: reopen a dropped WebSocket, or poll when it cannot be had. */
  function tick() {
    if (paused) return;
    if (wsFailed) poll();
    else connect();
  }

  function setPaused(p) {
    paused = p;
    if (paused) closeWs();
    setPausedButton();
    draw();
    if (!paused) tick();
  }

  async function setCapture(patch) {
    try {
      capture = await api.put('/sip/trace/capture', patch);
      toast(patch.sip === undefined ? `Debug capture ${patch.app ? 'on' : 'off'}.` : `SIP capture ${patch.sip ? 'on' : 'off'}.`, 'ok');
    } catch (e) { showError(e, 'change the capture'); }
    draw();
  }

  async function clearRing() {
    try {
      const r = await api.post('/sip/trace/clear', {});
      rows = [];
      next = r?.next ?? next;
      capture = r?.capture || capture;
      draw();
      toast('The trace was cleared.', 'ok');
    } catch (e) { showError(e, 'clear the trace'); }
  }

  async function exportAs(format) {
    const q = new URLSearchParams({ format });
    if (scenarioSel.value) q.set('scenario', scenarioSel.value);
    // The server filters by a whole Call-ID: send it when the text typed is one.
    const cid = callIdInput.value.trim();
    if (cid && rows.some((r) => r.call_id === cid)) q.set('call_id', cid);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    try {
      const ext = { pcap: 'pcap', zip: 'zip' }[format] || 'txt';
      await api.download(`/sip/trace/export?${q}`, `sip-trace-${stamp}.${ext}`);
    } catch (e) { showError(e, `export the trace as ${format}`); }
  }

  setPausedButton();
  // The backlog by one listing (the page is drawn with it), then live updates.
  await poll();
  draw();
  connect();
  ctx.every(POLL_MS, tick);
}
