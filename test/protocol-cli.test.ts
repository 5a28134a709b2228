/**
 * End to end through `npm run conformance -- --unwinder "<cmd>"`: the C example gets the same
 * verdicts as the in-process arm64-fp reference, requirement by requirement and scenario by
 * scenario (the faulty example's verdicts are checked on the run of report-faulty-views.test.ts); a plugin that
 * hangs or crashes leaves the run complete with its walks judged runaway / errored.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { join } from 'path';
import { builtinProfile } from '../src/unwinders/profiles';

const ROOT = join(__dirname, '..');
const EX = join(ROOT, 'examples');
const build = spawnSync(join(ROOT, 'scripts', 'build-examples.sh'), { encoding: 'utf8' });

function conformance(out: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'cli/conformance.ts', '--no-html', '--quiet', '--out', out, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  return r;
}

/** Three one-walk scenarios: enough for a misbehaving plugin's first walk to fail and the next ones to be answered after a restart. */
const FEW_WALKS = ['blocked-syscall-task-complete-or-unreliable', 'blocked-kthread-complete-or-unreliable', 'fp-violation-walk-unless-build-rejects'].map((id) => `@id:${id}`).join(' or ');

interface Conf {
  verdict: string;
  requirements: { id: string; outcome: string }[];
  scenarios: { id: string; status: string; message?: string; walks: { outcome: string; explanation: string }[] }[];
}
const report = (out: string, profile: string): Conf => JSON.parse(readFileSync(join(out, profile, 'conformance.json'), 'utf8'));

/** A reference profile as a plugin would announce it: the same claims, no build-time analyser (written to a file). */
function withoutAnalyser(dir: string, name: string): string {
  const { analyser: _built, ...p } = builtinProfile(name);
  const file = join(dir, `${name}-no-analyser.json`);
  writeFileSync(file, JSON.stringify({ ...p, name: `${name}-no-analyser`, reference: false }));
  return file;
}

describe('conformance CLI with --unwinder', () => {
  it('the C example and the in-process arm64-fp reference get the same verdicts', { skip: build.status === 3 ? 'no C compiler' : false }, () => {
    assert.equal(build.status, 0, build.stderr);
    const out = mkdtempSync(join(tmpdir(), 'conf-c-'));
    const r = conformance(out, '--unwinder', join(EX, 'c-arm64-fp', 'build', 'c-arm64-fp'), '--validate-protocol', '--profile-file', withoutAnalyser(out, 'arm64-fp'));
    assert.ok(r.status !== null, `CLI did not finish: ${r.stderr}`);
    const c = report(out, 'c-arm64-fp');
    const ref = report(out, 'arm64-fp-no-analyser');
    // A plugin supplies no build-time analyser: the compile-time requirements are not run for it.
    assert.equal(new Map(c.requirements.map((x) => [x.id, x.outcome])).get('fp-protocol-validated-at-build-time'), 'not-run');
    assert.equal(c.verdict, ref.verdict);
    const refReq = new Map(ref.requirements.map((x) => [x.id, x.outcome]));
    for (const q of c.requirements) assert.equal(q.outcome, refReq.get(q.id), `requirement ${q.id}`);
    const refSc = new Map(ref.scenarios.map((x) => [x.id, x]));
    assert.equal(c.scenarios.length, ref.scenarios.length);
    for (const s of c.scenarios) {
      const o = refSc.get(s.id)!;
      assert.equal(s.status, o.status, `scenario ${s.id}: C ${s.message ?? ''} / reference ${o.message ?? ''}`);
      assert.deepEqual(s.walks.map((w) => w.outcome), o.walks.map((w) => w.outcome), `scenario ${s.id}`);
    }
    console.log(`# C example vs arm64-fp: ${c.scenarios.length} scenarios, ${c.scenarios.reduce((n, s) => n + s.walks.length, 0)} walks, verdict ${c.verdict}`);
  });

  it('the minimal starting point of docs/maintainers.md gets the always-unreliable verdict: no MUST fails, useless', () => {
    const out = mkdtempSync(join(tmpdir(), 'conf-minimal-'));
    const r = conformance(out, '--unwinder', `node ${join(EX, 'minimal-js', 'always-unreliable.js')}`, '--validate-protocol', '--profile-file', withoutAnalyser(out, 'arm64-always-unreliable'));
    assert.equal(r.status, 0, r.stderr);
    const m = report(out, 'my-arm64-unwinder');
    const ref = report(out, 'arm64-always-unreliable-no-analyser');
    assert.equal(m.verdict, ref.verdict);
    assert.ok(['conformant', 'conformant-with-warnings'].includes(m.verdict), JSON.stringify(m.requirements.filter((q) => q.outcome === 'failed')));
    assert.deepEqual(
      m.requirements.map((q) => [q.id, q.outcome]),
      ref.requirements.map((q) => [q.id, q.outcome]),
    );
    const walks = m.scenarios.flatMap((s) => s.walks);
    assert.ok(walks.length > 100);
    assert.ok(walks.every((w) => w.outcome === 'correctly-unreliable'), JSON.stringify([...new Set(walks.map((w) => w.outcome))]));
  });

  it('a hanging plugin: the run completes and its walks are runaway, with the timeout named', () => {
    const out = mkdtempSync(join(tmpdir(), 'conf-hang-'));
    const r = conformance(out, '--unwinder', `node ${join(EX, 'misbehaving', 'hang.js')}`, '--walk-timeout', '400', '--tags', FEW_WALKS);
    assert.ok(r.status !== null, 'the run did not finish');
    const h = report(out, 'misbehaving');
    const walks = h.scenarios.flatMap((s) => s.walks);
    assert.ok(walks.some((w) => w.outcome === 'runaway' && /no answer within 400 ms/.test(w.explanation)), JSON.stringify(walks.map((w) => w.outcome)));
    assert.ok(walks.some((w) => w.outcome === 'correctly-unreliable'), 'walks after a restart are answered');
  });

  it('a crashing plugin: the run completes and its walks are errored with its stderr', () => {
    const out = mkdtempSync(join(tmpdir(), 'conf-crash-'));
    conformance(out, '--unwinder', `node ${join(EX, 'misbehaving', 'crash.js')}`, '--tags', FEW_WALKS);
    const h = report(out, 'misbehaving');
    const walks = h.scenarios.flatMap((s) => s.walks);
    assert.ok(walks.some((w) => w.outcome === 'errored' && /exited with code 139[\s\S]*segfault-like death/.test(w.explanation)), JSON.stringify(walks.map((w) => w.outcome)));
    assert.ok(walks.some((w) => w.outcome === 'correctly-unreliable'));
  });
});
