// The Gateway page: a REGISTER gateway profile created, edited, armed and deleted
// through the page, and the API's own error text shown for a bad value.

import { signIn, goto, shotBoth, assert, uniq, apiToken, api, eventually, freeUdpPort } from '../lib.mjs';

export const tests = [
  {
    name: 'a gateway profile is created, edited, armed and deleted on the Gateway page',
    async fn({ page }) {
      const id = uniq('gw');
      // A registrar address where nothing answers: the job is created, its REGISTER
      // goes unanswered (what the page shows of the job is checked, not a registration).
      const deaf = await freeUdpPort();
      await signIn(page);
      await goto(page, '#/gateway');
      assert((await page.locator('nav [data-nav="gateway"]').innerText()).includes('Gateway'), 'the nav links the Gateway page');

      await page.getByTestId('new-gateway').click();
      await page.getByTestId('gw-id').fill(id);
      await page.getByTestId('gw-name').fill('Lab PBX');
      await page.getByTestId('gw-domain').fill('pbx.lab.test');
      await page.getByTestId('gw-addr').fill(`127.0.0.1:${deaf}`);
      await page.getByTestId('gw-username').fill('alice');
      await page.getByTestId('gw-password').fill('s3cret');
      // Autodiscover fills the address the API suggests and says which interface it is.
      const ips = (await api(await apiToken(), 'GET', '/gateway/ips')).body;
      assert(ips && typeof ips.suggested === 'string' && ips.ips.length > 0, `the host has addresses: ${JSON.stringify(ips)}`);
      await page.getByTestId('gw-autodiscover').click();
      await eventually(async () => (await page.getByTestId('gw-advertised_ip').inputValue()) === ips.suggested,
        { what: `Autodiscover to fill ${ips.suggested}` });
      const said = await page.getByTestId('gw-autodiscover-result').innerText();
      const iface = ips.ips.find((a) => a.ip === ips.suggested).interface;
      assert(said.includes(`Filled ${ips.suggested} (${iface})`) && said.includes(`${ips.ips.length} address`),
        `the page says what it filled: ${said}`);
      const offered = await page.locator('#gw-ips option').evaluateAll((os) => os.map((o) => o.value));
      assert(JSON.stringify(offered) === JSON.stringify(ips.ips.map((a) => a.ip)), `every address is offered: ${offered}`);
      await shotBoth(page, 'gateway-autodiscover');
      await page.getByTestId('gw-advertised_ip').fill('127.0.0.1');
      await page.getByTestId('gw-local_ip').fill('127.0.0.1');
      await shotBoth(page, 'gateway-form');
      await page.getByTestId('gateway-save').click();

      const row = page.locator(`tr[data-gateway="${id}"]`);
      await row.waitFor();
      const text = await row.innerText();
      for (const want of ['Lab PBX', id, 'pbx.lab.test', `127.0.0.1:${deaf}`, 'alice', 'enabled', 'idle']) {
        assert(text.includes(want), `the row shows “${want}”: ${text}`);
      }
      assert(!text.includes('s3cret'), `the row never shows the password: ${text}`);
      const t = await apiToken();
      let g = await api(t, 'GET', `/gateways/${id}`);
      assert(g.status === 200 && g.body.password === '***' && g.body.username === 'alice' && g.body.advertised_ip === '127.0.0.1',
        `stored as typed, password masked: ${JSON.stringify(g.body)}`);

      // Edit: the password field holds the mask, which keeps the stored password.
      await row.getByTestId('gateway-edit').click();
      assert((await page.getByTestId('gw-password').inputValue()) === '***', 'the edit dialog shows the password as ***');
      assert(await page.getByTestId('gw-id').evaluate((el) => el.readOnly), 'the id is fixed after creation');
      await page.getByTestId('gw-name').fill('Lab PBX 2');
      await page.getByTestId('gw-username').fill('bob');
      await page.getByTestId('gateway-save').click();
      await eventually(async () => (await row.innerText()).includes('Lab PBX 2'), { what: 'the edited name in the row' });
      assert((await row.innerText()).includes('bob'), `the row shows the new user: ${await row.innerText()}`);
      g = await api(t, 'GET', `/gateways/${id}`);
      assert(g.body.name === 'Lab PBX 2' && g.body.username === 'bob' && g.body.password === '***', `edit stored, password kept: ${JSON.stringify(g.body)}`);

      // A bad value: the dialog stays open with the API's words, naming the field.
      await row.getByTestId('gateway-edit').click();
      await page.getByTestId('gw-advertised_ip').fill('not-an-ip');
      await page.getByTestId('gateway-save').click();
      const err = page.locator('.modal .alert.error');
      await err.waitFor();
      const errText = await err.innerText();
      assert(errText.includes('advertised_ip: "not-an-ip" is not an IP address'), `the API's error is shown: ${errText}`);
      await shotBoth(page, 'gateway-form-error');
      await page.keyboard.press('Escape');
      g = await api(t, 'GET', `/gateways/${id}`);
      assert(g.body.advertised_ip === '127.0.0.1', `the bad value changed nothing: ${JSON.stringify(g.body)}`);

      // Arm with the built-in uas: the page names the job it started.
      await row.getByTestId('gateway-arm').click();
      await page.getByTestId('arm-scenario').selectOption('uas');
      await page.getByTestId('arm-submit').click();
      const link = page.getByTestId('gateway-notice').getByTestId('gateway-job-link');
      await link.waitFor();
      const jobId = await link.getAttribute('title');
      assert(/^j-/.test(jobId || ''), `the notice links a job: ${jobId}`);
      assert((await page.getByTestId('gateway-notice').innerText()).includes('Armed “Lab PBX 2”'), 'the notice says what was armed');
      const job = (await api(t, 'GET', `/jobs/${jobId}`)).body?.job;
      assert(job && job.profile_kind === 'gateway' && job.profile_id === id && job.scenario_id === 'uas', `the job is the gateway's: ${JSON.stringify(job)}`);
      await eventually(async () => (await row.getByTestId('gateway-status').getByTestId('gateway-job-link').getAttribute('title')) === jobId,
        { what: 'the row to show the newest job' });
      assert((await row.innerText()).includes('uas'), 'the row shows the armed scenario');
      await shotBoth(page, 'gateway');

      // Stop it if it still runs, then delete the profile.
      if (await row.getByTestId('gateway-stop').count()) await row.getByTestId('gateway-stop').click();
      await eventually(async () => !/running|pending|stopping/.test(await row.getByTestId('gateway-status').innerText()), { timeout: 20000, what: 'the gateway job to end' });
      await row.getByTestId('gateway-delete').click();
      await page.locator('.modal button.danger').click();
      await row.waitFor({ state: 'detached' });
      assert((await api(t, 'GET', `/gateways/${id}`)).status === 404, 'the profile is gone');
    },
  },
  {
    name: 'originate from the Gateway page refuses a missing To with the API error',
    async fn({ page }) {
      const t = await apiToken();
      const id = uniq('gwo');
      const c = await api(t, 'POST', '/gateways', { id, domain: 'pbx.lab.test', addr: '127.0.0.1:9', username: 'carol', password: 'x' });
      assert(c.status === 201, `create: ${JSON.stringify(c.body)}`);
      await signIn(page);
      await goto(page, '#/gateway');
      const row = page.locator(`tr[data-gateway="${id}"]`);
      await row.getByTestId('gateway-originate').click();
      await page.getByTestId('originate-scenario').selectOption('uac');
      await page.getByTestId('originate-submit').click();
      const err = page.getByTestId('gateway-action-error');
      await eventually(async () => (await err.innerText()).length > 0, { what: 'the originate error' });
      const text = await err.innerText();
      assert(text.includes('to: names the callee (a user or number)'), `the API's error, naming the field “to”: ${text}`);
      await page.keyboard.press('Escape');
      await api(t, 'DELETE', `/gateways/${id}`);
    },
  },
];
