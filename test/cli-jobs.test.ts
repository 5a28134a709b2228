/**
 * `npm run conformance --jobs N` judges groups of profiles in worker threads (and a lone profile's
 * --generate programs across workers): the reports must be exactly those of a run in one thread.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { join } from 'path';
import { groupTargets, type Target } from '../cli/conformance';
import { builtinProfile } from '../src/unwinders/profiles';

const ROOT = join(__dirname, '..');

function run(jobs: number): string {
  const out = join(mkdtempSync(join(tmpdir(), `jobs-${jobs}-`)), 'out');
  const args = ['--jobs', String(jobs), '--profile', 'arm64-fp', 'x86_64-orc', '--requirement', 'trace-complete-or-nonzero', '--generate', '3', '--seed', '7', '--no-html', '--quiet', '--out', out];
  const r = spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'cli/conformance.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

/** conformance.json without what differs from run to run (timestamps, durations). */
const report = (out: string, profile: string) =>
  JSON.parse(readFileSync(join(out, profile, 'conformance.json'), 'utf8'), (k, v: unknown) => (k === 'generatedAt' || k === 'durationMs' ? undefined : v)) as unknown;

test('--jobs 2 writes the same reports and snapshots as --jobs 1', () => {
  const one = run(1);
  const two = run(2);
  for (const p of ['arm64-fp', 'x86_64-orc']) {
    assert.deepEqual(report(two, p), report(one, p), p);
    assert.deepEqual(readdirSync(join(two, p, 'snapshots')).sort(), readdirSync(join(one, p, 'snapshots')).sort(), p);
  }
});

test('profiles are grouped by arch, an arch split only when there are fewer arches than jobs', () => {
  const t = (name: string): Target => ({ profile: builtinProfile(name) });
  const list = ['arm64-fp', 'x86_64-orc', 'arm64-meta', 'x86_64-fp'].map(t);
  const names = (g: ReturnType<typeof groupTargets>) => g.map((x) => x.map((y) => y.t.profile.name));
  assert.deepEqual(names(groupTargets(list, 1)), [['arm64-fp', 'x86_64-orc', 'arm64-meta', 'x86_64-fp']]);
  assert.deepEqual(names(groupTargets(list, 2)).sort(), [['arm64-fp', 'arm64-meta'], ['x86_64-orc', 'x86_64-fp']]);
  assert.deepEqual(names(groupTargets(list.slice(0, 1).concat(list[2]!), 2)).sort(), [['arm64-fp'], ['arm64-meta']]);
});
