// Roles: an admin creates an operator in the Users page; the operator's nav has no
// Users or Audit, and typing their routes shows "Administrators only".

import { signIn, goto, shot, assert, uniq } from '../lib.mjs';

export const tests = [
  {
    name: 'an operator does not see Users or Audit',
    async fn({ page, browser }) {
      const name = uniq('op');
      await signIn(page);
      await goto(page, '#/users');
      await page.getByTestId('new-user').click();
      await page.getByTestId('user-name').fill(name);
      await page.getByTestId('user-password').fill('operator-pass-1');
      await page.getByTestId('user-role').selectOption('operator');
      await page.getByTestId('user-create').click();
      await page.locator(`tr[data-user="${name}"]`).waitFor();
      await shot(page, 'users');
      await goto(page, '#/audit');
      await page.locator('td', { hasText: 'user.create' }).first().waitFor();
      await shot(page, 'audit');

      const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const { maybeServeFromDisk } = await import('../lib.mjs');
      await maybeServeFromDisk(ctx2);
      const op = await ctx2.newPage();
      try {
        await signIn(op, { username: name, password: 'operator-pass-1' });
        const nav = await op.locator('.nav').innerText();
        assert(!nav.includes('Users') && !nav.includes('Audit'), `operator nav hides admin pages: ${nav}`);
        assert(nav.includes('Settings') && nav.includes('Load test'), 'operator nav keeps the rest');
        await goto(op, '#/users');
        await op.getByTestId('forbidden').waitFor();
        await goto(op, '#/audit');
        await op.getByTestId('forbidden').waitFor();
        await goto(op, '#/settings');
        assert(await op.getByTestId('rotate-jwt').count() === 0, 'operators cannot rotate the JWT secret');
        await shot(op, 'operator-dashboard');
      } finally {
        await ctx2.close();
      }
    },
  },
];
