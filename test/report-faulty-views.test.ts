/**
 * One source of truth: the deliberately faulty plugin examples/faulty-trusts-lr, run through the CLI
 * as a user runs it, is NOT conformant, and every view says its MUSTs failed — the terminal table,
 * summary, traceability, conformance.json / .md / .html, junit.xml, KTAP and the Allure results —
 * including the MUST trace-complete-or-nonzero, breached by unsafe walks of scenarios filed under a
 * SHOULD (irq-sweep-fgraph-in-order) and a MAY. Then `npm run replay` on one of its report
 * snapshots shows the true chain and the judgement.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Conformance } from '../src/report/verdict';
import type { Traceability } from '../src/report/traceability';

const ROOT = resolve(__dirname, '..');
const CMD = `node ${join(ROOT, 'examples', 'faulty-trusts-lr', 'unwinder.js')}`;
const NAME = 'faulty-trusts-lr';
const MUST = 'trace-complete-or-nonzero';
const BREACH = 'irq-sweep-fgraph-in-order'; // filed under SHOULD reliable-trace-in-true-order

describe('examples/faulty-trusts-lr: every view agrees that its MUSTs failed', { timeout: 300_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'faulty-views-'));
  let run: { status: number | null; stdout: string; stderr: string };
  let c: Conformance;
  const file = (...p: string[]) => readFileSync(join(out, ...p), 'utf8');

  before(() => {
    const r = spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'cli/conformance.ts', '--unwinder', CMD, '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
    run = { status: r.status, stdout: r.stdout, stderr: r.stderr };
    c = JSON.parse(file(NAME, 'conformance.json')) as Conformance;
  });

  test('exit status and the terminal table', () => {
    assert.equal(run.status, 1, run.stderr.slice(-2000));
    const row = run.stdout.split('\n').find((l) => l.startsWith(NAME))!;
    assert.ok(row, run.stdout);
    assert.match(row, /NOT conformant/);
    const mustFailed = c.requirements.filter((r) => r.level === 'must' && r.outcome === 'failed').length;
    assert.ok(mustFailed >= 6);
    assert.match(row, new RegExp(`\\b${c.counts.must.requirements.passed ?? 0}/${mustFailed}\\b`), 'MUST pass/fail counts requirements, the breached MUST among them');
    assert.doesNotMatch(row, /\buseful\b/);
  });

  test('conformance.json: the breached MUST is failed, with the SHOULD scenario that breached it', () => {
    assert.equal(c.verdict, 'not-conformant');
    const r = c.requirements.find((x) => x.id === MUST)!;
    assert.equal(r.outcome, 'failed');
    assert.ok(r.scenarios.includes(BREACH));
    assert.equal(c.scenarios.find((s) => s.id === BREACH)!.level, 'should');
    assert.ok(c.reasons.some((x) => x.startsWith(`MUST ${MUST} failed`)));
    assert.ok((c.counts.must.requirements.failed ?? 0) >= 6);
  });

  test('summary.md / .html: the MUST row is failed, not green 4/4', () => {
    const md = file('summary.md');
    const row = md.split('\n').find((l) => l.startsWith(`| MUST ${MUST} |`))!;
    assert.match(row, /\| (\d+) \/ (\d+) ✘ \|/);
    const [, p, n] = /(\d+) \/ (\d+)/.exec(row)!;
    assert.ok(Number(p) < Number(n), row);
    const html = file('summary.html');
    const tr = html.split('\n').find((l) => l.includes(`MUST ${MUST}<`))!;
    assert.match(tr, /class="o-failed l-must"/);
    // The reliable share beside a NOT conformant verdict is not green.
    assert.doesNotMatch(html, /<span class="useful">/);
    assert.match(html, /class="u-void"/);
  });

  test('traceability.json / .html: failed under the MUST', () => {
    const t = JSON.parse(file('traceability.json')) as Traceability;
    assert.equal(t.requirements.find((r) => r.id === MUST)!.outcomes[NAME], 'failed');
    const html = file('traceability.html');
    const tr = html.split('\n').find((l) => l.includes(`<code>${MUST}</code>`))!;
    // The cell links the scenarios filed elsewhere that breached it.
    assert.match(tr, new RegExp(`<td class="o-failed l-must">✘ FAIL<br><span class="small">via <a href="${NAME}/conformance\\.html#sc-[^"]+">`));
    assert.doesNotMatch(html, /<span class="useful">/);
    // MAY failures are not shaded like MUST ones.
    const may = c.requirements.find((r) => r.level === 'may' && r.outcome === 'failed' && !r.scenarios.some((s) => s === BREACH))!;
    assert.ok(may);
    assert.match(html.split('\n').find((l) => l.includes(`<code>${may.id}</code>`))!, /class="o-failed l-may"/);
  });

  test('conformance.html / .md: counts include the breach, the first failure listed is a MUST, usefulness is not green', () => {
    const html = file(NAME, 'conformance.html');
    assert.match(html, /id="verdict">NOT conformant</);
    assert.match(html, /<td>MUST<\/td><td>\d+ passed, (\d+) failed<\/td>/);
    assert.match(html, /\(\+\d+ filed under SHOULD \/ MAY that break a MUST\)/);
    assert.match(html, /<span class="u-void" id="usefulness">/);
    const toc = /<ol class="toc">(.*?)<\/ol>/s.exec(html)![1]!;
    assert.match(toc, /^<li class="l-must"><a href="#sc-[^"]+"><span class="lvl lvl-must">MUST<\/span>/);
    assert.match(html, new RegExp(`<code id="req-${MUST}">${MUST}</code>.*?<td class="o-failed l-must">failed</td>`));
    // A sweep's failures: one picture per shape, and a table of the points that share it.
    assert.match(html, /The same picture at \d+ more instruction point\(s\)/);
    // The stack dump decodes the interrupted pt_regs and marks the stacks.
    assert.match(html, /\.pc: interrupted pc/);
    assert.match(html, /══ irq stack \[/);
    const md = file(NAME, 'conformance.md');
    assert.match(md.split('## Failures, worst first')[1]!.split('\n').find((l) => l.startsWith('- ['))!, /^- \[MUST /);
  });

  test('junit.xml: the MUST fails, each test case carries its level', () => {
    const x = file(NAME, 'junit.xml');
    assert.match(x, new RegExp(`<testcase classname="${NAME}\\.MUST" name="\\[MUST\\] ${MUST}: [^"]*" time="0">.*?<failure `));
    assert.match(x, new RegExp(`name="\\[MUST\\] ${BREACH}: [^"]*".*?<property name="filed-level" value="should"/>.*?<property name="breaches-must" value="${MUST}"/>.*?<failure `));
    assert.match(x, /name="\[SHOULD\] [^"]*"[^\n]*<failure /);
    assert.ok(existsSync(join(out, NAME, 'cucumber-junit.xml')), "Cucumber's own JUnit is kept beside it");
  });

  test('KTAP: not ok for the MUST, with the SHOULD scenario that breached it as a failed subtest', () => {
    const k = file(NAME, 'results.ktap');
    assert.match(k, new RegExp(`^# MUST ${MUST} failed: .*\nnot ok \\d+ ${MUST}$`, 'm'));
    const sub = k.split(`# Subtest: ${MUST}`)[1]!.split(/^(?:not ok|ok) \d+ /m)[0]!;
    assert.match(sub, new RegExp(`not ok \\d+ ${BREACH}`));
  });

  test('Allure results: Failed (not Broken), critical, no stack frames, picture / stack dump / snapshot attached; executor', () => {
    const dir = join(out, 'allure-results');
    const results = readdirSync(dir).filter((f) => f.endsWith('-result.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      status: string; statusDetails?: { message?: string; trace?: string }; labels: { name: string; value: string }[]; attachments: { name: string; source: string; type: string }[];
    });
    const byId = (id: string) => results.find((r) => r.labels.some((l) => l.name === 'tag' && l.value === `@id:${id}`))!;
    const failed = results.filter((r) => r.status === 'failed');
    assert.equal(failed.length, c.scenarios.filter((s) => s.status === 'failed').length);
    assert.equal(results.filter((r) => r.status === 'broken').length, 0, 'nothing errored: no Broken');
    for (const r of results) assert.doesNotMatch(`${r.statusDetails?.message ?? ''}\n${r.statusDetails?.trace ?? ''}`, /^\s+at .*\.ts:\d+/m);
    const b = byId(BREACH);
    assert.equal(b.status, 'failed');
    assert.equal(b.labels.find((l) => l.name === 'severity')!.value, 'critical');
    assert.ok(b.labels.some((l) => l.name === 'tag' && l.value === `breaks MUST ${MUST}`));
    assert.match(b.statusDetails!.message!, new RegExp(`its walks break the MUST ${MUST}`));
    const kinds = b.attachments.map((a) => a.name);
    for (const k of [': picture', ': picture (HTML)', ': stack dump', ': snapshot ', ': ground truth ']) assert.ok(kinds.some((n) => n.includes(k)), `${k} in ${kinds.join(', ')}`);
    for (const a of b.attachments) assert.ok(existsSync(join(dir, a.source)), a.source);
    const pic = b.attachments.find((a) => a.name.endsWith(': picture'))!;
    assert.match(readFileSync(join(dir, pic.source), 'utf8'), /MISSING/);
    assert.equal(byId(c.scenarios.find((s) => s.status === 'not-applicable')!.id).status, 'skipped');
    assert.ok(existsSync(join(dir, 'executor.json')));
    assert.ok(existsSync(join(out, 'allure-report', 'index.html')));
  });

  test('replay of a report snapshot shows the true chain and the judgement', () => {
    const snaps = readdirSync(join(out, NAME, 'snapshots'));
    const snap = snaps.find((f) => f.startsWith(`${BREACH}-`) && !f.endsWith('.truth.json'))!;
    assert.ok(snaps.includes(snap.replace(/\.json$/, '.truth.json')));
    const r = spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'src/protocol/replay.ts', '--unwinder', CMD, join(out, NAME, 'snapshots', snap)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /true call chain \(innermost first\)/);
    assert.match(r.stdout, /MISSING/);
    assert.match(r.stdout, /^judgement: +unsafe — /m);
    assert.match(r.stdout, /^in the report: +unsafe — /m);
  });
});
