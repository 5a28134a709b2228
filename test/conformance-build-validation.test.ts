/**
 * Compile-time analysis has teeth: the same frame-pointer unwinder is conformant when its build
 * validates the frame-pointer protocol (the violating kernel is never shipped), and not conformant
 * when it does not (its walk of that kernel silently omits the violator's caller).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateConformance } from '../src/report/write';
import { ROOT } from './fixtures/cli/run';

for (const base of ['arm64-fp', 'x86_64-fp']) {
  test(`${base} without compile-time analysis is not conformant: the fp-violation walk is unsafe`, { timeout: 300_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'novalidate-'));
    const profile = JSON.parse(readFileSync(join(ROOT, 'profiles', `${base}.json`), 'utf8'));
    profile.name = `${base}-unvalidated`;
    profile.reference = false;
    profile.claims.usesCompileTimeAnalysis = false;
    const file = join(dir, 'profile.json');
    writeFileSync(file, JSON.stringify(profile));
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'cli/conformance.ts', ...args, '--requirement', 'trace-complete-or-nonzero', 'fp-protocol-validated-at-build-time', '--tags', 'not @sweep', '--no-html', '--quiet', '--out', dir], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 300_000,
      });
    const r = run(['--profile-file', file, '--profile', base]);
    // Every judged profile sets the exit status, reference or not.
    assert.equal(r.status, 1, r.stderr + r.stdout);

    const bad = validateConformance(JSON.parse(readFileSync(join(dir, profile.name, 'conformance.json'), 'utf8')));
    assert.equal(bad.verdict, 'not-conformant');
    const walk = bad.scenarios.find((s) => s.id === 'fp-violation-walk-unless-build-rejects')!;
    assert.equal(walk.status, 'failed', walk.message);
    assert.equal(walk.failures![0]!.outcome, 'unsafe');
    assert.ok(walk.failures![0]!.missing.includes('sys_fpviol'), JSON.stringify(walk.failures));
    const fp = bad.scenarios.find((s) => s.id === 'fp-violation-reported-at-build-time')!;
    assert.equal(fp.status, 'failed');
    assert.match(fp.message ?? '', /does not claim compile-time analysis/);

    const good = validateConformance(JSON.parse(readFileSync(join(dir, base, 'conformance.json'), 'utf8')));
    assert.equal(good.verdict, 'conformant', good.reasons.join('\n'));
  });
}
