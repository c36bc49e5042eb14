// #/settings: runtime info, theme, change own password, and (admin) JWT secret rotation.

import * as api from '../api.js';
import { h, clear, icon, toast, showError, confirmDialog, fmtBytes, fmtDuration, fmtTime } from '../ui.js';
import { theme, setTheme, changePasswordDialog } from '../app.js';

export async function render(ctx) {
  const s = await api.get('/settings');
  const admin = api.isAdmin();
  const themeGroup = h('div', { class: 'btn-group' });
  function drawTheme() {
    clear(themeGroup, ['light', 'dark'].map((t) => h('button', { class: theme() === t ? 'on' : '', 'data-testid': `theme-${t}`, onclick: () => { setTheme(t); drawTheme(); } }, icon(t === 'light' ? 'sun' : 'moon'), t === 'light' ? 'Light' : 'Dark')));
  }
  drawTheme();
  const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
  ctx.el.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Settings'), h('div', { class: 'sub' }, 'This master, your account, and security.'))),
    h('div', { class: 'grid g2' },
      h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Runtime')), h('div', { class: 'card-body' }, h('dl', { class: 'kv', 'data-testid': 'runtime-info' },
        row('Version', s.version || '–'), row('Authentication', s.auth || '–'), row('Data directory', h('code', {}, s.ui_data_dir)),
        row('Disk used', fmtBytes(s.disk_usage_bytes)), row('Started', fmtTime(s.started_at)), row('Uptime', fmtDuration((s.uptime_s || 0) * 1000)),
        row('Scenario versions kept', s.scenario_history_keep === 0 ? 'unlimited' : String(s.scenario_history_keep)),
        row('Database schema', String(s.schema_version ?? '–')),
        s.counts ? row('Stored', `${s.counts.scenarios} scenarios · ${s.counts.servers} servers · ${s.counts.clients} clients · ${s.counts.users} users`) : null))),
      h('div', { class: 'stack' },
        h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Appearance')), h('div', { class: 'card-body row' }, h('span', { class: 'grow muted' }, 'Theme for this browser'), themeGroup)),
        h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Your account')), h('div', { class: 'card-body row' },
          h('span', { class: 'grow' }, 'Signed in as ', h('b', {}, api.currentSession().username), ' (', api.currentSession().role, ')'),
          h('button', { 'data-testid': 'change-password', onclick: changePasswordDialog }, icon('key'), 'Change password'))),
        admin ? h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'JWT secret')), h('div', { class: 'card-body' },
          h('p', { class: 'muted', style: { marginTop: 0 } }, 'Rotating the secret signs everyone out at once, you included. It is the way to revoke every issued token.'),
          h('button', { class: 'danger', 'data-testid': 'rotate-jwt', onclick: rotate }, icon('refresh'), 'Rotate JWT secret'))) : null)));

  async function rotate() {
    if (!(await confirmDialog('Rotate the JWT secret', 'Every signed-in user, you included, must sign in again. Continue?', { okText: 'Rotate and sign out', danger: true }))) return;
    try {
      const r = await api.post('/settings/rotate-jwt-secret', {});
      toast(r.warning || 'The secret was rotated.', 'ok', 'JWT secret rotated');
      // Our own token is now invalid: the next call returns 401 and the shell signs out.
      await api.get('/me').catch(() => {});
    } catch (e) { showError(e, 'rotate the secret'); }
  }
}
