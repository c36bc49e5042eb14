// Server and client profiles through the forms, and port-conflict warnings.

import { signIn, goto, shot, assert, uniq, apiToken, api, eventually, freeUdpPort } from '../lib.mjs';

async function fillProfile(page, { id, name, port }) {
  await page.getByTestId('profile-id').fill(id);
  await page.getByTestId('profile-name').fill(name);
  const row = page.getByTestId('transport-row').first();
  await row.locator('[data-f="local_ip"]').fill('127.0.0.1');
  await row.locator('[data-f="local_port"]').fill(String(port));
}

export const tests = [
  {
    name: 'a server profile and a client profile are created through their forms',
    async fn({ page }) {
      const sid = uniq('uas');
      const cid = uniq('uac');
      await signIn(page);
      await goto(page, '#/servers');
      await page.getByTestId('new-server').click();
      await fillProfile(page, { id: sid, name: 'Browser UAS', port: 45060 });
      await page.getByTestId('profile-scenario').selectOption('uas');
      await shot(page, 'server-form');
      await page.getByTestId('profile-save').click();
      const srow = page.locator(`tr[data-profile="${sid}"]`);
      await srow.waitFor();
      assert((await srow.innerText()).includes('Browser UAS'), 'server row shows its name');
      assert((await srow.innerText()).includes('u1 127.0.0.1:45060'), 'server row shows its transport');
      await shot(page, 'servers');

      await goto(page, '#/clients');
      await page.getByTestId('new-client').click();
      await fillProfile(page, { id: cid, name: 'Browser UAC', port: 0 });
      await page.getByTestId('profile-remote-ip').fill('127.0.0.1');
      await page.getByTestId('profile-remote-port').fill('45060');
      await page.getByTestId('profile-rate').fill('5');
      await page.getByTestId('profile-scenario').selectOption('uac');
      await page.getByTestId('profile-save').click();
      const crow = page.locator(`tr[data-profile="${cid}"]`);
      await crow.waitFor();
      assert((await crow.innerText()).includes('127.0.0.1:45060'), 'client row shows its target');
      await shot(page, 'clients');

      const t = await apiToken();
      const c = await api(t, 'GET', `/clients/${cid}`);
      assert(c.status === 200 && c.body.rate === 5 && c.body.scenario_ref === 'uac', `client stored as typed: ${JSON.stringify(c.body)}`);
    },
  },
  {
    name: 'a form error from the server is shown in the form',
    async fn({ page }) {
      await signIn(page);
      await goto(page, '#/servers');
      await page.getByTestId('new-server').click();
      await page.getByTestId('profile-id').fill('bad id with spaces');
      await page.getByTestId('profile-save').click();
      await page.locator('.modal .alert.error').waitFor();
      const text = await page.locator('.modal .alert.error').innerText();
      assert(/id/i.test(text), `the error names the field: ${text}`);
    },
  },
  {
    name: 'two profiles on the same UDP port get a port-conflict warning',
    async fn({ page }) {
      const t = await apiToken();
      const port = 46000 + Math.floor(Math.random() * 1000);
      const a = uniq('cfa'), b = uniq('cfb');
      for (const id of [a, b]) {
        const r = await api(t, 'POST', '/servers', { id, name: id, scenario_ref: 'uas', transports: [{ transport: 'u1', local_ip: '0.0.0.0', local_port: port, enabled: true }] });
        assert(r.status === 201, `create ${id}: ${JSON.stringify(r.body)}`);
      }
      await signIn(page);
      await goto(page, '#/servers');
      const warn = page.getByTestId('conflict-warning');
      await warn.waitFor();
      const text = await warn.innerText();
      assert(text.includes(a) && text.includes(b) && text.includes(String(port)), `warning names both profiles and the port: ${text}`);
      // The form warns too, before saving.
      await page.getByTestId('new-server').click();
      await page.getByTestId('profile-id').fill(uniq('cfc'));
      await page.getByTestId('transport-row').first().locator('[data-f="local_port"]').fill(String(port));
      await eventually(async () => (await page.getByTestId('form-conflict').count()) > 0, { what: 'the form conflict warning' });
      await shot(page, 'servers-conflict');
    },
  },
  {
    name: 'a server profile starts and stops from its row, showing its runtime status',
    async fn({ page }) {
      const t = await apiToken();
      const id = uniq('run');
      const port = await freeUdpPort();
      const r = await api(t, 'POST', '/servers', { id, name: id, scenario_ref: 'uas', transports: [{ transport: 'u1', local_ip: '127.0.0.1', local_port: port, enabled: true }] });
      assert(r.status === 201, `create: ${JSON.stringify(r.body)}`);
      await signIn(page);
      await goto(page, '#/servers');
      const row = page.locator(`tr[data-profile="${id}"]`);
      await row.getByTestId('profile-start').click();
      await eventually(async () => (await row.getByTestId('profile-status').innerText()).includes('running'), { timeout: 15000, what: 'status running' });
      await shot(page, 'servers-running');
      await row.getByTestId('profile-stop').click();
      await eventually(async () => /stopped|succeeded/.test(await row.getByTestId('profile-status').innerText()), { timeout: 20000, what: 'status stopped' });
    },
  },
];
