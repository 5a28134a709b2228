/**
 * End to end on the real features: an in-process unwinder that drops a frame (a profile with
 * "unwinder": "module:test/fixtures/...") is judged not conformant, for the right requirement, with
 * the oracle's explanation naming the missing function, and every report validates.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateConformance, validateTraceability } from '../src/report/write';
import { ROOT } from './fixtures/cli/run';

const FEATURE = join(ROOT, 'features', 'core-contract', 'reliable-trace-contract.feature');
const skip = existsSync(FEATURE) ? false : 'features/core-contract/reliable-trace-contract.feature is not in this tree';

test('a frame-dropping unwinder fails trace-complete-or-nonzero, with the missing caller named', { skip, timeout: 300_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'e2e-'));
  const r = spawnSync(
    process.execPath,
    ['-r', './scripts/ts-register.js', 'cli/conformance.ts', '--profile-file', 'test/fixtures/report/drop-caller-arm64.json',
      '--requirement', 'trace-complete-or-nonzero', '--tags', 'not @sweep', '--no-html', '--quiet', '--out', out],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
  // Every judged profile sets the exit status: not conformant is 1, reference or not.
  assert.equal(r.status, 1, r.stderr + r.stdout);
  assert.match(r.stdout, /fixture-arm64-drop-caller +NOT conformant/);

  const c = validateConformance(JSON.parse(readFileSync(join(out, 'fixture-arm64-drop-caller', 'conformance.json'), 'utf8')));
  assert.equal(c.verdict, 'not-conformant');
  assert.equal(c.requirements.find((x) => x.id === 'trace-complete-or-nonzero')!.outcome, 'failed');
  assert.ok(c.reasons.some((x) => x.startsWith('MUST trace-complete-or-nonzero failed')), c.reasons.join('\n'));

  // A blocked task: the walk is reliable, so dropping the caller leaves exactly one live function out.
  const blocked = c.scenarios.find((s) => s.id === 'blocked-syscall-task-complete-or-unreliable')!;
  assert.equal(blocked.status, 'failed', blocked.message);
  const f = blocked.failures![0]!;
  assert.equal(f.outcome, 'unsafe');
  assert.equal(f.missing.length, 1, JSON.stringify(f));
  const w = blocked.walks[0]!;
  assert.equal(f.missing[0], w.truth.find((t) => !t.omissible && !w.trace.some((e) => e.fn === t.fn))!.fn);
  assert.match(f.explanation, new RegExp(`omits live function\\(s\\): ${f.missing[0]}`));
  assert.ok(w.stackDump?.length, 'the failed walk carries the stack memory around its frames');

  const md = readFileSync(join(out, 'fixture-arm64-drop-caller', 'conformance.md'), 'utf8');
  assert.match(md, new RegExp(`${f.missing[0]} 0x[0-9a-f]+ +\\| +\\| MISSING`));
  validateTraceability(JSON.parse(readFileSync(join(out, 'traceability.json'), 'utf8')));
});
