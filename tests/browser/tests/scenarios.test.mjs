// The scenario editor: the engine's validation errors at their line, history with a
// side-by-side diff, the built-in catalogue (read-only, clone to edit), media picker.

import { signIn, goto, shot, assert, assertEq, uniq, apiToken, api, tinyWav, eventually, BASE } from '../lib.mjs';

const GOOD = `<?xml version="1.0"?>
<scenario name="browser test">
  <send>
    <![CDATA[
      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
`;

export const tests = [
  {
    name: 'the engine’s validation error is shown at its line, and a fixed scenario saves',
    async fn({ page }) {
      const id = uniq('scn');
      await signIn(page);
      await goto(page, '#/scenarios/new');
      await page.getByTestId('scenario-id').fill(id);
      await page.getByTestId('scenario-name').fill('Browser scenario');
      // Line 12 names an undefined label: well-formed XML, refused by the engine.
      const bad = GOOD.replace('<recv response="200"/>', '<recv response="200" next="nowhere"/>');
      await page.getByTestId('xml-editor').fill(bad);
      await page.getByTestId('scenario-save').click();
      const marked = page.getByTestId('error-line');
      await marked.first().waitFor();
      // The one line marked is line 12, the <recv> naming the label; the message is the
      // engine's, word for word, with that position.
      assertEq(await marked.count(), 1, 'lines marked');
      assertEq(await marked.getAttribute('data-line'), '12', 'the marked line');
      const server = await api(await apiToken(), 'POST', '/scenarios/check', { xml: bad });
      assertEq(server.status, 400, 'the engine refuses it');
      assert(/^scenario\.xml:12:\d+: /.test(server.body.error), `the engine's error is at line 12: ${server.body.error}`);
      const errText = await page.getByTestId('scenario-errors').innerText();
      assert(errText.includes(server.body.error), `the editor shows the engine's error: ${errText}`);
      await shot(page, 'scenario-error');
      await page.getByTestId('xml-editor').fill(GOOD);
      await page.getByTestId('scenario-save').click();
      await page.waitForFunction((sid) => location.hash === `#/scenarios/${sid}`, id);
      const t = await apiToken();
      const r = await api(t, 'GET', `/scenarios/${id}`);
      assert(r.status === 200 && r.body.xml === GOOD, 'saved XML is exactly what was typed');
    },
  },
  {
    name: 'history shows a side-by-side diff of a change, and a version forks',
    async fn({ page }) {
      const id = uniq('hist');
      const t = await apiToken();
      assert((await api(t, 'POST', '/scenarios', { id, name: id, role: 'uac', xml: GOOD })).status === 201, 'create');
      await signIn(page);
      await goto(page, `#/scenarios/${id}`);
      const changed = GOOD.replace('CSeq: 1 OPTIONS', 'CSeq: 2 OPTIONS');
      await page.getByTestId('xml-editor').fill(changed);
      await page.getByTestId('scenario-save').click();
      await page.getByText('Saved scenario').first().waitFor();
      await page.getByTestId('tab-history').click();
      await page.getByTestId('history-compare').first().click();
      const diff = page.getByTestId('diff');
      await diff.waitFor();
      assert(await diff.locator('.ln.del').filter({ hasText: 'CSeq: 1 OPTIONS' }).count() === 1, 'old line marked removed');
      assert(await diff.locator('.ln.add').filter({ hasText: 'CSeq: 2 OPTIONS' }).count() === 1, 'new line marked added');
      await shot(page, 'scenario-history-diff');
      const fork = uniq('fork');
      await page.getByRole('button', { name: 'Fork' }).first().click();
      await page.getByTestId('fork-id').fill(fork);
      await page.locator('.modal').getByRole('button', { name: 'Fork' }).click();
      await page.waitForFunction((f) => location.hash === `#/scenarios/${f}`, fork);
      const r = await api(t, 'GET', `/scenarios/${fork}`);
      assert(r.status === 200 && r.body.xml === GOOD, 'the fork holds the old version');
    },
  },
  {
    name: 'a built-in is read-only and clones into an editable scenario',
    async fn({ page }) {
      await signIn(page);
      await goto(page, '#/scenarios/builtin/uas');
      assert(await page.getByTestId('xml-editor').evaluate((el) => el.readOnly), 'built-in editor is read-only');
      await page.getByTestId('clone-builtin').click();
      await page.waitForFunction(() => location.hash.startsWith('#/scenarios/new?from=uas'));
      const id = uniq('clone');
      await page.getByTestId('scenario-id').fill(id);
      assert(!(await page.getByTestId('xml-editor').evaluate((el) => el.readOnly)), 'the clone is editable');
      await page.getByTestId('scenario-save').click();
      await page.waitForFunction((sid) => location.hash === `#/scenarios/${sid}`, id);
    },
  },
  {
    name: 'the media picker inserts a [[media:…]] placeholder',
    async fn({ page }) {
      const name = uniq('tone');
      const t = await apiToken();
      const up = await fetch(`${BASE}/api/v2/media/wav/${name}`, { method: 'POST', headers: { Authorization: `Bearer ${t}` }, body: tinyWav() });
      assert(up.status === 201, `upload: ${up.status}`);
      await signIn(page);
      await goto(page, '#/scenarios/new');
      await page.getByTestId('xml-editor').fill('<scenario>\n</scenario>\n');
      await page.getByTestId('xml-editor').evaluate((el) => el.setSelectionRange(11, 11));
      await page.getByTestId('insert-media').click();
      await page.locator('.modal tr', { hasText: name }).getByRole('button', { name: 'Insert' }).click();
      const v = await page.getByTestId('xml-editor').inputValue();
      assert(v.includes(`[[media:wav/${name}]]`), `placeholder inserted: ${v}`);
      await eventually(async () => (await page.getByText('Missing media').count()) === 0, { what: 'no missing-media warning' });
    },
  },
];
