import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Requirement } from '../src/catalogue/types';
import { loadCatalogue, applicability } from '../src/catalogue/catalogue';
import { alignWalk } from '../src/report/picture';
import { buildConformance, decideVerdict, usefulness } from '../src/report/verdict';
import { buildTraceability } from '../src/report/traceability';
import { validateConformance, validateTraceability, writeCrossReports, writeProfileReports } from '../src/report/write';
import { builtinProfile } from '../src/unwinders/profiles';
import { DROPPED_TRACE, DUPLICATED_TRACE, TRUE_TRACE, result, walk, world } from './fixtures/report/walks';
import { stackDump } from '../src/report/stack-dump';

const profile = { ...builtinProfile('x86_64-fp'), name: 'fixture' };

const req = (id: string, level: Requirement['level'], extra: Partial<Requirement> = {}): Requirement => ({
  id,
  title: `title of ${id}`,
  topic: 'core-contract',
  section: { original: '2', upstream: '2', title: 'Requirements' },
  level,
  levelWording: level,
  levelRationale: 'fixture',
  source: 'spec',
  quote: 'fixture',
  testability: 'runtime',
  ...extra,
});

const REQS = [
  req('must-a', 'must'),
  req('must-b', 'must'),
  req('should-c', 'should'),
  req('may-d', 'may'),
  req('must-nmi', 'must', { condition: 'claims.unwindsAcrossNmi', conditionText: 'the unwinder unwinds across NMIs' }),
  req('review-e', 'must', { testability: 'review-only', reviewOnlyReason: 'kernel source fact' }),
];
const applies = (r: Requirement) => (r.condition ? { applies: false, reason: `${r.id} needs ${r.conditionText}` } : { applies: true });

test('the oracle fixture: a true trace is sound, a dropped frame is unsafe, a repeated one imprecise', () => {
  assert.equal(walk(0, TRUE_TRACE).outcome, 'sound-reliable');
  assert.equal(walk(0, DROPPED_TRACE).outcome, 'unsafe');
  assert.equal(walk(0, DUPLICATED_TRACE).outcome, 'imprecise');
});

test('a failing MUST scenario makes the profile not conformant, naming the requirement and the missing function', () => {
  const results = [
    result({ requirement: 'must-a', level: 'must', status: 'failed', message: 'expected a sound walk, got unsafe', walks: [walk(0, DROPPED_TRACE)] }),
    result({ requirement: 'must-b', level: 'must', status: 'passed', walks: [walk(0, TRUE_TRACE)] }),
    result({ requirement: 'should-c', level: 'should', status: 'passed' }),
  ];
  const c = buildConformance({ profile, requirements: REQS, results, applies });
  assert.equal(c.verdict, 'not-conformant');
  assert.equal(c.reasons.length, 1);
  assert.match(c.reasons[0]!, /^MUST must-a failed/);
  const failed = c.scenarios.find((s) => s.requirement === 'must-a')!;
  assert.deepEqual(failed.failures![0]!.missing, ['outer']);
  assert.match(failed.failures![0]!.explanation, /omits live function\(s\): outer/);
  assert.equal(c.requirements.find((r) => r.id === 'must-a')!.outcome, 'failed');
  validateConformance(c);
});

test('verdict levels: SHOULD failure warns, unrun MUST is incomplete, unmet condition is listed not applicable', () => {
  const pass = (id: string, level: Requirement['level']) => result({ requirement: id, level, status: 'passed' });
  const allPass = [pass('must-a', 'must'), pass('must-b', 'must'), pass('should-c', 'should')];
  const ok = buildConformance({ profile, requirements: REQS, results: allPass, applies });
  assert.equal(ok.verdict, 'conformant');
  assert.deepEqual(ok.notApplicable, ['must-nmi']);
  assert.equal(ok.requirements.find((r) => r.id === 'may-d')!.outcome, 'not-run'); // MAY: informational
  assert.equal(ok.requirements.find((r) => r.id === 'review-e')!.outcome, 'review-only');

  const warn = buildConformance({ profile, requirements: REQS, results: [...allPass.slice(0, 2), result({ requirement: 'should-c', level: 'should', status: 'failed' })], applies });
  assert.equal(warn.verdict, 'conformant-with-warnings');

  const incomplete = buildConformance({ profile, requirements: REQS, results: allPass.slice(1), applies });
  assert.equal(incomplete.verdict, 'incomplete');
  assert.match(incomplete.reasons[0]!, /must-a/);

  // A MUST scenario that errored (the machinery or the unwinder broke) also fails the profile.
  const errored = buildConformance({ profile, requirements: REQS, results: [result({ requirement: 'must-a', level: 'must', status: 'errored' }), ...allPass.slice(1)], applies });
  assert.equal(errored.verdict, 'not-conformant');

  // Worst of the scenarios: one pass and one fail is a fail.
  assert.equal(decideVerdict(buildConformance({ profile, requirements: REQS, results: [...allPass, { ...allPass[0]!, id: 'x', status: 'failed' }], applies }).requirements).verdict, 'not-conformant');
});

test('a SHOULD or MAY scenario that catches an omitted live function, a fault or a runaway walk fails that MUST, in every view', () => {
  const SECTION2 = ['trace-complete-or-nonzero', 'walk-memory-safe', 'walk-terminates'];
  const reqs = [...REQS, ...SECTION2.map((id) => req(id, 'must'))];
  const pass = (id: string, level: Requirement['level']) => result({ id: `${id}-ex`, requirement: id, level, status: 'passed' });
  const allPass = [pass('must-a', 'must'), pass('must-b', 'must'), pass('should-c', 'should'), ...SECTION2.map((id) => pass(id, 'must'))];
  // A MAY scenario applying the core contract, whose one walk omitted `outer` with rc 0.
  const mayUnsafe = result({ id: 'may-unsafe', requirement: 'may-d', level: 'may', status: 'failed', walks: [walk(0, DROPPED_TRACE)] });
  const c = buildConformance({ profile, requirements: reqs, results: [...allPass, mayUnsafe], applies });
  assert.equal(c.verdict, 'not-conformant');
  assert.deepEqual(c.reasons, ['MUST trace-complete-or-nonzero failed: broken in may-unsafe (filed under MAY may-d): 1 unsafe walk(s)']);
  // The MUST itself shows failed, with the scenario that caught it: traceability and counts read this.
  const core = c.requirements.find((r) => r.id === 'trace-complete-or-nonzero')!;
  assert.equal(core.outcome, 'failed');
  assert.ok(core.scenarios.includes('may-unsafe'));
  assert.equal(c.counts.must.requirements.failed, 1);
  // A SHOULD sweep counts its faulted and runaway walks from the summary, not only the walks it kept.
  const shouldSweep = result({ id: 'should-sweep', requirement: 'should-c', level: 'should', status: 'failed', sweep: { walks: 9, reliable: 2, outcomes: { 'sound-reliable': 2, faulted: 3, runaway: 4 } } });
  const s = buildConformance({ profile, requirements: reqs, results: [...allPass.filter((r) => r.requirement !== 'should-c'), shouldSweep], applies });
  assert.equal(s.verdict, 'not-conformant');
  assert.deepEqual(s.reasons.sort(), [
    'MUST walk-memory-safe failed: broken in should-sweep (filed under SHOULD should-c): 3 faulted walk(s)',
    'MUST walk-terminates failed: broken in should-sweep (filed under SHOULD should-c): 4 runaway walk(s)',
  ]);
  // Imprecise walks (nothing live missing) stay a SHOULD warning.
  const imprecise = result({ id: 'should-imprecise', requirement: 'should-c', level: 'should', status: 'failed', walks: [walk(0, DUPLICATED_TRACE)] });
  assert.equal(buildConformance({ profile, requirements: reqs, results: [...allPass.filter((r) => r.requirement !== 'should-c'), imprecise], applies }).verdict, 'conformant-with-warnings');
  // An unsafe walk judged in a scenario that passed (its rule judged something else) still breaks the MUST.
  const passedUnsafe = result({ id: 'may-recorded', requirement: 'may-d', level: 'may', status: 'passed', walks: [walk(0, DROPPED_TRACE)] });
  assert.equal(buildConformance({ profile, requirements: reqs, results: [...allPass, passedUnsafe], applies }).verdict, 'not-conformant');
  // A scenario that does not apply (a kernel the profile's build rejects) breaks nothing.
  const notApplicable = result({ id: 'may-na', requirement: 'may-d', level: 'may', status: 'not-applicable', walks: [walk(0, DROPPED_TRACE)] });
  assert.equal(buildConformance({ profile, requirements: reqs, results: [...allPass, notApplicable], applies }).verdict, 'conformant');
});

test('an always-unreliable unwinder is flagged useless; a sound one useful', () => {
  const never = usefulness([result({ requirement: 'must-a', level: 'must', status: 'passed', sweep: { walks: 40, reliable: 0, outcomes: { 'correctly-unreliable': 40 } } })]);
  assert.equal(never.sweepShare, 0);
  assert.equal(never.rating, 'useless');
  const good = usefulness([
    result({ requirement: 'must-a', level: 'must', status: 'passed', sweep: { walks: 40, reliable: 30, outcomes: { 'sound-reliable': 30, 'correctly-unreliable': 10 } } }),
    result({ requirement: 'must-b', level: 'must', status: 'passed', walks: [walk(0, TRUE_TRACE), walk(-22, [])] }),
  ]);
  assert.equal(good.sweepShare, 0.75);
  assert.equal(good.judgedWalks, 42);
  assert.equal(good.reliableWalks, 31);
  assert.equal(good.rating, 'useful');
  // Reliable only for blocked tasks, never across an exception (a frame-pointer unwinder): limited, not useless.
  const fpLike = usefulness([
    result({ requirement: 'must-a', level: 'must', status: 'passed', sweep: { walks: 40, reliable: 0, outcomes: { 'correctly-unreliable': 40 } } }),
    result({ requirement: 'must-b', level: 'must', status: 'passed', walks: [walk(0, TRUE_TRACE)] }),
  ]);
  assert.equal(fpLike.rating, 'limited');
  // Only sound reliable walks are useful; imprecise and unsafe rc 0 walks are counted beside them.
  const rc0 = usefulness([
    result({ requirement: 'must-a', level: 'must', status: 'failed', sweep: { walks: 10, reliable: 2, outcomes: { 'sound-reliable': 2, imprecise: 3, unsafe: 1, 'correctly-unreliable': 4 } } }),
    result({ requirement: 'must-b', level: 'must', status: 'failed', walks: [walk(0, DROPPED_TRACE), walk(0, DUPLICATED_TRACE)] }),
  ]);
  assert.equal(rc0.sweepReliable, 2);
  assert.equal(rc0.reliableWalks, 2);
  assert.equal(rc0.impreciseWalks, 4);
  assert.equal(rc0.unsafeWalks, 2);
  assert.equal(rc0.judgedWalks, 12);
  // An unwinder whose every rc 0 walk is imprecise (a superset of the image's symbols) is useless.
  const superset = usefulness([result({ requirement: 'must-a', level: 'must', status: 'passed', walks: [walk(0, DUPLICATED_TRACE), walk(0, DUPLICATED_TRACE)] })]);
  assert.equal(superset.share, 0);
  assert.equal(superset.rating, 'useless');
  assert.equal(superset.impreciseShare, 1);
});

test('the failure picture marks the missing and duplicated functions against the true chain', () => {
  const rows = alignWalk(walk(0, DROPPED_TRACE));
  assert.deepEqual(rows.map((r) => [r.truth?.fn, r.trace?.fn, r.mark]), [
    ['inner', 'inner', 'ok'],
    ['outer', undefined, 'missing'],
    ['entry', 'entry', 'ok'],
  ]);
  const dup = alignWalk(walk(0, DUPLICATED_TRACE));
  assert.deepEqual(dup.filter((r) => r.mark !== 'ok').map((r) => [r.trace?.fn, r.mark]), [['inner', 'duplicated']]);
  // Inverted: outer reported before inner.
  const inv = alignWalk(walk(0, [0x1115, 0x1210, 0x1015]));
  assert.ok(inv.some((r) => r.mark === 'inverted'), JSON.stringify(inv));
});

test('the stack dump shows the words above SP with the frames and return addresses annotated', () => {
  const d = stackDump(world(), { words: 16 });
  const at = (a: string) => d.find((x) => x.addr === a)!;
  assert.match(at('0x13ef0').note!, /← rsp/);
  assert.match(at('0x13f00').note!, /← rbp/);
  assert.equal(at('0x13f08').value, '0x1115');
  assert.match(at('0x13f08').note!, /→ outer\+0x15/);
});

test('written reports validate against their schemas and show the failure', () => {
  const w = { ...walk(0, DROPPED_TRACE), stackDump: stackDump(world(), { words: 16 }) };
  const results = [
    result({ requirement: 'must-a', level: 'must', status: 'failed', message: 'expected sound, got unsafe', walks: [w] }),
    result({ requirement: 'must-b', level: 'must', status: 'passed', walks: [walk(0, TRUE_TRACE)] }),
  ];
  const c = buildConformance({ profile, requirements: REQS, results, applies });
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  writeProfileReports(join(dir, 'fixture'), c);
  const json = JSON.parse(readFileSync(join(dir, 'fixture', 'conformance.json'), 'utf8'));
  validateConformance(json);
  const md = readFileSync(join(dir, 'fixture', 'conformance.md'), 'utf8');
  assert.match(md, /Verdict: NOT conformant/);
  assert.match(md, /outer 0x1115 +\| +\| MISSING/);
  const html = readFileSync(join(dir, 'fixture', 'conformance.html'), 'utf8');
  assert.match(html, /class="m-missing"/);
  assert.match(html, /stack memory around the frames/);

  const t = buildTraceability(REQS, [{ id: 'must-a-1', name: 'x', uri: 'features/x.feature', requirement: 'must-a' }], [c]);
  validateTraceability(JSON.parse(JSON.stringify(t)));
  assert.deepEqual(t.coverage, { total: 6, covered: 2, uncovered: 3, reviewOnly: 1, uncoveredIds: ['should-c', 'may-d', 'must-nmi'] });
  writeCrossReports(dir, t, [c]);
  validateTraceability(JSON.parse(readFileSync(join(dir, 'traceability.json'), 'utf8')));
  assert.match(readFileSync(join(dir, 'summary.md'), 'utf8'), /\| fixture \|/);
  // Self-contained: opens from file:// with no server, no script and nothing fetched.
  for (const f of ['traceability.html', 'summary.html', 'fixture/conformance.html']) {
    const h = readFileSync(join(dir, f), 'utf8');
    assert.doesNotMatch(h, /<script|<link|src="|url\(/i, f);
  }
});

test('a schema violation names the file and the JSON path', () => {
  const c = buildConformance({ profile, requirements: REQS, results: [], applies });
  assert.throws(() => validateConformance({ ...c, verdict: 'great' }, 'x/conformance.json'), /x\/conformance\.json is invalid:\n {2}at \$\.verdict/);
});

test('the real catalogue: applicability comes from requirement conditions', () => {
  const reqs = loadCatalogue();
  const fp = builtinProfile('arm64-fp');
  const c = buildConformance({ profile: fp, requirements: reqs, results: [], applies: applicability });
  validateConformance(c);
  assert.ok(c.notApplicable.length > 0, 'some requirement has a condition arm64-fp does not meet');
  assert.equal(c.verdict, 'incomplete');
});
