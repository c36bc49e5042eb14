// #/scenarios (list + built-in catalogue), #/scenarios/new, #/scenarios/<id> (XML editor
// with the server's validation errors at their line, history with a side-by-side diff,
// fork, media picker for [[media:…]]), #/scenarios/builtin/<id> (read-only, clone).

import * as api from '../api.js';
import { h, clear, icon, modal, toast, showError, errorBox, confirmDialog, table, emptyState, field, fmtAgo, fmtBytes, fmtTime, badge } from '../ui.js';
import { navigate } from '../app.js';
import { createEditor, parseServerErrors, diffView } from '../editor.js';

const ROLES = ['uac', 'uas', 'other'];
const MEDIA_RE = /\[\[media:(wav|pcap)\/([A-Za-z0-9._-]+)\]\]/g;

export async function render(ctx) {
  const [, a, b] = ctx.parts;
  if (a === 'builtin' && b) return builtinView(ctx, b);
  if (a) return editorView(ctx, a === 'new' ? null : a);
  return listView(ctx);
}

async function listView(ctx) {
  const tab = ctx.query.get('tab') === 'builtin' ? 'builtin' : 'mine';
  const body = h('div', { class: 'card' });
  const tabs = h('div', { class: 'tabs' },
    h('button', { class: tab === 'mine' ? 'on' : '', onclick: () => navigate('#/scenarios') }, 'Your scenarios'),
    h('button', { class: tab === 'builtin' ? 'on' : '', 'data-testid': 'tab-builtin', onclick: () => navigate('#/scenarios?tab=builtin') }, 'Built-in catalogue'));
  ctx.el.append(h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, 'Scenarios'), h('div', { class: 'sub' }, 'SIPp-compatible scenario XML. Built-ins are read-only: clone one to edit it.')),
    h('div', { class: 'actions' }, h('a', { class: 'btn primary', href: '#/scenarios/new', 'data-testid': 'new-scenario' }, icon('plus'), 'New scenario'))), tabs, body);
  if (tab === 'builtin') {
    const list = (await api.get('/builtin-scenarios')).scenarios || [];
    clear(body, table([
      { label: 'ID', render: (s) => h('a', { href: `#/scenarios/builtin/${encodeURIComponent(s.id)}`, class: 'mono' }, s.id) },
      { label: 'Name', render: (s) => s.name },
      { label: 'Role', render: (s) => badge('plain', s.role) },
      { label: 'Description', render: (s) => h('span', { class: 'muted' }, s.description) },
      { label: '', cls: 'actions', render: (s) => [
        h('a', { class: 'btn sm', href: `#/scenarios/builtin/${encodeURIComponent(s.id)}` }, icon('eye'), 'View'),
        h('a', { class: 'btn sm', href: `#/scenarios/new?from=${encodeURIComponent(s.id)}` }, icon('copy'), 'Clone')] },
    ], list));
    return;
  }
  async function refresh() {
    const list = (await api.get('/scenarios')).scenarios || [];
    clear(body, table([
      { label: 'Scenario', render: (s) => h('div', {}, h('a', { href: `#/scenarios/${encodeURIComponent(s.id)}`, style: { fontWeight: 600 } }, s.name || s.id), h('div', { class: 'small faint mono' }, s.id)) },
      { label: 'Role', render: (s) => (s.role ? badge('plain', s.role) : '') },
      { label: 'Tags', render: (s) => h('div', { class: 'row', style: { gap: '4px' } }, (s.tags || []).map((t) => h('span', { class: 'badge plain' }, t))) },
      { label: 'Size', cls: 'num', render: (s) => fmtBytes(s.size_bytes) },
      { label: 'Updated', render: (s) => fmtAgo(s.updated_at) },
      { label: '', cls: 'actions', render: (s) => [
        h('a', { class: 'btn sm', href: `#/scenarios/${encodeURIComponent(s.id)}` }, icon('edit'), 'Edit'),
        h('button', { class: 'sm ghost danger', 'aria-label': `Delete ${s.id}`, onclick: async () => {
          if (!(await confirmDialog('Delete scenario', `Delete “${s.name || s.id}” and its history?`, { okText: 'Delete', danger: true }))) return;
          try { await api.del(`/scenarios/${encodeURIComponent(s.id)}`); toast(`Deleted ${s.id}.`, 'ok'); refresh(); } catch (e) { showError(e, 'delete the scenario'); }
        } }, icon('trash'))] },
    ], list, { empty: emptyState('No scenarios yet', 'Write one, or clone a built-in from the catalogue.', h('a', { class: 'btn', href: '#/scenarios?tab=builtin' }, 'Open the catalogue')) }));
  }
  await refresh();
}

async function builtinView(ctx, id) {
  ctx.crumbs([['Scenarios', '#/scenarios?tab=builtin'], ['Built-in'], [id]]);
  const r = await api.get(`/builtin-scenarios/${encodeURIComponent(id)}`);
  const ed = createEditor({ value: r.xml, readOnly: true });
  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, r.meta.name || id, ' ', h('span', { class: 'badge plain' }, 'built-in')), h('div', { class: 'sub' }, r.meta.description)),
      h('div', { class: 'actions' }, h('a', { class: 'btn primary', 'data-testid': 'clone-builtin', href: `#/scenarios/new?from=${encodeURIComponent(id)}` }, icon('copy'), 'Clone to edit'))),
    h('div', { class: 'alert info', style: { marginBottom: '14px' } }, icon('lock'), h('div', {}, 'Built-in scenarios are read-only. Clone this one to change it; jobs can use it as it is by its id ', h('code', {}, id), '.')),
    ed.el);
}

async function editorView(ctx, id) {
  const creating = !id;
  let meta = { id: '', name: '', description: '', role: 'uac', tags: [] };
  let xml = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="my scenario">\n  <send retrans="500">\n    <![CDATA[\n\n      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]\n      To: sut <sip:[service]@[remote_ip]:[remote_port]>\n      Call-ID: [call_id]\n      CSeq: 1 OPTIONS\n      Max-Forwards: 70\n      Content-Length: 0\n\n    ]]>\n  </send>\n  <recv response="200"/>\n</scenario>\n';
  const from = ctx.query.get('from');
  if (creating && from) {
    const r = await api.get(`/builtin-scenarios/${encodeURIComponent(from)}`);
    meta = { id: `${from}-copy`.replace(/[^A-Za-z0-9._-]/g, '_'), name: `${r.meta.name} (copy)`, description: r.meta.description, role: r.meta.role, tags: ['from-builtin'] };
    xml = r.xml;
  } else if (!creating) {
    const r = await api.get(`/scenarios/${encodeURIComponent(id)}`);
    meta = r.meta;
    xml = r.xml;
  }
  ctx.crumbs([['Scenarios', '#/scenarios'], [creating ? 'New' : meta.name || id]]);

  const ed = createEditor({ value: xml });
  const idIn = h('input', { value: meta.id, readOnly: !creating, pattern: '[A-Za-z0-9._-]+', placeholder: 'my-uac', 'data-testid': 'scenario-id' });
  const nameIn = h('input', { value: meta.name, placeholder: 'Friendly name', 'data-testid': 'scenario-name' });
  const roleIn = h('select', {}, ROLES.map((r) => h('option', { value: r, selected: r === meta.role }, r)));
  const tagsIn = h('input', { value: (meta.tags || []).join(', '), placeholder: 'smoke, invite' });
  const descIn = h('input', { value: meta.description, placeholder: 'What this scenario does' });
  const errBox = h('div', { 'data-testid': 'scenario-errors' });
  const mediaWarn = h('div');
  const status = h('span', { class: 'small muted' });
  let library = null;

  function showErrors(list, title) {
    ed.setErrors(list);
    clear(errBox, list.length ? h('div', { class: 'alert error', style: { marginTop: '12px' } }, icon('alert'), h('div', { class: 'grow' },
      h('b', {}, title), h('ul', { class: 'errors-list' }, list.map((e) => h('li', { onclick: () => ed.goto(e.line, e.col), title: 'Go to line' }, e.text))))) : null);
  }
  let t = 0;
  let checking = 0;
  /** The server's check of the editor's text (what a save would answer), newest wins. */
  async function check() {
    const seq = ++checking;
    const xml = ed.value();
    if (!xml.trim()) { showErrors([], ''); return; }
    try {
      await api.post('/scenarios/check', { xml });
      if (seq === checking && ctx.alive()) { showErrors([], ''); status.textContent = 'Unsaved changes · the engine accepts it'; }
    } catch (e) {
      if (seq !== checking || !ctx.alive() || e.status === 401) return;
      const errs = parseServerErrors(e.message);
      if (errs.length) showErrors(errs, 'The engine would refuse this scenario:');
      else clear(errBox, h('div', { style: { marginTop: '12px' } }, errorBox(e)));
      status.textContent = 'Unsaved changes';
    }
  }
  ed.onInput(() => {
    clearTimeout(t);
    status.textContent = 'Unsaved changes';
    t = setTimeout(() => { check(); checkMedia(); }, 400);
  });

  async function checkMedia() {
    const refs = [...ed.value().matchAll(MEDIA_RE)].map((m) => `${m[1]}/${m[2]}`);
    if (!refs.length) { mediaWarn.replaceChildren(); return; }
    if (!library) {
      try {
        const [w, p] = await Promise.all([api.get('/media/wav'), api.get('/media/pcap')]);
        library = new Set([...(w.media || []).map((m) => `wav/${m.name}`), ...(p.media || []).map((m) => `pcap/${m.name}`)]);
      } catch { return; }
    }
    const missing = [...new Set(refs)].filter((r) => !library.has(r) && !library.has(r.replace(/\.(wav|pcap)$/, '')));
    clear(mediaWarn, missing.length ? h('div', { class: 'alert warn', style: { marginTop: '12px' } }, icon('alert'),
      h('div', {}, h('b', {}, 'Missing media: '), missing.map((m) => `[[media:${m}]]`).join(', '), ' — upload them on the ', h('a', { href: '#/media' }, 'Media'), ' page.')) : null);
  }

  async function save() {
    const body = { id: idIn.value.trim(), name: nameIn.value.trim(), description: descIn.value.trim(), role: roleIn.value,
      tags: tagsIn.value.split(',').map((s) => s.trim()).filter(Boolean), xml: ed.value() };
    try {
      const r = creating ? await api.post('/scenarios', body) : await api.put(`/scenarios/${encodeURIComponent(id)}`, body);
      showErrors([], '');
      toast(`Saved scenario “${r.meta.name || r.meta.id}”.`, 'ok');
      status.textContent = `Saved ${fmtTime(new Date())}`;
      if (creating) navigate(`#/scenarios/${encodeURIComponent(r.meta.id)}`);
      else if (historyLoaded) loadHistory();
    } catch (e) {
      const errs = parseServerErrors(e.message);
      if (errs.length) {
        showErrors(errs, 'The engine refused this scenario:');
        ed.goto(errs[0].line, errs[0].col);
      } else {
        clear(errBox, h('div', { style: { marginTop: '12px' } }, errorBox(e)));
      }
      showError(e, 'save the scenario');
    }
  }

  function pickMedia() {
    const list = h('div', {}, h('span', { class: 'spin' }));
    const m = modal({ title: 'Insert media', body: [h('p', { class: 'muted', style: { marginTop: 0 } }, 'Inserts a [[media:kind/name]] placeholder at the cursor. The worker replaces it with the file’s path.'), list],
      foot: [h('a', { class: 'btn', href: '#/media', onclick: () => m.close() }, icon('upload'), 'Upload media…'), h('button', { onclick: () => m.close() }, 'Close')] });
    Promise.all([api.get('/media/wav'), api.get('/media/pcap')]).then(([w, p]) => {
      const all = [...(w.media || []), ...(p.media || [])];
      clear(list, table([
        { label: 'Kind', render: (x) => badge('plain', x.kind) },
        { label: 'Name', render: (x) => h('span', { class: 'mono' }, x.name) },
        { label: 'Size', cls: 'num', render: (x) => fmtBytes(x.size_bytes) },
        { label: '', cls: 'actions', render: (x) => h('button', { class: 'sm primary', onclick: () => { ed.insert(`[[media:${x.kind}/${x.name}]]`); m.close(); checkMedia(); } }, 'Insert') },
      ], all, { empty: emptyState('The media library is empty', 'Upload WAV or PCAP files on the Media page.') }));
    }).catch((e) => clear(list, errorBox(e)));
  }

  // History
  let historyLoaded = false;
  const histBox = h('div');
  async function loadHistory() {
    historyLoaded = true;
    clear(histBox, h('span', { class: 'spin' }));
    try {
      const hist = (await api.get(`/scenarios/${encodeURIComponent(id)}/history`)).history || [];
      const diffBox = h('div', { class: 'mt' });
      clear(histBox, h('div', { class: 'card' }, table([
        { label: 'Version', render: (v) => h('div', {}, h('div', { style: { fontWeight: 600 } }, fmtTime(v.timestamp || v.ts)), h('div', { class: 'small faint mono' }, v.ts)) },
        { label: 'Name', render: (v) => v.meta?.name || '' },
        { label: 'Size', cls: 'num', render: (v) => fmtBytes(v.size_bytes) },
        { label: '', cls: 'actions', render: (v) => [
          h('button', { class: 'sm', 'data-testid': 'history-compare', onclick: () => compare(v, diffBox) }, 'Compare with current'),
          h('button', { class: 'sm', onclick: () => fork(v) }, icon('fork'), 'Fork'),
          h('button', { class: 'sm ghost danger', 'aria-label': 'Delete version', onclick: async () => {
            if (!(await confirmDialog('Delete version', `Delete the version of ${fmtTime(v.timestamp || v.ts)}?`, { okText: 'Delete', danger: true }))) return;
            try { await api.del(`/scenarios/${encodeURIComponent(id)}/history/${encodeURIComponent(v.ts)}`); loadHistory(); } catch (e) { showError(e, 'delete the version'); }
          } }, icon('trash'))] },
      ], hist, { empty: emptyState('No earlier versions', 'Every save keeps the previous version here.') })), diffBox);
    } catch (e) { clear(histBox, errorBox(e)); }
  }
  async function compare(v, box) {
    try {
      const old = await api.get(`/scenarios/${encodeURIComponent(id)}/history/${encodeURIComponent(v.ts)}`);
      const d = diffView(old.xml, ed.value(), `Version ${fmtTime(v.timestamp || v.ts)}`, 'Current (editor)');
      clear(box, h('div', { class: 'row', style: { marginBottom: '8px' } }, h('h3', {}, 'Changes'),
        h('span', { class: 'badge ok plain' }, `+${d.adds}`), h('span', { class: 'badge bad plain' }, `−${d.dels}`),
        h('span', { class: 'grow' }),
        h('button', { class: 'sm', onclick: () => { ed.set(old.xml); setTab('edit'); status.textContent = 'Restored an old version: save to keep it'; } }, icon('history'), 'Restore into editor')), d.el);
    } catch (e) { showError(e, 'load the version'); }
  }
  function fork(v) {
    const nid = h('input', { value: `${id}-fork`, pattern: '[A-Za-z0-9._-]+', 'data-testid': 'fork-id' });
    const nname = h('input', { value: `${meta.name || id} (fork)` });
    const err = h('div');
    const m = modal({ title: 'Fork this version', size: 'narrow', body: h('div', { class: 'stack' }, field('New scenario ID', nid), field('Name', nname), err),
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), h('button', { class: 'primary', onclick: async () => {
        try {
          const r = await api.post(`/scenarios/${encodeURIComponent(id)}/history/${encodeURIComponent(v.ts)}/fork`, { id: nid.value.trim(), name: nname.value.trim() });
          m.close();
          toast(`Forked into ${r.meta.id}.`, 'ok');
          navigate(`#/scenarios/${encodeURIComponent(r.meta.id)}`);
        } catch (e) { clear(err, errorBox(e)); }
      } }, 'Fork')] });
  }

  const editPane = h('div', {},
    h('div', { class: 'card pad' }, h('div', { class: 'form-grid' },
      field('ID', idIn, creating ? 'Letters, digits, . _ -' : null), field('Name', nameIn), field('Role', roleIn), field('Tags', tagsIn, 'Comma-separated'),
      field('Description', descIn, null, 'span4'))),
    h('div', { class: 'row mt', style: { marginBottom: '8px' } }, h('h3', {}, 'Scenario XML'), status, h('span', { class: 'grow' }),
      h('button', { class: 'sm', 'data-testid': 'insert-media', onclick: pickMedia }, icon('media'), 'Insert media…')),
    ed.el, errBox, mediaWarn);
  const histPane = h('div', { hidden: true }, histBox);
  const tabEdit = h('button', { class: 'on', onclick: () => setTab('edit') }, 'Editor');
  const tabHist = h('button', { 'data-testid': 'tab-history', onclick: () => setTab('hist') }, 'History');
  function setTab(which) {
    tabEdit.classList.toggle('on', which === 'edit');
    tabHist.classList.toggle('on', which === 'hist');
    editPane.hidden = which !== 'edit';
    histPane.hidden = which !== 'hist';
    if (which === 'hist') loadHistory();
  }
  const onKey = (e) => { if ((e.ctrlKey || e.metaKey) && e.key === 's') { e.preventDefault(); save(); } };
  document.addEventListener('keydown', onKey);
  ctx.onCleanup(() => document.removeEventListener('keydown', onKey));

  ctx.el.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, creating ? 'New scenario' : meta.name || id), h('div', { class: 'sub' }, creating ? (from ? `Cloned from the built-in ${from}.` : 'Write SIPp scenario XML; the engine checks it as you type, with the same words a save gets.') : h('span', { class: 'mono' }, id))),
      h('div', { class: 'actions' },
        !creating ? h('button', { class: 'danger', onclick: async () => {
          if (!(await confirmDialog('Delete scenario', `Delete “${meta.name || id}” and its history?`, { okText: 'Delete', danger: true }))) return;
          try { await api.del(`/scenarios/${encodeURIComponent(id)}`); toast(`Deleted ${id}.`, 'ok'); navigate('#/scenarios'); } catch (e) { showError(e, 'delete the scenario'); }
        } }, icon('trash'), 'Delete') : null,
        h('button', { class: 'primary', 'data-testid': 'scenario-save', title: 'Ctrl+S', onclick: save }, icon('check'), creating ? 'Create scenario' : 'Save'))),
    creating ? null : h('div', { class: 'tabs' }, tabEdit, tabHist),
    editPane, histPane);
  checkMedia();
}
