// Every page opens without an error and is photographed, in light and dark.

import { signIn, goto, shot, assert } from '../lib.mjs';

const PAGES = ['dashboard', 'load', 'jobs', 'reports', 'servers', 'clients', 'gateway', 'scenarios', 'scenarios/new', 'scenarios?tab=builtin',
  'scenarios/builtin/uac', 'media', 'users', 'audit', 'settings', 'about'];

export const tests = [
  {
    name: 'every page opens without an error (light theme, screenshots)',
    async fn({ page }) {
      await signIn(page);
      for (const p of PAGES) {
        await goto(page, `#/${p}`);
        const errors = await page.locator('#page .alert.error').count();
        assert(errors === 0, `#/${p} shows an error: ${errors ? await page.locator('#page .alert.error').first().innerText() : ''}`);
        await shot(page, `page-${p.replace(/[^a-z0-9]+/gi, '-')}`);
      }
    },
  },
  {
    name: 'the dark theme applies and survives a reload',
    async fn({ page }) {
      await signIn(page);
      await goto(page, '#/settings');
      await page.getByTestId('theme-dark').click();
      assert(await page.evaluate(() => document.documentElement.dataset.theme === 'dark'), 'dark theme set');
      await page.reload();
      await page.waitForSelector('.shell .nav');
      assert(await page.evaluate(() => document.documentElement.dataset.theme === 'dark'), 'dark theme kept');
      for (const p of ['dashboard', 'servers', 'scenarios/builtin/uac', 'load']) {
        await goto(page, `#/${p}`);
        await shot(page, `dark-${p.replace(/[^a-z0-9]+/gi, '-')}`);
      }
    },
  },
];
