/**
 * The features can fail: each deliberately broken unwinder (src/conformance/mutants.ts) is caught by
 * the scenarios of the requirement it breaks, with the oracle's outcome in the message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { applicability, loadCatalogue } from '../src/catalogue/catalogue';
import type { ScenarioResult } from '../src/report/results';
import { buildConformance } from '../src/report/verdict';
import { builtinProfile } from '../src/unwinders/profiles';

const ROOT = join(__dirname, '..');

function runMutant(mutant: string, arch: 'arm64' | 'x86_64', tags: string): Map<string, ScenarioResult> {
  const base = builtinProfile(arch === 'arm64' ? 'arm64-fp' : 'x86_64-fp');
  const profile = { ...base, name: `${arch}-mutant-${mutant}`, reference: false, unwinder: 'module:src/conformance/mutants.ts', options: { mutant, base: 'frame-pointer' } };
  const resultsFile = join(mkdtempSync(join(tmpdir(), 'mutant-')), 'results.ndjson');
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', '@cucumber', 'cucumber', 'bin', 'cucumber.js'), '--tags', tags, '--format', 'summary', '--world-parameters', JSON.stringify({ profile, resultsFile })],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 1, `cucumber should fail for mutant ${mutant}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  const rows = readFileSync(resultsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ScenarioResult);
  return new Map(rows.map((x) => [x.id, x]));
}

function failedWith(results: Map<string, ScenarioResult>, id: string, outcome: RegExp): void {
  const r = results.get(id);
  assert.ok(r, `no result for ${id}`);
  assert.equal(r.status, 'failed', `${id}: ${r.status} ${r.message ?? ''}`);
  assert.match(r.message ?? '', outcome);
}

const only = (...ids: string[]) => ids.map((i) => `@id:${i}`).join(' or ');

test('a truncating unwinder (rc 0, PC only) is caught as unsafe', () => {
  const r = runMutant('truncate', 'arm64', only('blocked-syscall-task-complete-or-unreliable', 'zeroed-frame-pointer-detected'));
  failedWith(r, 'blocked-syscall-task-complete-or-unreliable', /got unsafe: reliable trace omits live function/);
  failedWith(r, 'zeroed-frame-pointer-detected', /expected the walk reported unreliable/);
  // The failed walk's exact snapshot is kept only with a reportDir; the walk itself is in the record.
  assert.equal(r.get('blocked-syscall-task-complete-or-unreliable')!.walks[0]!.outcome, 'unsafe');
});

test('an unwinder that reports every walk reliable is caught on corrupt stacks', () => {
  const r = runMutant('overclaim', 'x86_64', only('zeroed-frame-pointer-detected', 'garbage-return-address-robust'));
  failedWith(r, 'zeroed-frame-pointer-detected', /expected the walk reported unreliable \(rc != 0\), got (unsafe|imprecise)/);
  failedWith(r, 'garbage-return-address-robust', /got (unsafe|imprecise)/);
});

test('duplicated entries are caught as imprecise: they fail the cover letter\'s should, not the core must', () => {
  const r = runMutant('duplicate', 'arm64', only('blocked-task-trace-in-order', 'blocked-syscall-task-complete-or-unreliable'));
  failedWith(r, 'blocked-task-trace-in-order', /got imprecise: .*duplicated/);
  assert.equal(r.get('blocked-syscall-task-complete-or-unreliable')!.status, 'passed');
});

test('an unsafe memory access is caught as faulted', () => {
  const r = runMutant('wild-read', 'x86_64', only('unmapped-frame-pointer-not-dereferenced'));
  failedWith(r, 'unmapped-frame-pointer-not-dereferenced', /got faulted: read of 0x0 hit unmapped memory/);
});

test('an unbounded walk is caught as runaway', () => {
  const r = runMutant('loop', 'arm64', only('cyclic-frame-chain-bounded'));
  failedWith(r, 'cyclic-frame-chain-bounded', /got runaway/);
});

test('an unsafe walk caught only by a MAY scenario still makes the profile not conformant', () => {
  // termination-at-fixed-location is a MAY; its example applies the core contract to a chain cut short.
  const r = runMutant('overclaim', 'arm64', only('chain-ending-before-final-frame-not-successful'));
  const res = r.get('chain-ending-before-final-frame-not-successful')!;
  failedWith(r, 'chain-ending-before-final-frame-not-successful', /got unsafe: reliable trace omits live function/);
  assert.equal(res.level, 'may');
  const profile = { ...builtinProfile('arm64-fp'), name: res.profile, reference: false };
  const c = buildConformance({ profile, requirements: loadCatalogue(), results: [...r.values()], applies: applicability, filter: 'mutant' });
  assert.equal(c.verdict, 'not-conformant');
  assert.match(c.reasons.join('\n'), /MUST trace-complete-or-nonzero failed: broken in chain-ending-before-final-frame-not-successful \(filed under MAY termination-at-fixed-location\): 1 unsafe walk/);
});
