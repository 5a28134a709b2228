/**
 * Opt-in browser test: opens the traceability HTML, a conformance HTML and the Allure report from
 * file:// in headless Debian Chromium (playwright-core, never `playwright install`) and checks what
 * a reader sees. Skipped, with a message, when /usr/bin/chromium is missing (apt-get install -y chromium).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { FIXTURE_ARGS, runCli } from './fixtures/cli/run';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install it with "apt-get install -y chromium" to run the report screenshot test`;
if (skip) process.stderr.write(`report-screenshot: skipped: ${skip}\n`);

test('reports render in headless Chromium from file:// with the expected content', { skip, timeout: 240_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const r = runCli(FIXTURE_ARGS.filter((a) => a !== '--quiet'));
  assert.equal(r.status, 1, r.stderr);
  const shots = join(r.out, 'screenshots');
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const failedRequests: string[] = [];
    page.on('requestfailed', (q) => failedRequests.push(q.url()));

    // Traceability matrix: coverage counts, both profiles, the failing cell.
    await page.goto(pathToFileURL(join(r.out, 'traceability.html')).href);
    assert.match(await page.textContent('#coverage') ?? '', /Coverage: \d+ requirements — \d+ covered, \d+ uncovered, \d+ review-only/);
    const row = page.locator('tr', { hasText: 'trace-complete-or-nonzero' }).first();
    assert.match(await row.innerText(), /fixture-chain-walk[\s\S]*✔ pass[\s\S]*✘ FAIL/);
    await page.screenshot({ path: join(shots, 'traceability.png'), fullPage: true });

    // The failing profile's report: the verdict badge and the missing function marked in the picture.
    await page.goto(pathToFileURL(join(r.out, 'fixture-drop-frame', 'conformance.html')).href);
    assert.equal(await page.textContent('#verdict'), 'NOT conformant');
    assert.equal(await page.locator('table.picture td.m-missing').first().innerText(), 'outer 0x1115 (call)');
    const bg = await page.locator('table.picture td.m-missing').first().evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor);
    assert.equal(bg, 'rgb(255, 129, 130)', 'the missing frame is highlighted');
    await page.screenshot({ path: join(shots, 'conformance-failure.png'), fullPage: true });

    // Allure (single file, so no "Failed to fetch" from file://): overview, then the suites per profile.
    await page.goto(pathToFileURL(join(r.out, 'allure-report', 'index.html')).href);
    await page.getByText('test cases').first().waitFor({ timeout: 30_000 });
    const overview = await page.innerText('body');
    assert.doesNotMatch(overview, /Failed to fetch/);
    assert.match(overview, /\b2\s+test cases/);
    assert.match(overview, /fixture-drop-frame/);
    await page.screenshot({ path: join(shots, 'allure-overview.png') });
    await page.goto(pathToFileURL(join(r.out, 'allure-report', 'index.html')).href + '#behaviors');
    await page.getByText('core-contract').first().waitFor({ timeout: 30_000 });
    await page.getByText('core-contract').first().click();
    await page.getByText(/trace-complete-or-nonzero/).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'allure-behaviors.png') });

    for (const f of ['traceability.png', 'conformance-failure.png', 'allure-overview.png', 'allure-behaviors.png']) {
      assert.ok(statSync(join(shots, f)).size > 10_000, `${f} is a real picture`);
    }
    assert.deepEqual(failedRequests, [], 'everything loads from file:// without a server');
  } finally {
    await browser.close();
  }
  process.stderr.write(`report-screenshot: screenshots in ${shots}\n`);
});
