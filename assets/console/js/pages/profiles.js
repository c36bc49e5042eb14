// #/servers and #/clients: UAS and UAC profiles — list with runtime status, start/stop,
// the profile form with its transport rows, and port-conflict warnings across profiles
// (Start is refused while a conflicting profile is running).

import * as api from '../api.js';
import { h, clear, icon, modal, toast, showError, errorBox, confirmDialog, badge, table, emptyState, field, fmtAgo } from '../ui.js';
import { navigate } from '../app.js';
import { shortJobId } from '../jobs-common.js';

const TRANSPORTS = [
  ['u1', 'UDP, one socket'], ['un', 'UDP, socket per call'], ['t1', 'TCP, one connection'], ['tn', 'TCP, per call'],
  ['l1', 'TLS, one connection'], ['ln', 'TLS, per call'], ['w1', 'WS, one connection'], ['wn', 'WS, per call'],
  ['ws1', 'WSS, one connection'], ['wsn', 'WSS, per call'], ['webrtc', 'WebRTC (beta)'],
];
const KIND = {
  servers: { one: 'server', title: 'Servers', what: 'UAS profiles: listeners that answer calls.', defaultScenario: 'uas', defaultPort: 5060 },
  clients: { one: 'client', title: 'Clients', what: 'UAC profiles: callers that place calls at a target.', defaultScenario: 'uac', defaultPort: 0 },
};

const protoOf = (t) => (t.startsWith('u') ? 'udp' : t === 'webrtc' ? null : 'tcp');
const anyIp = (ip) => !ip || ip === '0.0.0.0' || ip === '::';

/**
 * Port conflicts: two enabled rows (in different profiles, or twice in one) binding the
 * same protocol and port on overlapping addresses. Port 0 (ephemeral) never conflicts.
 * → Map(profileKey → [{row, other, otherKey, port, proto}])
 */
export function portConflicts(profiles) {
  const binds = [];
  for (const p of profiles) {
    (p.transports || []).forEach((t, i) => {
      const proto = protoOf(t.transport || '');
      if (!t.enabled || !proto || !t.local_port) return;
      binds.push({ key: p.key, name: p.name || p.id, i, proto, port: t.local_port, ip: t.local_ip || '' });
    });
  }
  const out = new Map();
  for (let a = 0; a < binds.length; a++) {
    for (let b = a + 1; b < binds.length; b++) {
      const x = binds[a], y = binds[b];
      if (x.proto !== y.proto || x.port !== y.port) continue;
      if (!(anyIp(x.ip) || anyIp(y.ip) || x.ip === y.ip)) continue;
      for (const [m, o] of [[x, y], [y, x]]) {
        if (!out.has(m.key)) out.set(m.key, []);
        out.get(m.key).push({ row: m.i, otherKey: o.key, other: o.name, port: m.port, proto: m.proto });
      }
    }
  }
  return out;
}

function conflictText(list) {
  const seen = new Set();
  return list.filter((c) => { const k = `${c.otherKey}/${c.proto}/${c.port}`; if (seen.has(k)) return false; seen.add(k); return true; })
    .map((c) => `${c.proto.toUpperCase()} port ${c.port} is also used by ${c.otherKey.startsWith('server:') ? 'server' : 'client'} “${c.other}”`).join('; ');
}

async function loadAll() {
  const [s, c] = await Promise.all([api.get('/servers'), api.get('/clients')]);
  const tag = (kind) => (p) => ({ ...p, kind, key: `${kind}:${p.id}` });
  return [...(s.servers || []).map(tag('server')), ...(c.clients || []).map(tag('client'))];
}

async function scenarioChoices() {
  const [mine, builtin] = await Promise.all([api.get('/scenarios').catch(() => ({ scenarios: [] })), api.get('/builtin-scenarios').catch(() => ({ scenarios: [] }))]);
  return { mine: mine.scenarios || [], builtin: builtin.scenarios || [] };
}

export async function render(ctx) {
  const K = KIND[ctx.key];
  const box = h('div', { class: 'card' });
  const warn = h('div');
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, K.title), h('div', { class: 'sub' }, K.what)),
      h('div', { class: 'actions' },
        h('button', { class: 'ghost', title: 'Refresh', onclick: () => refresh() }, icon('refresh')),
        h('button', { class: 'primary', 'data-testid': `new-${K.one}`, onclick: () => edit(null) }, icon('plus'), `New ${K.one}`))),
    warn, box);

  let all = [];
  async function refresh() {
    try {
      all = await loadAll();
      if (ctx.alive()) draw();
    } catch (e) { if (ctx.alive()) showError(e, `load ${ctx.key}`); }
  }

  function draw() {
    const conflicts = portConflicts(all);
    const mine = all.filter((p) => p.kind === K.one);
    const busy = mine.filter((p) => conflicts.has(p.key));
    clear(warn, busy.length ? h('div', { class: 'alert warn', style: { marginBottom: '16px' }, 'data-testid': 'conflict-warning' }, icon('alert'),
      h('div', {}, h('b', {}, 'Port conflicts. '), busy.map((p) => `“${p.name || p.id}”: ${conflictText(conflicts.get(p.key))}`).join('. '), '. Only one of them can run at a time.')) : null);
    const cols = [
      { label: 'Profile', render: (p) => h('div', {}, h('div', { style: { fontWeight: 600 } }, p.name || p.id, p.source === 'built-in' ? h('span', { class: 'badge plain', style: { marginLeft: '6px' } }, 'built-in') : null),
        h('div', { class: 'small faint mono' }, p.id), p.description ? h('div', { class: 'small muted' }, p.description) : null) },
      { label: 'Scenario', render: (p) => p.scenario_ref ? h('span', { class: 'mono' }, p.scenario_ref) : h('span', { class: 'faint' }, 'default') },
      { label: 'Transports', render: (p) => h('div', { class: 'row', style: { gap: '4px' } }, (p.transports || []).length ? (p.transports || []).map((t, i) => {
        const c = (conflicts.get(p.key) || []).some((x) => x.row === i);
        return h('span', { class: ['badge', 'plain', c ? 'warn' : t.enabled ? '' : 'faint'], title: c ? conflictText(conflicts.get(p.key).filter((x) => x.row === i)) : '' },
          `${t.transport} ${t.local_ip || '0.0.0.0'}:${t.local_port || '*'}${t.enabled ? '' : ' (off)'}`);
      }) : h('span', { class: 'faint' }, 'none')) },
    ];
    if (K.one === 'client') {
      cols.push({ label: 'Target', render: (p) => h('span', { class: 'mono' }, p.remote_ip ? `${p.remote_ip}:${p.remote_port || 5060}` : '–') });
      cols.push({ label: 'Rate', cls: 'num', render: (p) => (p.rate ? `${p.rate} cps` : '–') });
    }
    cols.push({ label: 'Status', render: (p) => {
      const r = p.runtime || {};
      return h('div', { 'data-testid': 'profile-status' }, badge(r.status || 'idle'),
        r.job_id ? h('div', { class: 'small' }, 'job ', h('a', { href: `#/jobs/${encodeURIComponent(r.job_id)}`, class: 'mono', title: r.job_id }, shortJobId(r.job_id))) : null,
        r.finished_at ? h('div', { class: 'small faint' }, fmtAgo(r.finished_at)) : null);
    } });
    cols.push({ label: '', cls: 'actions', render: (p) => actions(p, conflicts) });
    clear(box, table(cols, mine, {
      rowAttrs: (p) => ({ 'data-profile': p.id }),
      empty: emptyState(`No ${K.one} profiles yet`, K.one === 'server' ? 'A server profile listens for calls with a UAS scenario.' : 'A client profile places calls at a target with a UAC scenario.',
        h('button', { class: 'primary', onclick: () => edit(null) }, icon('plus'), `New ${K.one}`)),
    }));
  }

  function actions(p, conflicts) {
    const r = p.runtime || {};
    const running = r.status === 'running' || r.status === 'pending';
    const out = [];
    if (p.source !== 'built-in') {
      if (running) {
        out.push(h('button', { class: 'sm danger', 'data-testid': 'profile-stop', onclick: () => stop(p) }, icon('stop'), 'Stop'));
      } else {
        const blockers = (conflicts.get(p.key) || []).filter((c) => {
          const o = all.find((x) => x.key === c.otherKey);
          return o && ['running', 'pending'].includes(o.runtime?.status);
        });
        out.push(h('button', { class: 'sm', 'data-testid': 'profile-start', disabled: blockers.length > 0,
          title: blockers.length ? `Blocked: ${conflictText(blockers)} (running)` : 'Start a job for this profile', onclick: () => start(p) }, icon('play'), 'Start'));
      }
      out.push(h('button', { class: 'sm ghost', title: 'Edit', 'aria-label': `Edit ${p.id}`, 'data-testid': 'profile-edit', onclick: () => edit(p) }, icon('edit')));
    }
    out.push(h('button', { class: 'sm ghost', title: 'Duplicate', 'aria-label': `Duplicate ${p.id}`, onclick: () => edit({ ...p, id: `${p.id}-copy`, name: `${p.name || p.id} (copy)`, source: 'user' }, true) }, icon('copy')));
    if (p.source !== 'built-in') out.push(h('button', { class: 'sm ghost danger', title: 'Delete', 'aria-label': `Delete ${p.id}`, onclick: () => remove(p) }, icon('trash')));
    return out;
  }

  async function start(p) {
    try {
      const job = await api.post(`/${ctx.key}/${encodeURIComponent(p.id)}/start`, {});
      const j = job.job || job;
      toast(h('span', {}, `Started ${K.one} “${p.name || p.id}” as job `, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id), '.'), 'ok');
      refresh();
    } catch (e) { showError(e, `start ${p.id}`); }
  }
  async function stop(p) {
    try {
      await api.post(`/${ctx.key}/${encodeURIComponent(p.id)}/stop`, {});
      toast(`Stopping “${p.name || p.id}”.`, 'ok');
      refresh();
    } catch (e) { showError(e, `stop ${p.id}`); }
  }
  async function remove(p) {
    if (!(await confirmDialog(`Delete ${K.one}`, `Delete the ${K.one} profile “${p.name || p.id}”? Jobs already run keep their results.`, { okText: 'Delete', danger: true }))) return;
    try {
      await api.del(`/${ctx.key}/${encodeURIComponent(p.id)}`);
      toast(`Deleted “${p.name || p.id}”.`, 'ok');
      refresh();
    } catch (e) { showError(e, `delete ${p.id}`); }
  }

  async function edit(p, duplicate = false) {
    const creating = !p || duplicate;
    let choices;
    try { choices = await scenarioChoices(); } catch { choices = { mine: [], builtin: [] }; }
    const f = profileForm(K, p, creating, choices, all);
    const err = h('div');
    const save = h('button', { class: 'primary', 'data-testid': 'profile-save', onclick: async () => {
      err.replaceChildren();
      const body = f.value();
      save.disabled = true;
      try {
        if (creating) await api.post(`/${ctx.key}`, body);
        else await api.put(`/${ctx.key}/${encodeURIComponent(p.id)}`, body);
        m.close();
        toast(`Saved ${K.one} “${body.name || body.id}”.`, 'ok');
        refresh();
      } catch (e) {
        err.append(errorBox(e));
        showError(e, `save the ${K.one}`);
      } finally { save.disabled = false; }
    } }, creating ? `Create ${K.one}` : 'Save changes');
    const m = modal({ title: creating ? `New ${K.one} profile` : `Edit ${p.name || p.id}`, size: 'wide', body: [f.el, err],
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), save] });
  }

  await refresh();
  ctx.every(3000, refresh);
  if (ctx.parts[1] === 'new') edit(null);
  else if (ctx.parts[1]) {
    const p = all.find((x) => x.kind === K.one && x.id === ctx.parts[1]);
    if (p) edit(p); else navigate(`#/${ctx.key}`);
  }
}

function transportRow(t, onChange, onRemove) {
  const sel = h('select', { 'aria-label': 'Transport', 'data-f': 'transport' }, TRANSPORTS.map(([v, l]) => h('option', { value: v, selected: v === t.transport }, `${v} — ${l}`)));
  const ip = h('input', { placeholder: '0.0.0.0', value: t.local_ip || '', 'aria-label': 'Local IP', 'data-f': 'local_ip' });
  const port = h('input', { type: 'number', min: 0, max: 65535, placeholder: '0 = any', value: t.local_port ?? '', 'aria-label': 'Local port', 'data-f': 'local_port' });
  const en = h('input', { type: 'checkbox', checked: t.enabled !== false, 'data-f': 'enabled' });
  const wsPath = h('input', { placeholder: '/ (WebSocket path)', value: t.ws_path || '', 'data-f': 'ws_path' });
  const cert = h('input', { placeholder: 'TLS certificate file', value: t.tls_cert_file || '', 'data-f': 'tls_cert_file' });
  const key = h('input', { placeholder: 'TLS key file', value: t.tls_key_file || '', 'data-f': 'tls_key_file' });
  const ice = h('input', { placeholder: 'stun:stun.l.google.com:19302', value: (t.ice_servers || []).join(' '), 'data-f': 'ice_servers' });
  const iceUser = h('input', { placeholder: 'ICE username', value: t.ice_username || '', 'data-f': 'ice_username' });
  const iceCred = h('input', { placeholder: 'ICE credential', type: 'password', value: t.ice_credential || '', 'data-f': 'ice_credential' });
  const stun = h('button', { type: 'button', class: 'sm', onclick: () => { ice.value = 'stun:stun.l.google.com:19302'; onChange(); } }, 'Google STUN');
  const extra = h('div', { class: 'transport-row extra' });
  const main = h('div', { class: 'transport-row' }, sel, ip, port, h('label', { class: 'check' }, en, 'enabled'),
    h('button', { type: 'button', class: 'sm ghost danger', 'aria-label': 'Remove transport', onclick: onRemove }, icon('trash')));
  function extras() {
    const v = sel.value;
    const ws = ['w1', 'wn', 'ws1', 'wsn'].includes(v);
    const tls = ['l1', 'ln', 'ws1', 'wsn'].includes(v);
    clear(extra, ws ? wsPath : null, tls ? [cert, key] : null, v === 'webrtc' ? [h('div', { class: 'row' }, ice, stun), iceUser, iceCred] : null);
    extra.hidden = !extra.childNodes.length;
  }
  sel.addEventListener('change', () => { extras(); onChange(); });
  for (const i of [ip, port, en]) i.addEventListener('input', onChange);
  extras();
  const el = h('div', { 'data-testid': 'transport-row' }, main, extra);
  el.value = () => ({
    transport: sel.value,
    local_ip: ip.value.trim(),
    local_port: Number(port.value) || 0,
    enabled: en.checked,
    ws_path: extra.contains(wsPath) ? wsPath.value.trim() : '',
    tls_cert_file: extra.contains(cert) ? cert.value.trim() : '',
    tls_key_file: extra.contains(key) ? key.value.trim() : '',
    ice_servers: sel.value === 'webrtc' ? ice.value.split(/[\s,]+/).filter(Boolean) : [],
    ice_username: sel.value === 'webrtc' ? iceUser.value : '',
    ice_credential: sel.value === 'webrtc' ? iceCred.value : '',
    ice_auth_secret: t.ice_auth_secret || '',
    ice_auth_ttl_sec: t.ice_auth_ttl_sec || 0,
    prefers_pcma: !!t.prefers_pcma,
  });
  return el;
}

function profileForm(K, p, creating, choices, all) {
  p = p || { id: '', name: '', description: '', scenario_ref: K.defaultScenario, max_concurrent: 0, notes: '',
    transports: [{ transport: 'u1', local_ip: '', local_port: K.defaultPort, enabled: true }],
    remote_ip: '127.0.0.1', remote_port: 5060, rate: 10, duration_ms: 0 };
  const inp = (name, attrs = {}) => h('input', { name, value: p[name] ?? '', ...attrs });
  const id = inp('id', { readOnly: !creating, required: true, pattern: '[A-Za-z0-9._-]+', placeholder: 'my-uas', 'data-testid': 'profile-id' });
  const name = inp('name', { placeholder: 'Friendly name', 'data-testid': 'profile-name' });
  const desc = inp('description', { placeholder: 'What this profile is for' });
  const scen = h('select', { name: 'scenario_ref', 'data-testid': 'profile-scenario' },
    h('option', { value: '' }, '(engine default)'),
    h('optgroup', { label: 'Your scenarios' }, choices.mine.map((s) => h('option', { value: s.id, selected: s.id === p.scenario_ref }, `${s.name || s.id}${s.role ? ` (${s.role})` : ''}`))),
    h('optgroup', { label: 'Built-in' }, choices.builtin.map((s) => h('option', { value: s.id, selected: s.id === p.scenario_ref }, `${s.id} — ${s.name}`))));
  if (p.scenario_ref && ![...scen.options].some((o) => o.value === p.scenario_ref)) scen.append(h('option', { value: p.scenario_ref, selected: true }, `${p.scenario_ref} (missing)`));
  const maxc = inp('max_concurrent', { type: 'number', min: 0, placeholder: '0 = unlimited' });
  const notes = h('textarea', { name: 'notes', rows: 2, placeholder: 'Notes' }, p.notes || '');
  const rowsBox = h('div');
  const conflictBox = h('div');
  const rows = [];
  function addRow(t) {
    const r = transportRow(t, check, () => { rows.splice(rows.indexOf(r), 1); r.remove(); check(); });
    rows.push(r);
    rowsBox.append(r);
  }
  (p.transports || []).forEach(addRow);
  const client = K.one === 'client';
  const remoteIp = client ? inp('remote_ip', { placeholder: '127.0.0.1 or sbc.example.net', 'data-testid': 'profile-remote-ip' }) : null;
  const remotePort = client ? inp('remote_port', { type: 'number', min: 1, max: 65535, 'data-testid': 'profile-remote-port' }) : null;
  const rate = client ? inp('rate', { type: 'number', min: 0, step: 'any', 'data-testid': 'profile-rate' }) : null;
  const dur = client ? inp('duration_ms', { type: 'number', min: 0, placeholder: '0 = no limit' }) : null;

  function value() {
    const out = {
      id: id.value.trim(), name: name.value.trim(), description: desc.value.trim(), scenario_ref: scen.value,
      max_concurrent: Number(maxc.value) || 0, notes: notes.value, transports: rows.map((r) => r.value()),
    };
    if (client) Object.assign(out, { remote_ip: remoteIp.value.trim(), remote_port: Number(remotePort.value) || 0, rate: Number(rate.value) || 0, duration_ms: Number(dur.value) || 0 });
    return out;
  }
  function check() {
    const me = { ...value(), kind: K.one, key: `${K.one}:${id.value.trim() || '(new)'}` };
    const others = all.filter((x) => x.key !== `${K.one}:${p.id}` || creating);
    const c = portConflicts([me, ...others.filter((x) => x.key !== me.key)]).get(me.key);
    clear(conflictBox, c ? h('div', { class: 'alert warn', 'data-testid': 'form-conflict' }, icon('alert'), h('div', {}, conflictText(c), '. Both profiles cannot run at once.')) : null);
  }
  id.addEventListener('input', check);
  check();
  const el = h('form', { class: 'stack', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'form-grid' },
      field('ID', id, creating ? 'Letters, digits, . _ -; cannot change later.' : 'Fixed after creation.'),
      field('Name', name, null, 'span2'),
      field('Max concurrent calls', maxc, '0 = no limit'),
      field('Description', desc, null, 'span2'),
      field('Scenario', scen, K.one === 'server' ? 'A UAS scenario answers calls.' : 'A UAC scenario places calls.', 'span2'),
      client ? [field('Target host', remoteIp, null, 'span2'), field('Target port', remotePort), field('Rate (calls/s)', rate),
        field('Duration (ms)', dur, 'Global timeout; 0 = run until stopped.')] : null),
    h('fieldset', {}, h('legend', {}, 'Transports'),
      h('div', { class: 'transport-row small muted', style: { marginBottom: '4px' } }, h('span', {}, 'Transport'), h('span', {}, 'Local IP'), h('span', {}, 'Port'), h('span', {}), h('span', {})),
      rowsBox,
      h('button', { type: 'button', class: 'sm', 'data-testid': 'add-transport', onclick: () => { addRow({ transport: 'u1', local_ip: '', local_port: 0, enabled: true }); check(); } }, icon('plus'), 'Add transport'),
      h('div', { style: { marginTop: '10px' } }, conflictBox)),
    field('Notes', notes));
  return { el, value };
}
