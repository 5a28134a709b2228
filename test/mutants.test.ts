/**
 * The mutant catalogue (src/mutants, issue 9): every faulty mutant is not conformant on the
 * requirement it names, and no correct one fails a MUST. Each faulty mutant runs the scenarios of its
 * named requirement (`--named-only`: that requirement's outcome depends on those alone), each correct
 * one the whole suite; verdicts only (no snapshots). MUTANTS_JOBS=2 runs them in two worker processes
 * (faster on an idle machine; the default, one process, costs least CPU beside the other test files).
 * A faulty mutant the catalogue marks `knownGap` is a todo: it is run and reported, and the reason
 * it escapes is in the catalogue, until the rule or scene it needs exists.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { MutantOutcome } from '../cli/mutants';
import { CATALOGUE, mutantProfile } from '../src/mutants';
import { loadCatalogue } from '../src/catalogue/catalogue';

const ROOT = join(__dirname, '..');
const REQUIREMENT_IDS = new Set(loadCatalogue().map((r) => r.id));

describe('the mutant catalogue', () => {
  test('has at least 25 faulty and 4 correct mutants, with unique ids, on both arches', () => {
    const faulty = CATALOGUE.filter((m) => m.kind === 'faulty');
    const correct = CATALOGUE.filter((m) => m.kind === 'correct');
    assert.ok(faulty.length >= 25, `${faulty.length} faulty mutants`);
    assert.ok(correct.length >= 4, `${correct.length} correct mutants`);
    assert.equal(new Set(CATALOGUE.map((m) => m.id)).size, CATALOGUE.length);
    for (const arch of ['arm64', 'x86_64', 'riscv64', 'loongarch64', 's390x', 'powerpc64']) assert.ok(CATALOGUE.some((m) => m.arch === arch && m.kind === 'correct'), `a correct ${arch} mutant`);
  });

  test('every faulty mutant names a catalogue requirement; correct ones name none', () => {
    for (const m of CATALOGUE) {
      if (m.kind === 'faulty') assert.ok(m.requirement && REQUIREMENT_IDS.has(m.requirement), `${m.id}: ${m.requirement} is not in src/catalogue/requirements.yaml`);
      else assert.equal(m.requirement, undefined, m.id);
      assert.equal(m.knownGap !== undefined && m.kind === 'correct', false, `${m.id}: only faulty mutants have known gaps`);
    }
  });

  test('the issues\' kernel fixes are each modelled', () => {
    const issue9 = ['fb799447ae29', '71c95825289f', 'a0f81bf26888', '7eaf51a2e094', 'beecfd6a88a6', '29c1c24a2707', 'f1d9a2abff66', '32ed1205682e', 'a63d7408afbd'];
    // Issue 15: s390x and powerpc64.
    const issue15 = ['ded466e18066', '708b13763920', 'd81675b60d09', 'bf018ee64489', '9580b71b5a78', 'c5cc3ca707bc'];
    for (const c of [...issue9, ...issue15]) {
      assert.ok(CATALOGUE.some((m) => m.commit?.startsWith(c)), `no mutant models ${c}`);
    }
  });

  test('each mutant profile loads its own unwinder through the module: mechanism', () => {
    const { referenceUnwinder } = require('../src/unwinders/registry') as typeof import('../src/unwinders/registry');
    for (const m of CATALOGUE) {
      const p = mutantProfile(m);
      assert.equal(p.reference, false);
      assert.match(referenceUnwinder(p).name, /mutant/, m.id);
    }
  });
});

describe('every mutant is judged as it should be', () => {
  let outcomes = new Map<string, MutantOutcome>();
  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'mutants-test-'));
    const json = join(dir, 'mutants.json');
    const r = spawnSync(process.execPath, ['-r', join(ROOT, 'scripts', 'ts-register.js'), join(ROOT, 'cli', 'mutants.ts'), '--jobs', process.env['MUTANTS_JOBS'] ?? '1', '--named-only', '--quiet', '--out', join(dir, 'reports'), '--json', json], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.ok(r.status === 0 || r.status === 1, `npm run mutants crashed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    const data = JSON.parse(readFileSync(json, 'utf8')) as { outcomes: MutantOutcome[] };
    outcomes = new Map(data.outcomes.map((o) => [o.id, o]));
  });

  for (const m of CATALOGUE) {
    if (m.kind === 'faulty') {
      test(`faulty ${m.id} is caught on ${m.requirement}`, m.knownGap ? { todo: m.knownGap } : {}, () => {
        const o = outcomes.get(m.id);
        assert.ok(o, `no outcome for ${m.id}`);
        assert.ok(o.caughtOnNamed, `${m.id}: ${m.requirement} is ${o.namedOutcome} (verdict ${o.verdict}; caught by ${o.caughtBy.join(', ') || 'nothing'})`);
      });
    } else {
      test(`correct ${m.id} fails no MUST`, () => {
        const o = outcomes.get(m.id);
        assert.ok(o, `no outcome for ${m.id}`);
        assert.deepEqual(o.mustFailures, [], `${m.id}: verdict ${o.verdict}`);
        assert.notEqual(o.verdict, 'not-conformant');
      });
    }
  }
});
