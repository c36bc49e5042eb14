// Sign-in, sign-out, wrong passwords shown plainly, and a 401 returning to sign-in.

import { BASE, ADMIN, signIn, goto, shot, assert, assertEq, uniq, createUser, eventually } from '../lib.mjs';

export const tests = [
  {
    name: 'a wrong password is refused with a plain message, the right one opens the dashboard',
    async fn({ page }) {
      await page.goto(`${BASE}/`);
      await page.getByTestId('login-username').waitFor();
      await shot(page, 'signin');
      await page.getByTestId('login-username').fill('admin');
      await page.getByTestId('login-password').fill('not-the-password');
      await page.getByTestId('login-submit').click();
      const err = page.getByTestId('login-error');
      await err.getByText('Wrong username or password').waitFor();
      await signIn(page, ADMIN);
      assert((await page.evaluate(() => location.hash)) === '#/dashboard', 'lands on #/dashboard');
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      const stored = await page.evaluate(() => JSON.stringify(localStorage) + location.href);
      assert(!/eyJ[A-Za-z0-9_-]{10,}/.test(stored), 'no JWT in localStorage or the URL');
    },
  },
  {
    name: 'signing out returns to the sign-in page',
    async fn({ page }) {
      await signIn(page);
      await page.getByTestId('user-menu').click();
      await page.getByTestId('sign-out').click();
      await page.getByTestId('login-username').waitFor();
    },
  },
  {
    name: 'a 401 from the API (secret rotated) returns to the sign-in page',
    async fn({ page }) {
      const name = uniq('rot');
      await createUser(name, 'password-123', 'admin');
      await signIn(page, { username: name, password: 'password-123' });
      await goto(page, '#/settings');
      await page.getByTestId('runtime-info').waitFor();
      await shot(page, 'settings');
      await page.getByTestId('rotate-jwt').click();
      await page.getByRole('button', { name: 'Rotate and sign out' }).click();
      await page.getByTestId('login-username').waitFor();
      await eventually(async () => (await page.getByText('Please sign in again').count()) > 0, { what: 'the signed-out toast' });
    },
  },
  {
    name: 'a user changes their own password from the user menu',
    async fn({ page }) {
      const name = uniq('pw');
      await createUser(name, 'first-pass-1', 'operator');
      await signIn(page, { username: name, password: 'first-pass-1' });
      await page.getByTestId('user-menu').click();
      await page.getByRole('button', { name: 'Change password' }).click();
      const dlg = page.locator('.modal');
      await dlg.locator('input[name="current_password"]').fill('wrong-pass-0');
      await dlg.locator('input[name="new_password"]').fill('second-pass-2');
      await dlg.locator('input[type="password"]').nth(2).fill('second-pass-2');
      await dlg.getByRole('button', { name: 'Change password' }).click();
      await dlg.locator('.alert.error', { hasText: 'current_password' }).waitFor();
      await shot(page, 'change-password-error');
      await dlg.locator('input[name="current_password"]').fill('first-pass-1');
      await dlg.getByRole('button', { name: 'Change password' }).click();
      await page.getByText('Your password was changed').waitFor();
      // The change revoked the old token; the console carries on with the new one.
      await goto(page, '#/settings');
      await page.getByTestId('runtime-info').waitFor();
      assertEq(await page.getByTestId('login-username').count(), 0, 'still signed in after the change');
      await page.getByTestId('user-menu').click();
      await page.getByTestId('sign-out').click();
      await signIn(page, { username: name, password: 'second-pass-2' });
    },
  },
];
