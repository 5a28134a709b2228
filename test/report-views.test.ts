/**
 * The report views in parts (no CLI): rc != 0 pictures, a sweep's failures grouped by picture, notes
 * and messages folded, the decoded pt_regs and stack boundaries of the stack dump (arm64 and x86_64
 * kit scenes), spec links that resolve to headings of the spec text (no network), JUnit levels,
 * Allure history and executor, and replay's ground truth.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keepHistory, prepareAllureResults, withoutStackFrames, writeExecutor } from '../cli/allure';
import { loadCatalogueView } from '../src/report/catalogue-view';
import { failureGroups, noteBrief } from '../src/report/conformance-render';
import { junit } from '../src/report/junit';
import { alignWalk, groupLines, pictureText } from '../src/report/picture';
import { rstAnchors, specLink, SPEC_URL } from '../src/report/spec-links';
import { exceptionFrames, stackDump } from '../src/report/stack-dump';
import { buildConformance } from '../src/report/verdict';
import { effectiveLevel, outcomeClass, usefulnessRating } from '../src/report/views';
import { SPEC_FILE } from '../src/conformance/spec-text';
import { kitFor } from '../src/scene/index';
import { hex } from '../src/machine/addr';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { DROPPED_TRACE, DUPLICATED_TRACE, TRUE_TRACE, result, walk } from './fixtures/report/walks';
import type { ScenarioResult } from '../src/report/results';
import type { Profile } from '../src/unwinders/types';

/** The conformance record of `results` for `profile`, against the real catalogue. */
function judged(profile: Profile, results: ScenarioResult[]) {
  const { requirements, applies } = loadCatalogueView();
  return buildConformance({ profile, requirements, ...(applies ? { applies } : {}), results });
}

test('an rc != 0 walk does not label the true frames "omitted, as the spec allows"', () => {
  const w = walk(-22, []);
  const rows = alignWalk(w);
  assert.ok(rows.length >= 3);
  assert.ok(rows.every((r) => r.mark === 'unreported'), JSON.stringify(rows.map((r) => r.mark)));
  const text = pictureText(w);
  assert.doesNotMatch(text, /OMITTED/);
  assert.match(text, /rc -22, unreliable/);
});

test("a sweep's failures: one picture per shape, worst outcome first, with the points that share it", () => {
  const unsafe = (i: number) => ({ ...walk(0, DROPPED_TRACE), sceneId: `sweep/${i}`, moment: `IRQ before inner+0x${(4 * i).toString(16)}` });
  const imprecise = (i: number) => ({ ...walk(0, DUPLICATED_TRACE), sceneId: `sweep/d${i}`, moment: `IRQ before outer+0x${(4 * i).toString(16)}` });
  const walks = [imprecise(1), imprecise(2), ...Array.from({ length: 22 }, (_, i) => unsafe(i)), walk(0, TRUE_TRACE)];
  const s = { ...result({ requirement: 'x', status: 'failed', level: 'should', walks }), failures: [] };
  const g = failureGroups(s);
  assert.equal(g.length, 2, 'two shapes: unsafe and imprecise');
  assert.equal(g[0]![0]!.outcome, 'unsafe', 'unsafe pictured first, though imprecise walks came first');
  assert.equal(g[0]!.length, 22);
  assert.equal(g[1]!.length, 2);
  // The message's near-identical per-walk lines fold into one.
  const lines = Array.from({ length: 22 }, (_, i) => `IRQ before inner+0x${(4 * i).toString(16)}: expected rc != 0, got unsafe: omits outer (0x${(0x1115 + i).toString(16)})`);
  const folded = groupLines(lines);
  assert.equal(folded.length, 1);
  assert.match(folded[0]!, /^22 walks \(IRQ before inner\+0x0; IRQ before inner\+0x4; IRQ before inner\+0x8; and 19 more\): expected rc != 0, got unsafe/);
  const note = noteBrief(['22 of 30 walks broke the rule (x):', ...lines].join('\n'));
  assert.equal(note.split('\n').length, 1);
  assert.ok(note.length < 400, note);
});

test('the stack dump decodes each exception frame (pt_regs) and marks where stacks begin, on both arches', () => {
  for (const arch of ['arm64', 'x86_64'] as const) {
    const idx = arch === 'arm64' ? 2 : 3;
    const scene = kitFor(arch).buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: idx }, walk: 'in-handler' } });
    const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
    const frames = exceptionFrames(snap);
    assert.equal(frames.length, 1, `${arch}: one kernel-mode exception frame`);
    const truthPc = scene.truth.frames.filter((f) => f.why === 'exception').at(-1)!.addr;
    const f = frames[0]!;
    assert.match(f.summary, arch === 'arm64' ? /pc 0x[0-9a-f]+ \(work_b\+0x[0-9a-f]+\), lr\/x30 .*, x9 .*, fp 0x[0-9a-f]+, sp 0x[0-9a-f]+/ : /ip 0x[0-9a-f]+ \(work_b\+0x[0-9a-f]+\), sp 0x[0-9a-f]+, bp 0x[0-9a-f]+/);
    assert.ok(f.summary.includes(`${arch === 'arm64' ? 'pc' : 'ip'} ${hex(truthPc)}`), `${arch}: the decoded pc is the interrupted pc of the ground truth`);
    const dump = stackDump(snap);
    const notes = dump.map((d) => d.note ?? '').join('\n');
    assert.match(notes, arch === 'arm64' ? /\.pc: interrupted pc \(work_b/ : /\.ip: interrupted rip \(work_b/);
    assert.match(notes, arch === 'arm64' ? /regs\[30\] lr: interrupted x30/ : /\.bp: interrupted rbp/);
    if (arch === 'arm64') assert.match(notes, /regs\[9\] x9/);
    assert.match(notes, /══ irq stack \[/, `${arch}: the IRQ stack is marked`);
    assert.match(notes, /══ task stack \[/, `${arch}: the task stack is marked`);
  }
});

test('spec links resolve to headings of the spec (upstream numbering), for every requirement', () => {
  const anchors = rstAnchors(readFileSync(SPEC_FILE, 'utf8'));
  // The reviewed text has no "Compile-time analysis" section; upstream inserted it as section 3.
  anchors.add('compile-time-analysis');
  assert.ok(anchors.has('unwinding-across-interrupts-and-exceptions'));
  const reqs = loadCatalogueView().requirements;
  assert.ok(reqs.length > 30);
  for (const r of reqs) {
    const l = specLink(r.section);
    assert.ok(l.url.startsWith(`${SPEC_URL}#`), `${r.id}: ${l.url}`);
    const a = l.url.slice(SPEC_URL.length + 1);
    assert.ok(anchors.has(a), `${r.id} (${r.section.upstream} ${r.section.title}) links to #${a}, not a heading of the spec`);
  }
});

test('JUnit and colours carry the level: a MUST failure, a SHOULD failure and a MUST breached from a MAY scenario differ', () => {
  const profile = builtinProfile('arm64-fp');
  const c = judged(profile, [
      result({ requirement: 'trace-complete-or-nonzero', id: 'must-one', status: 'failed', level: 'must', message: 'rule broken', walks: [walk(0, DUPLICATED_TRACE)] }),
      result({ requirement: 'reliable-trace-in-true-order', id: 'should-one', status: 'failed', level: 'should', message: 'out of order', walks: [walk(0, DUPLICATED_TRACE)] }),
      result({ requirement: 'return-to-handler-middle-optional', id: 'may-breach', status: 'failed', level: 'may', message: 'x', walks: [walk(0, DROPPED_TRACE)] }),
  ]);
  const x = junit(c);
  assert.match(x, /<testcase classname="arm64-fp\.MUST" name="\[MUST\] trace-complete-or-nonzero: [^"]*" time="0"><properties>.*<\/properties><failure /);
  assert.match(x, /name="\[MUST\] must-one: [^"]*"/);
  assert.match(x, /name="\[SHOULD\] should-one: [^"]*"/);
  assert.match(x, /classname="arm64-fp\.MUST\.return-to-handler-middle-optional" name="\[MUST\] may-breach[^"]*"[^>]*><properties><property name="level" value="must"\/><property name="filed-level" value="may"\/><property name="requirement" value="return-to-handler-middle-optional"\/><property name="breaches-must" value="trace-complete-or-nonzero"\/>/);
  assert.equal(effectiveLevel(c.scenarios.find((s) => s.id === 'may-breach')!), 'must');
  assert.equal(outcomeClass('failed', 'may'), 'o-failed l-may');
  assert.notEqual(outcomeClass('failed', 'must'), outcomeClass('failed', 'may'));
  assert.equal(c.verdict, 'not-conformant');
  assert.equal(usefulnessRating({ verdict: 'not-conformant', usefulness: { ...c.usefulness, rating: 'useful' } }).cls, 'u-void');
});

test('Allure: messages lose stack frames; history is carried over from a single-file report; the executor is numbered after it', () => {
  assert.equal(withoutStackFrames('Error: expected rc != 0, got unsafe\n    at ConformanceSession.fail (/x/session.ts:1:2)\n    at World.<anonymous> (/x/steps.ts:3:4)'), 'expected rc != 0, got unsafe');
  const dir = mkdtempSync(join(tmpdir(), 'allure-history-'));
  const results = join(dir, 'allure-results');
  const report = join(dir, 'allure-report');
  mkdirSync(results);
  mkdirSync(report);
  const trend = [{ buildOrder: 4, reportName: 'r', data: { failed: 1, broken: 0, skipped: 0, passed: 2, unknown: 0, total: 3 } }];
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');
  writeFileSync(join(report, 'index.html'), `<script>d('history/history-trend.json','${b64(trend)}'),\n d('history/history.json','${b64({ a: 1 })}'),\n d('data/x.json','e30=')</script>`);
  assert.equal(keepHistory(results, report), 2);
  assert.deepEqual(JSON.parse(readFileSync(join(results, 'history', 'history-trend.json'), 'utf8')), trend);
  const e = writeExecutor(results, report, {});
  assert.equal(e.buildOrder, 5);
  assert.equal(JSON.parse(readFileSync(join(results, 'executor.json'), 'utf8')).type, 'local');
  assert.equal(writeExecutor(results, report, { GITHUB_ACTIONS: 'true', GITHUB_RUN_NUMBER: '77' }).buildOrder, 77);
  // A run writes into <out>/.conformance-staging-<pid>/: the previous report is the one in place at <out>/allure-report.
  const stage = join(dir, '.conformance-staging-123');
  mkdirSync(join(stage, 'allure-results'), { recursive: true });
  assert.equal(keepHistory(join(stage, 'allure-results'), join(stage, 'allure-report')), 2);
  assert.deepEqual(JSON.parse(readFileSync(join(stage, 'allure-results', 'history', 'history-trend.json'), 'utf8')), trend);
});

test('Allure results follow the record: Failed for a failed rule, Broken for an errored scenario, Skipped for not run; attachments for failures', () => {
  const out = mkdtempSync(join(tmpdir(), 'allure-prepare-'));
  const profile = { ...builtinProfile('arm64-fp'), name: 'p1' };
  const c = judged(profile, [
      result({ requirement: 'trace-complete-or-nonzero', id: 'rule-broken', status: 'failed', level: 'must', message: 'expected rc != 0, got unsafe', walks: [walk(0, DROPPED_TRACE)] }),
      result({ requirement: 'walk-terminates', id: 'plugin-crashed', status: 'errored', level: 'must', message: 'Error: the unwinder exited (code 1)\n    at ExternalWalker.walk (/x/external-walker.ts:10:3)', walks: [] }),
      result({ requirement: 'walk-memory-safe', id: 'nothing-observed', status: 'not-run', level: 'must', message: 'nothing was observed', walks: [] }),
      result({ requirement: 'plt-and-veneers-handled', id: 'may-pass-unsafe', status: 'passed', level: 'should', walks: [walk(0, DROPPED_TRACE)] }),
  ]);
  mkdirSync(join(out, 'p1'), { recursive: true });
  writeFileSync(join(out, 'p1', 'conformance.json'), JSON.stringify(c));
  const dir = join(out, 'allure-results');
  mkdirSync(dir);
  const frames = 'Error: boom\n    at ConformanceSession.fail (/w/src/conformance/session.ts:451:11)';
  for (const [id, status] of [['rule-broken', 'broken'], ['plugin-crashed', 'broken'], ['nothing-observed', 'passed'], ['may-pass-unsafe', 'passed']] as const) {
    writeFileSync(join(dir, `${id}-result.json`), JSON.stringify({
      uuid: id, name: id, status, statusDetails: { message: frames, trace: frames },
      labels: [{ name: 'profile', value: 'p1' }, { name: 'tag', value: `@id:${id}` }, { name: 'severity', value: 'normal' }],
      steps: [{ status: 'broken', statusDetails: { message: frames, trace: frames } }], attachments: [],
    }));
  }
  assert.equal(prepareAllureResults(dir), 4);
  assert.equal(prepareAllureResults(dir), 4, 'idempotent');
  const get = (id: string) => JSON.parse(readFileSync(join(dir, `${id}-result.json`), 'utf8')) as {
    status: string; statusDetails: { message: string; trace?: string }; labels: { name: string; value: string }[]; steps: { status: string; statusDetails: { message: string } }[]; attachments: { name: string; source: string }[];
  };
  const failed = get('rule-broken');
  assert.equal(failed.status, 'failed');
  assert.equal(failed.steps[0]!.status, 'failed');
  assert.match(failed.statusDetails.message, /^expected rc != 0, got unsafe\nworst walk: unsafe$/);
  assert.match(failed.statusDetails.trace!, /^Rerun: npm run conformance -- --profile p1 --tags '@id:rule-broken'$/m);
  assert.deepEqual(failed.attachments.map((a) => a.name), ['walk 1: picture', 'walk 1: picture (HTML)']);
  assert.match(readFileSync(join(dir, failed.attachments[0]!.source), 'utf8'), /MISSING/);
  const broken = get('plugin-crashed');
  assert.equal(broken.status, 'broken');
  assert.equal(broken.statusDetails.message, 'the unwinder exited (code 1)');
  assert.equal(get('nothing-observed').status, 'skipped');
  const breach = get('may-pass-unsafe');
  assert.equal(breach.status, 'failed', 'a passed SHOULD scenario whose walk is unsafe fails the MUST');
  assert.equal(breach.labels.find((l) => l.name === 'severity')!.value, 'critical');
  for (const id of ['rule-broken', 'plugin-crashed', 'nothing-observed', 'may-pass-unsafe']) {
    const r = get(id);
    assert.doesNotMatch(JSON.stringify(r.statusDetails) + JSON.stringify(r.steps), /session\.ts:\d+/, id);
  }
});
