import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyRule, type Rule } from '../src/conformance/expect';
import { ConformanceFailure, ConformanceSession, NotApplicable } from '../src/conformance/session';
import { isSpecQuote, specExample } from '../src/conformance/spec-text';
import { OUTCOMES, type Judgement, type Outcome } from '../src/oracle/oracle';
import type { ScenarioResult } from '../src/report/results';
import { builtinProfile } from '../src/unwinders/profiles';
import type { Walker } from '../src/unwinders/walker';

const j = (outcome: Outcome): Judgement => ({ outcome, rc: outcome === 'correctly-unreliable' ? -22 : 0, explanation: `the oracle says ${outcome}`, truth: [], trace: [], missing: [], extra: [], inverted: [], faults: [], reads: 0, accessesObserved: true });

test('rules: which oracle outcomes each rule accepts', () => {
  const table: Record<Rule, Outcome[]> = {
    'complete-or-unreliable': ['sound-reliable', 'correctly-unreliable', 'imprecise', 'undetected-corruption'],
    'exact-or-unreliable': ['sound-reliable', 'correctly-unreliable'],
    'reported-unreliable': ['correctly-unreliable'],
    // An imprecise trace never stands for a reliable one.
    reliable: ['sound-reliable'],
    'memory-safe': ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'undetected-corruption', 'runaway'],
    bounded: ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'undetected-corruption', 'faulted'],
    robust: ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'undetected-corruption'],
  };
  const all: Outcome[] = [...OUTCOMES];
  for (const [rule, ok] of Object.entries(table) as [Rule, Outcome[]][]) {
    for (const o of all) {
      const v = applyRule(rule, j(o));
      assert.equal(v.pass, ok.includes(o), `${rule} on ${o}`);
      if (!v.pass) assert.match(v.message!, new RegExp(`got ${o}: the oracle says ${o}`));
    }
  }
  assert.match(applyRule('exact-or-unreliable', j('imprecise')).message!, /cover letter/);
});

test('spec quotes and examples are checked verbatim', () => {
  assert.ok(isSpecQuote('The MOV saves the link register (X30) into X9 to preserve the return address\n before the BL clobbers'));
  assert.ok(!isSpecQuote('The MOV saves the frame pointer'));
  assert.deepEqual(specExample('caller:', 'caller:\n  STP X29, X30, [SP, -16]!\n  MOV X29, SP\n  ADR LR, <callee>\n  BLR LR\n  LDP X29, X30, [SP], #16\n  RET'), { workload: 'spec-caller', firstLine: 'caller:' });
  assert.throws(() => specExample('caller:', 'caller:\n  STP X29, X30, [SP, -32]!'), /not the spec's text verbatim/);
  assert.throws(() => specExample('callee:', 'callee:'), /no example named/);
});

const meta = (tags: string[]) => ({ name: 'a scenario', uri: 'features/x/y.feature', tags });

test('applicability: requirement condition, @arch tag, unknown requirement', () => {
  const fp = builtinProfile('arm64-fp');
  const orc = builtinProfile('x86_64-orc');
  assert.equal(new ConformanceSession({ profile: fp }, meta(['@req:trace-complete-or-nonzero', '@id:a'])).notApplicableReason(), undefined);
  assert.match(new ConformanceSession({ profile: orc }, meta(['@req:lr-reject-unless-identifiable', '@id:a'])).notApplicableReason()!, /applies only when the architecture has a link register/);
  assert.match(new ConformanceSession({ profile: orc }, meta(['@req:trace-complete-or-nonzero', '@arch:arm64', '@id:a'])).notApplicableReason()!, /specific to arm64; profile x86_64-orc is x86_64/);
  assert.match(new ConformanceSession({ profile: fp }, meta(['@req:no-such-thing'])).notApplicableReason()!, /no single known @req:/);
  // A workload the arch kit cannot build makes an arch-specific scenario not applicable, not failed;
  // an example with no @arch: tag must run on every arch, so there it is an error of the suite.
  assert.throws(() => new ConformanceSession({ profile: orc }, meta(['@req:trace-complete-or-nonzero', '@arch:x86_64'])).useWorkload('spec-function'), NotApplicable);
  assert.throws(
    () => new ConformanceSession({ profile: orc }, meta(['@req:trace-complete-or-nonzero'])).useWorkload('spec-function'),
    (e: unknown) => !(e instanceof NotApplicable) && /does not build workload spec-function, yet the example has no @arch: tag/.test((e as Error).message),
  );
});

test('a truncating walker fails the core rule with the oracle explanation, and the failure keeps its snapshot', async () => {
  const profile = builtinProfile('arm64-fp');
  const dir = mkdtempSync(join(tmpdir(), 'session-'));
  const truncating: Walker = {
    profile,
    walk: async (_s, loaded) => ({ result: { rc: 0, trace: [loaded.regs['pc']!] }, accesses: [] }),
    close: async () => {},
  };
  const s = new ConformanceSession({ profile, resultsFile: join(dir, 'r.ndjson'), reportDir: dir }, meta(['@topic:core-contract', '@req:trace-complete-or-nonzero', '@must', '@id:truncated-walk']), truncating);
  s.useWorkload('syscall-sleep');
  await s.requestForTask();
  assert.throws(() => s.expect('complete-or-unreliable'), (e: unknown) => e instanceof ConformanceFailure && /got unsafe: reliable trace omits live function\(s\): .*do_nanosleep/.test(e.message));
  const r = s.result('FAILED', 'ignored: the session keeps its own failure');
  assert.equal(r.status, 'failed');
  assert.equal(r.requirement, 'trace-complete-or-nonzero');
  assert.equal(r.level, 'must');
  assert.equal(r.walks[0]!.outcome, 'unsafe');
  assert.ok(r.walks[0]!.stackDump!.length > 0);
  assert.equal(r.walks[0]!.snapshotFile, join('snapshots', 'truncated-walk-1.json'));
  const snap = JSON.parse(readFileSync(join(dir, r.walks[0]!.snapshotFile!), 'utf8'));
  assert.equal(snap.id, r.walks[0]!.sceneId);
  s.writeResult(r);
  const line = JSON.parse(readFileSync(join(dir, 'r.ndjson'), 'utf8').trim()) as ScenarioResult;
  assert.equal(line.id, 'truncated-walk');
});

test('an error that is not a rule failure is recorded as errored; not-applicable keeps its reason', () => {
  const profile = builtinProfile('x86_64-fp');
  const s = new ConformanceSession({ profile }, meta(['@req:trace-complete-or-nonzero', '@id:e']));
  assert.equal(s.result('FAILED', 'Error: kit exploded').status, 'errored');
  const n = new ConformanceSession({ profile }, meta(['@req:lr-reject-unless-identifiable', '@id:n']));
  n.markNotApplicable(n.notApplicableReason()!);
  const r = n.result('SKIPPED', undefined);
  assert.equal(r.status, 'not-applicable');
  assert.match(r.message!, /link register/);
});

test('a sweep walks every boundary with the in-process reference walker and summarises the outcomes', async () => {
  const profile = builtinProfile('x86_64-orc');
  const s = new ConformanceSession({ profile }, meta(['@req:exception-walks-sound', '@id:sweep']));
  s.useWorkload('work-chain');
  s.everyBoundary('irq', ['work_b']);
  await s.requestFromHandler();
  s.expect('complete-or-unreliable');
  s.recordShare();
  const r = s.result('PASSED', undefined);
  assert.equal(r.status, 'passed');
  assert.ok(r.sweep!.walks >= 5, JSON.stringify(r.sweep));
  assert.equal(Object.values(r.sweep!.outcomes).reduce((a, b) => a + (b ?? 0), 0), r.sweep!.walks);
  assert.ok(!existsSync(join(tmpdir(), 'snapshots', 'sweep-1.json')));
});

test('named points of a function resolve to the instructions of each arch', async () => {
  const want: Record<string, Record<string, RegExp>> = {
    'arm64-fp': { prologue: /\(MOV X29, SP\)/, body: /\(BODY/, epilogue: /\(RET\)/ },
    'x86_64-fp': { prologue: /\(movq %rsp, %rbp\)/, body: /\(BODY/, epilogue: /\(ret\)/ },
  };
  for (const [name, points] of Object.entries(want)) {
    for (const [point, re] of Object.entries(points)) {
      const always: Walker = { profile: builtinProfile(name), walk: async () => ({ result: { rc: -1, trace: [] }, accesses: [] }), close: async () => {} };
      const s = new ConformanceSession({ profile: builtinProfile(name) }, meta(['@req:exception-walks-sound']), always);
      s.useWorkload('work-chain');
      s.exceptionIn('irq', point, 'work_b');
      await s.requestFromHandler();
      assert.match(s.walks[0]!.scene.moment, re, `${name} ${point}`);
      assert.match(s.walks[0]!.scene.moment, /work_b/);
    }
  }
  const s = new ConformanceSession({ profile: builtinProfile('arm64-fp') }, meta(['@req:exception-walks-sound']));
  s.useWorkload('work-chain');
  s.exceptionBefore('irq', 'HLT #0', 'work_b');
  await assert.rejects(s.requestFromHandler(), /work_b has no instruction "HLT #0" \(it has: .*MOV X29, SP/);
});

test('build-time metadata: covered functions pass; a profile with no compile-time analysis has none generated at build time', async () => {
  const orc = builtinProfile('x86_64-orc');
  const run = async (profile: typeof orc) => {
    const s = new ConformanceSession({ profile }, meta(['@req:unwind-metadata-generated-at-build-time', '@id:m']));
    s.useWorkload('work-chain');
    s.exceptionIn('irq', 'body', 'work_b');
    await s.requestFromHandler();
    return s;
  };
  const ok = await run(orc);
  ok.expectMetadataCovers('work_b');
  assert.throws(() => ok.expectMetadataCovers('no_such_fn'), /no symbol no_such_fn in the snapshot/);
  const noBuild = { ...orc, name: 'orc-without-objtool', claims: { ...orc.claims, usesCompileTimeAnalysis: false } };
  const s = await run(noBuild);
  assert.throws(() => s.expectMetadataCovers('work_b'), (e: unknown) => e instanceof ConformanceFailure && /does not claim compile-time analysis/.test(e.message));
});

test('an unwinder that reports every walk unreliable meets the core contract and no rule asking for a reliable trace', () => {
  // Formerly a feature scenario run with the suite's own unwinder for every profile; it judged no profile.
  for (const rule of ['complete-or-unreliable', 'exact-or-unreliable', 'reported-unreliable'] as Rule[]) assert.ok(applyRule(rule, j('correctly-unreliable')).pass, rule);
  assert.ok(!applyRule('reliable', j('correctly-unreliable')).pass);
});
