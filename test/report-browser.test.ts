/**
 * Browser test (headless Debian Chromium through playwright-core; never `playwright install`): the
 * conformance page of the faulty plugin examples/faulty-trusts-lr, opened from file://, leads a reader
 * from the table of contents to the first MUST failure (the link is followed and its target is in view),
 * and Allure shows that failure as Failed with its picture, stack dump and snapshot attached.
 * Skipped, not failed, when Chromium is absent (apt-get install -y chromium, or set CHROMIUM_PATH).
 *
 * UPDATE_DOCS_SCREENSHOTS=1 runs every feature (not only core-contract) and copies the screenshots
 * into docs/images/ (shown in docs/reading-reports.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';

const ROOT = resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install it with "apt-get install -y chromium" to run the browser test`;
if (skip) process.stderr.write(`report-browser: skipped: ${skip}\n`);
const DOCS = process.env.UPDATE_DOCS_SCREENSHOTS === '1';

test('the conformance page of a faulty plugin leads from its table of contents to the first MUST failure; Allure shows it Failed with attachments', { skip, timeout: 300_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const out = mkdtempSync(join(tmpdir(), 'report-browser-'));
  const cmd = `node ${join(ROOT, 'examples', 'faulty-trusts-lr', 'unwinder.js')}`;
  const r = spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'cli/conformance.ts', '--unwinder', cmd, '--quiet', '--out', out, ...(DOCS ? [] : ['--topic', 'core-contract'])], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
  assert.equal(r.status, 1, r.stderr.slice(-2000));
  const shots = join(out, 'screenshots');
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
    const failedRequests: string[] = [];
    page.on('requestfailed', (q) => failedRequests.push(q.url()));

    await page.goto(pathToFileURL(join(out, 'faulty-trusts-lr', 'conformance.html')).href);
    assert.equal(await page.textContent('#verdict'), 'NOT conformant');
    // Usefulness beside the red verdict is not green.
    const uColour = await page.locator('#usefulness').evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { color: string } }).getComputedStyle(e).color);
    assert.notEqual(uColour, 'rgb(26, 127, 55)');
    const toc = page.locator('ol.toc > li');
    assert.ok((await toc.count()) >= 1);
    assert.match(await toc.first().innerText(), /^MUST /, 'the first failure listed is a MUST');
    await page.screenshot({ path: join(shots, 'conformance-toc.png') });

    const link = toc.filter({ hasText: /^MUST / }).first().locator('a').first();
    const href = (await link.getAttribute('href'))!;
    assert.match(href, /^#sc-/);
    await link.click();
    await page.waitForFunction((h) => (globalThis as unknown as { location: { hash: string } }).location.hash === h, href);
    const target = page.locator(href);
    assert.match(await target.innerText(), /^MUST /);
    const box = (await target.boundingBox())!;
    assert.ok(box.y >= -1 && box.y < 860, `the failure heading is in view (y = ${box.y})`);
    assert.ok(await target.isVisible());
    // Its picture marks the live function the trace left out.
    const missing = page.locator(`${href} ~ div.walk td.m-missing`).first();
    assert.ok(await missing.count());
    await page.screenshot({ path: join(shots, 'conformance-first-must.png') });

    // Allure: Suites → the profile → the breaching scenario: Failed, its attachments listed; open the picture.
    await page.setViewportSize({ width: 1500, height: 1250 });
    await page.goto(pathToFileURL(join(out, 'allure-report', 'index.html')).href + '#suites');
    await page.getByText('Collapse').first().click();
    await page.getByText('faulty-trusts-lr').first().click();
    await page.locator('.node__leaf', { hasText: 'consume each ret_stack entry once' }).first().click();
    const pane = page.locator('.test-result');
    await pane.getByText('Failed').first().waitFor({ timeout: 30_000 });
    const text = await pane.innerText();
    assert.match(text, /\bFailed\b/);
    assert.doesNotMatch(text, /\bBroken\b/);
    assert.match(text, /its walks break the MUST trace-complete-or-nonzero/);
    assert.match(text, /Severity: critical/);
    for (const k of [': picture', ': picture (HTML)', ': stack dump', ': snapshot ', ': ground truth ']) assert.ok(text.includes(k), `attachment${k}`);
    assert.doesNotMatch(text, /\.ts:\d+:\d+/, 'no TypeScript stack frames');
    await pane.getByText(/walk 1 .*: picture \(HTML\)$/).first().click();
    await page.frameLocator('.test-result iframe').first().getByText('MISSING').first().waitFor({ timeout: 30_000 });
    const paneBox = (await pane.boundingBox())!;
    await page.screenshot({ path: join(shots, 'allure-failed-test.png'), clip: { x: paneBox.x, y: 0, width: Math.min(paneBox.width, 1500 - paneBox.x), height: 1250 } });

    for (const f of ['conformance-toc.png', 'conformance-first-must.png', 'allure-failed-test.png']) {
      assert.ok(statSync(join(shots, f)).size > 10_000, `${f} is a real picture`);
      if (DOCS) {
        mkdirSync(join(ROOT, 'docs', 'images'), { recursive: true });
        copyFileSync(join(shots, f), join(ROOT, 'docs', 'images', f));
      }
    }
    assert.deepEqual(failedRequests, [], 'everything loads from file:// without a server');
  } finally {
    await browser.close();
  }
  process.stderr.write(`report-browser: screenshots in ${shots}\n`);
});
