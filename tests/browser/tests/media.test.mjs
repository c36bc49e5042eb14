// Media library: upload through the file input (the drop zone's picker), list, delete.

import { signIn, goto, shot, assert, assertEq, uniq, tinyWav } from '../lib.mjs';

export const tests = [
  {
    name: 'a WAV uploads, is listed, and is deleted',
    async fn({ page }) {
      const name = uniq('beep');
      await signIn(page);
      await goto(page, '#/media');
      // Half a second of 8 kHz 16-bit mono: 8,044 bytes with its header.
      const wav = tinyWav(4000);
      await page.getByTestId('media-file').setInputFiles({ name: `${name}.wav`, mimeType: 'audio/wav', buffer: wav });
      const row = page.locator(`tr[data-media="wav/${name}"]`);
      await row.waitFor();
      assertEq((await row.getByTestId('media-format').innerText()).trim(), '8 kHz · mono · 16-bit · 0.5 s', 'format and duration');
      assertEq((await row.locator('td.num').innerText()).trim(), '7.9 KB', `size of ${wav.length} bytes`);
      await shot(page, 'media');
      await row.getByTestId('media-delete').click();
      await page.getByRole('button', { name: 'Delete' }).last().click();
      await row.waitFor({ state: 'detached' });
    },
  },
  {
    name: 'a file that is not a WAV is refused with the server’s reason',
    async fn({ page }) {
      await signIn(page);
      await goto(page, '#/media');
      await page.getByTestId('media-file').setInputFiles({ name: `${uniq('junk')}.wav`, mimeType: 'audio/wav', buffer: Buffer.from('this is not a wav file') });
      const toast = page.locator('.toast.error');
      await toast.waitFor();
      const text = await toast.innerText();
      assert(/could not upload/i.test(text), `the toast says what failed: ${text}`);
    },
  },
  {
    name: 'a file dropped on the drop zone uploads',
    async fn({ page }) {
      const name = uniq('dropped');
      await signIn(page);
      await goto(page, '#/media');
      const bytes = [...tinyWav()];
      await page.getByTestId('media-drop').evaluate((zone, [fileName, data]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(data)], fileName, { type: 'audio/wav' }));
        for (const type of ['dragenter', 'dragover', 'drop']) zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, [`${name}.wav`, bytes]);
      await page.locator(`tr[data-media="wav/${name}"]`).waitFor();
    },
  },
];
