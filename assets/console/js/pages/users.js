// #/users (admin): list, create (operator by default), change role, reset password, delete.

import * as api from '../api.js';
import { h, clear, icon, modal, toast, showError, errorBox, confirmDialog, table, field, fmtTime, badge } from '../ui.js';

export async function render(ctx) {
  const box = h('div', { class: 'card' });
  ctx.el.append(h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, 'Users'), h('div', { class: 'sub' }, 'Admins manage users, the audit log and the JWT secret; operators run everything else.')),
    h('div', { class: 'actions' }, h('button', { class: 'primary', 'data-testid': 'new-user', onclick: () => create() }, icon('plus'), 'New user'))), box);

  const me = api.currentSession();
  async function refresh() {
    const users = (await api.get('/users')).users || [];
    clear(box, table([
      { label: 'User', render: (u) => h('div', { class: 'row', style: { gap: '8px' } }, h('span', { class: 'avatar' }, u.username.slice(0, 1)), h('b', {}, u.username), u.username === me.username ? h('span', { class: 'faint small' }, '(you)') : null) },
      { label: 'Role', render: (u) => h('span', { class: ['badge', 'plain', u.role === 'admin' ? 'admin' : ''] }, u.role) },
      { label: 'Created', render: (u) => fmtTime(u.created_at) },
      { label: '', cls: 'actions', render: (u) => [
        h('button', { class: 'sm', onclick: () => setRole(u, u.role === 'admin' ? 'operator' : 'admin') }, u.role === 'admin' ? 'Make operator' : 'Make admin'),
        h('button', { class: 'sm', onclick: () => resetPassword(u) }, icon('key'), 'Reset password'),
        h('button', { class: 'sm ghost danger', 'aria-label': `Delete ${u.username}`, onclick: () => remove(u) }, icon('trash'))] },
    ], users, { rowAttrs: (u) => ({ 'data-user': u.username }) }));
  }
  async function setRole(u, role) {
    try { await api.put(`/users/${u.id}`, { role }); toast(`${u.username} is now ${role === 'admin' ? 'an admin' : 'an operator'}.`, 'ok'); refresh(); } catch (e) { showError(e, 'change the role'); }
  }
  async function remove(u) {
    if (!(await confirmDialog('Delete user', `Delete ${u.username}? Their audit entries stay.`, { okText: 'Delete', danger: true }))) return;
    try { await api.del(`/users/${u.id}`); toast(`Deleted ${u.username}.`, 'ok'); refresh(); } catch (e) { showError(e, 'delete the user'); }
  }
  function resetPassword(u) {
    const pw = h('input', { type: 'password', autocomplete: 'new-password' });
    const err = h('div');
    const m = modal({ title: `New password for ${u.username}`, size: 'narrow', body: h('div', { class: 'stack' }, field('Password', pw, 'At least 8 characters.'), err),
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), h('button', { class: 'primary', onclick: async () => {
        try { await api.put(`/users/${u.id}`, { password: pw.value }); m.close(); toast(`Password of ${u.username} changed.`, 'ok'); } catch (e) { clear(err, errorBox(e)); }
      } }, 'Set password')] });
  }
  function create() {
    const name = h('input', { autocomplete: 'off', 'data-testid': 'user-name' });
    const pw = h('input', { type: 'password', autocomplete: 'new-password', 'data-testid': 'user-password' });
    const role = h('select', { 'data-testid': 'user-role' }, h('option', { value: 'operator' }, 'operator'), h('option', { value: 'admin' }, 'admin'));
    const err = h('div');
    const m = modal({ title: 'New user', size: 'narrow', body: h('div', { class: 'stack' }, field('Username', name, 'A-Z a-z 0-9 . _ - @'), field('Password', pw, 'At least 8 characters.'), field('Role', role), err),
      foot: [h('button', { onclick: () => m.close() }, 'Cancel'), h('button', { class: 'primary', 'data-testid': 'user-create', onclick: async () => {
        try {
          await api.post('/users', { username: name.value.trim(), password: pw.value, role: role.value });
          m.close(); toast(`Created ${name.value.trim()}.`, 'ok'); refresh();
        } catch (e) { clear(err, errorBox(e)); showError(e, 'create the user'); }
      } }, 'Create user')] });
  }
  await refresh();
}
