// #/gateway: REGISTER gateway profiles (/api/v2/gateways, spec §5.14) — the table of
// accounts with their newest job, the profile dialog (the password is shown as the API
// answers it, `***`, and sent back unchanged to keep the stored one), Delete, Arm (a UAS
// scenario answers what the registrar routes to the account) and Originate (a UAC
// scenario calls through the registrar). Errors are the API's own words.

import * as api from '../api.js';
import { h, clear, icon, modal, toast, showError, errorBox, confirmDialog, badge, table, emptyState, field, fmtAgo } from '../ui.js';
import { shortJobId } from '../jobs-common.js';

const MASK = '***';

async function scenarioChoices() {
  const [mine, builtin] = await Promise.all([api.get('/scenarios').catch(() => ({ scenarios: [] })), api.get('/builtin-scenarios').catch(() => ({ scenarios: [] }))]);
  return { mine: mine.scenarios || [], builtin: builtin.scenarios || [] };
}

/** A scenario picker of one role: `uas` (yours: uas, built-in: server) or `uac`. */
function scenarioSelect(choices, role, selected, testid) {
  const builtinRole = role === 'uas' ? 'server' : 'client';
  const mine = choices.mine.filter((s) => s.role === role);
  const bi = choices.builtin.filter((s) => s.role === builtinRole && !/^3pcc/.test(s.id));
  const fallback = role === 'uas' ? 'uas' : 'uac';
  const pick = selected || fallback;
  return h('select', { 'data-testid': testid, required: true },
    mine.length ? h('optgroup', { label: `Your ${role.toUpperCase()} scenarios` }, mine.map((s) => h('option', { value: s.id, selected: s.id === pick }, s.name && s.name !== s.id ? `${s.id} — ${s.name}` : s.id))) : null,
    h('optgroup', { label: `Built-in ${role.toUpperCase()} scenarios` }, bi.map((s) => h('option', { value: s.id, selected: s.id === pick }, `${s.id} — ${s.name}`))));
}

function jobAnchor(id) {
  return h('a', { href: `#/jobs/${encodeURIComponent(id)}`, class: 'mono', title: id, 'data-testid': 'gateway-job-link' }, shortJobId(id));
}

export async function render(ctx) {
  const box = h('div', { class: 'card' });
  const notice = h('div', { 'data-testid': 'gateway-notice' });
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Gateway'), h('div', { class: 'sub' }, 'Accounts at a registrar: Arm answers the calls it routes to the account, Originate calls through it.')),
      h('div', { class: 'actions' },
        h('button', { class: 'ghost', title: 'Refresh', onclick: () => refresh() }, icon('refresh')),
        h('button', { class: 'primary', 'data-testid': 'new-gateway', onclick: () => edit(null) }, icon('plus'), 'New gateway'))),
    notice, box);

  let all = [];
  async function refresh() {
    try {
      all = (await api.get('/gateways')).gateways || [];
      if (ctx.alive()) draw();
    } catch (e) { if (ctx.alive()) showError(e, 'load the gateways'); }
  }

  /** Says which job an action started, with its link, above the table. */
  function started(what, p, r) {
    clear(notice, h('div', { class: 'alert ok', role: 'status', style: { marginBottom: '16px' } }, icon('check'),
      h('div', {}, `${what} “${p.name || p.id}”: job `, jobAnchor(r.job_id), ` (${r.job?.status || 'pending'}).`)));
  }

  function draw() {
    const cols = [
      { label: 'Gateway', render: (p) => h('div', {}, h('div', { style: { fontWeight: 600 } }, p.name || p.id), h('div', { class: 'small faint mono' }, p.id)) },
      { label: 'Registrar', render: (p) => h('div', {}, h('div', { class: 'mono' }, p.domain || '–'), p.addr && p.addr !== p.domain ? h('div', { class: 'small faint mono' }, p.addr) : null) },
      { label: 'User', render: (p) => h('div', {}, h('span', { class: 'mono' }, p.username || '–'), p.register_user && p.register_user !== p.username ? h('div', { class: 'small faint mono' }, `AOR ${p.register_user}`) : null) },
      { label: 'Enabled', render: (p) => h('div', {}, badge(p.enabled ? 'ok' : 'plain', p.enabled ? 'enabled' : 'disabled'), p.register ? null : h('div', { class: 'small faint' }, 'no REGISTER')) },
      { label: 'Armed', render: (p) => (p.armed_scenario_id ? h('span', { class: 'mono' }, p.armed_scenario_id) : h('span', { class: 'faint' }, '–')) },
      { label: 'Newest job', render: (p) => {
        const r = p.runtime || {};
        return h('div', { 'data-testid': 'gateway-status' }, badge(r.status || 'idle'),
          r.job_id ? h('div', { class: 'small' }, 'job ', jobAnchor(r.job_id)) : null,
          r.finished_at ? h('div', { class: 'small faint' }, fmtAgo(r.finished_at)) : null);
      } },
      { label: '', cls: 'actions', render: (p) => actions(p) },
    ];
    clear(box, table(cols, all, {
      rowAttrs: (p) => ({ 'data-gateway': p.id }),
      empty: emptyState('No gateway profiles yet', 'A gateway profile is an account at a registrar (PBX or SBC) that gossipper registers and answers for.',
        h('button', { class: 'primary', onclick: () => edit(null) }, icon('plus'), 'New gateway')),
    }));
  }

  function actions(p) {
    const r = p.runtime || {};
    const running = r.status === 'running' || r.status === 'pending';
    return [
      running ? h('button', { class: 'sm danger', 'data-testid': 'gateway-stop', onclick: () => stop(p) }, icon('stop'), 'Stop') : null,
      h('button', { class: 'sm', 'data-testid': 'gateway-arm', title: 'Register and answer incoming calls with a UAS scenario', onclick: () => arm(p) }, icon('play'), 'Arm'),
      h('button', { class: 'sm', 'data-testid': 'gateway-originate', title: 'Place calls through the registrar with a UAC scenario', onclick: () => originate(p) }, icon('clients'), 'Originate'),
      h('button', { class: 'sm ghost', title: 'Edit', 'aria-label': `Edit ${p.id}`, 'data-testid': 'gateway-edit', onclick: () => edit(p) }, icon('edit')),
      h('button', { class: 'sm ghost danger', title: 'Delete', 'aria-label': `Delete ${p.id}`, 'data-testid': 'gateway-delete', onclick: () => remove(p) }, icon('trash')),
    ];
  }

  async function stop(p) {
    try {
      await api.post(`/jobs/${encodeURIComponent(p.runtime.job_id)}/stop`, {});
      toast(`Stopping “${p.name || p.id}”.`, 'ok');
      refresh();
    } catch (e) { showError(e, `stop ${p.id}`); }
  }

  async function remove(p) {
    if (!(await confirmDialog('Delete gateway', `Delete the gateway profile “${p.name || p.id}”? Jobs already run keep their results.`, { okText: 'Delete', danger: true }))) return;
    try {
      await api.del(`/gateways/${encodeURIComponent(p.id)}`);
      toast(`Deleted “${p.name || p.id}”.`, 'ok');
      clear(notice);
      refresh();
    } catch (e) { showError(e, `delete ${p.id}`); }
  }

  /** A small dialog that sends `body()` to `path` and reports the job it started. */
  function actionDialog({ title, p, fields, okText, testid, send }) {
    const err = h('div', { 'data-testid': 'gateway-action-error' });
    const ok = h('button', { class: 'primary', 'data-testid': testid, onclick: async () => {
      err.replaceChildren();
      ok.disabled = true;
      try {
        const r = await send();
        m.close();
        started(okText === 'Arm' ? 'Armed' : 'Originating from', p, r);
        refresh();
      } catch (e) {
        err.append(errorBox(e));
      } finally { ok.disabled = false; }
    } }, okText);
    const m = modal({ title, size: 'narrow', body: h('form', { class: 'stack', onsubmit: (e) => { e.preventDefault(); ok.click(); } }, fields, err),
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), ok] });
  }

  async function arm(p) {
    const choices = await scenarioChoices();
    const scen = scenarioSelect(choices, 'uas', p.armed_scenario_id, 'arm-scenario');
    actionDialog({ title: `Arm ${p.name || p.id}`, p, okText: 'Arm', testid: 'arm-submit',
      fields: [field('UAS scenario', scen, 'Answers the INVITEs the registrar routes to this account.')],
      send: () => api.put(`/gateways/${encodeURIComponent(p.id)}/arm`, { scenario_id: scen.value }) });
  }

  async function originate(p) {
    const choices = await scenarioChoices();
    const scen = scenarioSelect(choices, 'uac', p.originate_scenario_id, 'originate-scenario');
    const to = h('input', { value: p.originate_to || '', placeholder: 'bob', 'data-testid': 'originate-to' });
    const calls = h('input', { type: 'number', min: 1, value: p.originate_calls || '', placeholder: '1', 'data-testid': 'originate-calls' });
    actionDialog({ title: `Originate from ${p.name || p.id}`, p, okText: 'Originate', testid: 'originate-submit',
      fields: [field('UAC scenario', scen), field('To', to, 'The user called at the registrar’s domain.'), field('Calls', calls)],
      send: () => {
        const body = { scenario_id: scen.value, to: to.value.trim() };
        if (calls.value !== '') body.total_calls = Number(calls.value);
        return api.post(`/gateways/${encodeURIComponent(p.id)}/originate`, body);
      } });
  }

  function edit(p) {
    const creating = !p;
    const f = gatewayForm(p, creating);
    const err = h('div');
    const save = h('button', { class: 'primary', 'data-testid': 'gateway-save', onclick: async () => {
      err.replaceChildren();
      const body = creating ? f.value() : { ...p, ...f.value() };
      delete body.runtime;
      save.disabled = true;
      try {
        if (creating) await api.post('/gateways', body);
        else await api.put(`/gateways/${encodeURIComponent(p.id)}`, body);
        m.close();
        toast(`Saved gateway “${body.name || body.id}”.`, 'ok');
        refresh();
      } catch (e) {
        err.append(errorBox(e));
      } finally { save.disabled = false; }
    } }, creating ? 'Create gateway' : 'Save changes');
    const m = modal({ title: creating ? 'New gateway profile' : `Edit ${p.name || p.id}`, size: 'wide', body: [f.el, err],
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), save] });
  }

  await refresh();
  ctx.every(3000, refresh);
}

function gatewayForm(p, creating) {
  p = p || { id: '', name: '', enabled: true, domain: '', addr: '', username: '', password: '', register_user: '', register: true,
    advertised_ip: '', local_ip: '', register_expires: 300, keepalive_seconds: 20, contact_port: 0, notes: '' };
  const inp = (name, attrs = {}) => h('input', { name, value: p[name] ?? '', 'data-testid': `gw-${name}`, ...attrs });
  const id = inp('id', { readOnly: !creating, required: true, pattern: '[A-Za-z0-9._-]+', placeholder: 'pbx' });
  const name = inp('name', { placeholder: 'Friendly name' });
  const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: p.enabled !== false, 'data-testid': 'gw-enabled' });
  const register = h('input', { type: 'checkbox', name: 'register', checked: p.register !== false, 'data-testid': 'gw-register' });
  const domain = inp('domain', { placeholder: 'pbx.example' });
  const addr = inp('addr', { placeholder: 'host[:port]; empty: the domain, port 5060' });
  const username = inp('username', { autocomplete: 'off' });
  // The API answers a stored password as `***`; sending `***` (or nothing) keeps it.
  const password = inp('password', { type: 'password', autocomplete: 'new-password', placeholder: creating ? '' : 'unchanged' });
  const registerUser = inp('register_user', { placeholder: 'empty: the user name' });
  const advertised = inp('advertised_ip', { placeholder: 'empty: the route’s source address', list: 'gw-ips' });
  // Autodiscover: the host's addresses (GET /gateway/ips) offered as the field's choices,
  // the suggested one (the first non-loopback IPv4) filled in.
  const ips = h('datalist', { id: 'gw-ips' });
  const found = h('span', { class: 'help', 'data-testid': 'gw-autodiscover-result' });
  const discover = h('button', { type: 'button', 'data-testid': 'gw-autodiscover', onclick: async () => {
    discover.disabled = true;
    found.replaceChildren();
    try {
      const r = await api.get('/gateway/ips');
      const list = r.ips || [];
      ips.replaceChildren(...list.map((a) => h('option', { value: a.ip }, `${a.interface}${a.loopback ? ' (loopback)' : ''}`)));
      if (r.suggested) {
        advertised.value = r.suggested;
        const a = list.find((x) => x.ip === r.suggested);
        found.textContent = `Filled ${r.suggested}${a ? ` (${a.interface})` : ''}; ${list.length} address${list.length === 1 ? '' : 'es'} in the list.`;
      } else {
        found.textContent = 'This host has no address to suggest.';
      }
    } catch (e) {
      found.replaceChildren(errorBox(e));
    } finally { discover.disabled = false; }
  } }, 'Autodiscover');
  const advertisedRow = h('div', { class: 'stack' }, h('div', { class: 'row' }, advertised, discover, ips), found);
  const localIp = inp('local_ip', { placeholder: 'empty: every address' });
  const expires = inp('register_expires', { type: 'number', min: 1 });
  const keepalive = inp('keepalive_seconds', { type: 'number', min: -1 });
  const port = inp('contact_port', { type: 'number', min: 0, max: 65535 });
  const notes = h('textarea', { name: 'notes', rows: 2, placeholder: 'Notes' }, p.notes || '');
  const num = (el, dflt) => (el.value === '' ? dflt : Number(el.value));
  function value() {
    return {
      id: id.value.trim(), name: name.value.trim(), enabled: enabled.checked, domain: domain.value.trim(), addr: addr.value.trim(),
      transport: 'udp', username: username.value.trim(), password: password.value, register_user: registerUser.value.trim(),
      register: register.checked, advertised_ip: advertised.value.trim(), local_ip: localIp.value.trim(),
      register_expires: num(expires, 300), keepalive_seconds: num(keepalive, 20), contact_port: num(port, 0), notes: notes.value,
    };
  }
  const el = h('form', { class: 'stack', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'form-grid' },
      field('ID', id, creating ? 'Letters, digits, . _ -; cannot change later.' : 'Fixed after creation.'),
      field('Name', name, null, 'span2'),
      field('Domain', domain, 'The registrar’s domain: REGISTER sip:domain.'),
      field('Registrar address', addr, null, 'span2'),
      field('User name', username, 'The Digest user.'),
      field('Password', password, creating ? null : '*** keeps the stored password.'),
      field('AOR user', registerUser),
      field('Advertised IP', advertisedRow, 'The Contact’s address; Autodiscover lists this host’s addresses.'),
      field('Local IP', localIp, 'The socket’s bind address.'),
      field('Contact port', port, '0: any free port.'),
      field('Expires (s)', expires),
      field('Keep-alive (s)', keepalive, 'OPTIONS period; -1: none.'),
      field('Transport', h('input', { value: 'udp', readOnly: true, 'aria-label': 'Transport' }), 'UDP only in this build.')),
    h('div', { class: 'row' }, h('label', { class: 'check' }, enabled, 'enabled'), h('label', { class: 'check' }, register, 'register (keep the account registered while armed)')),
    field('Notes', notes));
  return { el, value };
}
