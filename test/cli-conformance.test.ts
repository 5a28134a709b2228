import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildProgram, parseOptions, tagExpression } from '../cli/options';
import { main } from '../cli/conformance';
import { validateConformance, validateTraceability } from '../src/report/write';
import { FIXTURE_ARGS, runCli } from './fixtures/cli/run';

test('--help explains every option', () => {
  const help = buildProgram().helpInformation();
  for (const o of ['--profile <name...>', '--profile-file <path...>', '--requirement <id...>', '--topic <topic...>', '--tags <expr>', '--out <dir>', '--unwinder <command line>', '--validate-protocol', '--walk-timeout <ms>', '--no-html', '--quiet']) {
    assert.ok(help.includes(o), `help mentions ${o}`);
  }
  assert.ok(!help.includes('--cucumber-config'), 'the test-only option is hidden');
});

test('filters become one Cucumber tag expression over @req: and @topic: tags', () => {
  assert.equal(tagExpression(parseOptions([])), '');
  assert.equal(
    tagExpression(parseOptions(['--requirement', 'a', 'b', '--topic', 'link-register', '--tags', 'not @slow'])),
    '(@req:a or @req:b) and (@topic:link-register) and (not @slow)',
  );
  const o = parseOptions(['--no-html', '--quiet', '--walk-timeout', '250']);
  assert.equal(o.html, false);
  assert.equal(o.walkTimeout, 250);
  assert.equal(o.out, 'reports');
});

test('a profile file of one\'s own is validated: errors name the file and the JSON path', async () => {
  await assert.rejects(main(['--profile-file', 'test/fixtures/cli/fixture-bad-profile.json', '--quiet', '--no-html', '--out', '/tmp/never']), (e: Error) => {
    assert.match(e.message, /fixture-bad-profile\.json is invalid/);
    assert.match(e.message, /at \$\.name:/);
    assert.match(e.message, /at \$\.arch:/);
    assert.match(e.message, /at \$\.claims\.unwindsAcrossIrq:/);
    return true;
  });
});

test('end to end: a frame-dropping unwinder is not conformant, the sound one is; exit code 1 for a failing reference profile', () => {
  const r = runCli(FIXTURE_ARGS);
  assert.equal(r.status, 1, r.stderr + r.stdout);
  assert.match(r.stdout, /fixture-good \(ref\) +conformant +1\/0/);
  assert.match(r.stdout, /fixture-drop-frame \(ref\) +NOT conformant +0\/1/);
  assert.match(r.stdout, /Not conformant: fixture-drop-frame \(reference\) \(not-conformant\)/);

  const bad = validateConformance(JSON.parse(readFileSync(join(r.out, 'fixture-drop-frame', 'conformance.json'), 'utf8')));
  assert.equal(bad.verdict, 'not-conformant');
  assert.equal(bad.scope, 'filtered');
  const req = bad.requirements.find((x) => x.id === 'trace-complete-or-nonzero')!;
  assert.equal(req.outcome, 'failed');
  const s = bad.scenarios.find((x) => x.id === 'fixture-chain-walk')!;
  assert.equal(s.status, 'failed');
  assert.deepEqual(s.failures![0]!.missing, ['outer']);
  assert.ok(s.walks[0]!.stackDump!.length > 0, 'failed walk carries a stack dump');

  const good = validateConformance(JSON.parse(readFileSync(join(r.out, 'fixture-good', 'conformance.json'), 'utf8')));
  assert.equal(good.verdict, 'conformant');
  assert.equal(good.requirements.find((x) => x.id === 'trace-complete-or-nonzero')!.outcome, 'passed');

  const t = validateTraceability(JSON.parse(readFileSync(join(r.out, 'traceability.json'), 'utf8')));
  const row = t.requirements.find((x) => x.id === 'trace-complete-or-nonzero')!;
  assert.deepEqual(row.outcomes, { 'fixture-good': 'passed', 'fixture-drop-frame': 'failed' });
  assert.deepEqual(row.scenarios.map((x) => x.id), ['fixture-chain-walk']);

  for (const p of ['fixture-good', 'fixture-drop-frame']) {
    for (const f of ['conformance.md', 'conformance.html', 'results.ktap', 'junit.xml', 'cucumber-messages.ndjson', 'snapshots']) assert.ok(existsSync(join(r.out, p, f)), `${p}/${f}`);
  }
  const k = readFileSync(join(r.out, 'fixture-drop-frame', 'results.ktap'), 'utf8');
  assert.match(k, /^KTAP version 1\n/);
  assert.match(k, /^not ok \d+ trace-complete-or-nonzero$/m);
  assert.match(k, /^ {4}not ok 1 fixture-chain-walk$/m);
  {
  }
  assert.match(readFileSync(join(r.out, 'fixture-drop-frame', 'junit.xml'), 'utf8'), /<failure[^>]*>/);
  for (const f of ['traceability.md', 'traceability.html', 'summary.md', 'summary.html', 'allure-report/index.html']) assert.ok(existsSync(join(r.out, f)), f);
  assert.match(readFileSync(join(r.out, 'summary.md'), 'utf8'), /\| MUST trace-complete-or-nonzero \| 1 \/ 1 \| 0 \/ 1 ✘ \|/);
});
