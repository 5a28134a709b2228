/**
 * Issue 11, findings 1, 2 and 4: the report folder is a transaction. Reports are staged and moved into
 * place when complete; an interrupted run leaves the previous report whole; a second run into the same
 * --out fails fast (exit 2) while a stale lock is taken over; nothing the suite did not create is deleted.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runCli } from './fixtures/cli/run';

const GOOD = ['--profile-file', 'test/fixtures/cli/fixture-good.json', '--requirement', 'trace-complete-or-nonzero', '--quiet', '--no-html'];

test('an interrupted run (SIGTERM) leaves the previous report whole, and no staging folder or lock', async () => {
  const first = runCli(GOOD);
  assert.equal(first.status, 0, first.stderr + first.stdout);
  const out = first.out;
  const before = readFileSync(join(out, 'fixture-good', 'conformance.json'), 'utf8');
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  const child = spawn(process.execPath, ['-r', './scripts/ts-register.js', 'cli/conformance.ts', '--cucumber-config', 'test/fixtures/cli/cucumber.json', '--out', out, ...GOOD], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    // Interrupt once the run is writing its profile (its staging folder holds the profile's folder).
    const poll = setInterval(() => {
      const staging = readdirSync(out).find((f) => f.startsWith('.conformance-staging-'));
      if (staging && existsSync(join(out, staging, 'fixture-good'))) {
        clearInterval(poll);
        child.kill('SIGTERM');
      }
    }, 20);
    child.on('exit', (c, s) => {
      clearInterval(poll);
      resolve(c ?? (s ? -1 : null));
    });
  });
  assert.equal(code, 143, stderr);
  assert.match(stderr, /interrupted by SIGTERM; the reports in .* are unchanged/);
  assert.equal(readFileSync(join(out, 'fixture-good', 'conformance.json'), 'utf8'), before, 'the previous report is whole');
  assert.equal(readFileSync(join(out, 'summary.md'), 'utf8'), summary);
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.conformance')), [], 'no staging folder, no lock left');
});

test('a second run into the same --out fails fast (exit 2); a stale lock is taken over', () => {
  const out = mkdtempSync(join(tmpdir(), 'conformance-lock-'));
  // A live holder: this test process.
  writeFileSync(join(out, '.conformance.lock'), `${process.pid}\n`);
  const t0 = Date.now();
  const busy = runCli(GOOD, out);
  assert.equal(busy.status, 2, busy.stderr);
  assert.match(busy.stderr, new RegExp(`another run \\(pid ${process.pid}\\) is writing reports into ${out}`));
  assert.ok(Date.now() - t0 < 20_000, 'fails before running anything');
  assert.ok(!existsSync(join(out, 'fixture-good')), 'nothing written');
  // A dead holder: a process that has exited.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  writeFileSync(join(out, '.conformance.lock'), `${dead}\n`);
  const r = runCli(GOOD, out);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.ok(existsSync(join(out, 'fixture-good', 'conformance.json')));
  assert.ok(!existsSync(join(out, '.conformance.lock')), 'lock released');
});

test('a folder the suite did not create is never replaced: exit 2 before anything runs, the folder untouched', () => {
  const out = mkdtempSync(join(tmpdir(), 'conformance-foreign-'));
  mkdirSync(join(out, 'fixture-good'));
  writeFileSync(join(out, 'fixture-good', 'precious.txt'), 'mine');
  const r = runCli(GOOD, out);
  assert.equal(r.status, 2, r.stderr + r.stdout);
  assert.match(r.stderr, /fixture-good exists and was not written by this suite .*not replacing it/);
  assert.equal(readFileSync(join(out, 'fixture-good', 'precious.txt'), 'utf8'), 'mine');
  assert.deepEqual(readdirSync(join(out, 'fixture-good')), ['precious.txt']);
  assert.deepEqual(readdirSync(out), ['fixture-good'], 'no lock or staging left');
});

test('a run replaces its own earlier report (marked) and keeps the marker', () => {
  const first = runCli(GOOD);
  assert.equal(first.status, 0, first.stderr);
  assert.ok(existsSync(join(first.out, 'fixture-good', '.conformance-report')));
  const again = runCli(GOOD, first.out);
  assert.equal(again.status, 0, again.stderr);
  assert.ok(existsSync(join(first.out, 'fixture-good', '.conformance-report')));
});

test('which folders are the suite\'s: marked ones, and reports written before markers existed', async () => {
  const { ours, reservedName } = await import('../cli/out-dir');
  const d = mkdtempSync(join(tmpdir(), 'conformance-ours-'));
  const mk = (name: string, files: string[]) => {
    mkdirSync(join(d, name));
    for (const f of files) writeFileSync(join(d, name, f), '');
    return join(d, name);
  };
  assert.ok(ours(mk('marked', ['.conformance-report'])));
  assert.ok(ours(mk('legacy-profile', ['conformance.json', 'cucumber-messages.ndjson', 'junit.xml'])));
  assert.ok(!ours(mk('docs', ['maintainers.md'])));
  assert.ok(!ours(mk('half', ['conformance.json'])));
  assert.ok(ours(mk('allure-results', ['abc-result.json', 'def-container.json', 'x-attachment.txt', 'environment.properties']), 'allure-results'));
  assert.ok(!ours(mk('not-allure', ['abc-result.json', 'thesis.tex']), 'allure-results'));
  assert.ok(ours(mk('allure-report', ['index.html']), 'allure-report'));
  for (const n of ['allure-report', 'allure-results', 'summary.md', 'summary.html', 'traceability.json', 'results.ndjson', 'snapshots']) assert.ok(reservedName(n), n);
  for (const n of ['arm64-fp', 'summary-of-x', 'my.unwinder']) assert.ok(!reservedName(n), n);
});
