/** Shared by the generated-program tests (test/generate*.test.ts). */
import assert from 'node:assert/strict';
import { applyRule } from '../src/conformance/expect';
import { analysableOn, type GenProgram } from '../src/generate/program';
import { buildCase, judgeCase, specOf } from '../src/generate/run';
import { kitFor } from '../src/scene/index';
import type { Arch } from '../src/snapshot/types';
import type { Shrunk } from '../src/generate/shrink';
import { builtinProfiles } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
import type { Unwinder } from '../src/unwinders/types';

/** A shrunk failure, rebuilt from its spec, still fails the same way, and a reference passes it. */
export function assertShrunkStillFails(s: Shrunk, u: Unwinder, id: string): void {
  assert.ok(s.to < s.from, `${id}: shrinking made nothing smaller`);
  // The minimal case, rebuilt from its spec, still fails the same way.
  const again = buildCase(s.arch, s.program, [s.moment]);
  const j = judgeCase(again, u).judgements[0]!;
  assert.equal(applyRule(s.failure.rule, j).pass, false);
  assert.equal(j.outcome, s.failure.outcome);
  // And a reference unwinder passes it.
  const ref = builtinProfiles().find((p) => p.arch === s.arch && p.reference)!;
  assert.ok(applyRule(s.failure.rule, judgeCase(again, referenceUnwinder(ref)).judgements[0]!).pass);
}

/** `arch`'s analyser flags exactly the generated functions the program declares for that arch. */
export function assertFindingsAsDeclared(p: GenProgram, arch: Arch): void {
  const mine = new Set(p.functions.map((f) => f.name));
  const findings = [...new Set(kitFor(arch).analyse(specOf(p, {}).workload).filter((f) => mine.has(f.fn)).map((f) => f.fn))].sort();
  const expected = p.expectFindings.filter((e) => e.arch === arch).map((e) => e.fn).sort();
  assert.deepEqual(findings, expected, `${arch} analyser findings in generated program ${p.id}`);
  assert.equal(analysableOn(p, arch), expected.length === 0);
  assert.equal(p.analysable, p.expectFindings.length === 0);
}
