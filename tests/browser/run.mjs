// A small runner for the console's end-to-end tests in headless Debian Chromium
// (playwright-core only, no test framework). Each test gets a fresh browser context
// (1280×800), so no test sees another's session or storage; tests name their own
// objects uniquely, so none depends on another's data. Uncaught page errors fail the
// test that caused them. There are no skips: a test that cannot run its checks (a
// missing route, a precondition not met) fails, and so does a filter matching no test.
// Usage: BASE_URL=http://127.0.0.1:PORT node run.mjs [filter]

import { chromium } from 'playwright-core';
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launchOptions, maybeServeFromDisk, BASE } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] || '';
const TEST_TIMEOUT = Number(process.env.TEST_TIMEOUT_MS || 120000);

const files = readdirSync(join(here, 'tests')).filter((f) => f.endsWith('.test.mjs')).sort();
const all = [];
for (const f of files) {
  const mod = await import(pathToFileURL(join(here, 'tests', f)).href);
  for (const t of mod.tests) all.push({ ...t, file: f });
}
const selected = all.filter((t) => `${t.file} ${t.name}`.includes(filter));

const browser = await chromium.launch(launchOptions());
console.log(`browser tests against ${BASE} (${selected.length} tests, Chromium ${browser.version()})`);

let failed = 0, passed = 0;
for (const t of selected) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  await maybeServeFromDisk(context);
  const pageErrors = [];
  context.on('page', (p) => {
    p.on('pageerror', (e) => pageErrors.push(e.message));
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const started = Date.now();
  let timer;
  try {
    const outcome = await Promise.race([
      t.fn({ page, context, browser }),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`test timed out after ${TEST_TIMEOUT} ms`)), TEST_TIMEOUT); }),
    ]);
    if (pageErrors.length) throw new Error(`uncaught page error(s): ${pageErrors.join(' | ')}`);
    // A test either checks what it is for or fails: nothing returns "skipped".
    if (outcome !== undefined) throw new Error(`the test returned ${JSON.stringify(outcome)}; a test that does not run its checks fails`);
    passed++;
    console.log(`ok   - ${t.file} › ${t.name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL - ${t.file} › ${t.name} (${Date.now() - started} ms)\n       ${String(e.stack || e).split('\n').slice(0, 6).join('\n       ')}`);
    try { await page.screenshot({ path: join(process.env.SCREENSHOT_DIR || join(here, 'screenshots'), `FAILED-${t.name.replace(/[^A-Za-z0-9]+/g, '_')}.png`), fullPage: true }); } catch { /* page gone */ }
  } finally {
    clearTimeout(timer);
    await context.close().catch(() => {});
  }
}
await browser.close();
console.log(`\n${passed} passed, ${failed} failed`);
// A filter that selects nothing ran nothing: that is not a pass either.
if (!selected.length) console.log(`no test matches "${filter}"`);
process.exit(failed || !selected.length ? 1 : 0);
