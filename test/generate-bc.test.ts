/**
 * Generated programs on the back-chain arches, s390x and powerpc64 (src/generate/emit-s390x.ts,
 * emit-powerpc64.ts): the analysers flag exactly what a program declares for the arch (nothing: the `lrReg`
 * leaf calls nothing), the reference profiles are conformant on a seeded batch whose scenes hold every
 * corruption kind and the placed frames, recursion puts a function on the stack once per level, and a faulty
 * mutant of each arch fails generated scenes and is shrunk to a minimal case that still fails, printed as a Gherkin
 * example that runs through the generic step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyRule } from '../src/conformance/expect';
import { generateProgram, type GenProgram } from '../src/generate/program';
import { s390xCode } from '../src/generate/emit-s390x';
import { powerpc64Code } from '../src/generate/emit-powerpc64';
import { ALL_GENERATED_CORRUPTIONS, buildCase, caseResults, generatedCase, judgeCase, specOf, type GeneratedCase } from '../src/generate/run';
import { failureOf, shrink } from '../src/generate/shrink';
import { mutantById, mutantProfile } from '../src/mutants/index';
import { kitFor } from '../src/scene/index';
import * as powerpc64Kit from '../src/kernel/powerpc64/kit';
import { builtinProfiles } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
import type { Profile } from '../src/unwinders/types';
import { gherkinFeature } from '../src/generate/artifacts';
import { ConformanceSession } from '../src/conformance/session';
import { AstBuilder, GherkinClassicTokenMatcher, Parser } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';

const ARCHES = ['s390x', 'powerpc64'] as const;
const SEED = 1;

test('s390x and powerpc64: the analysers flag exactly what a generated program declares, and the LR-in-a-register leaf is the arch\'s own', () => {
  let lrLeaves = 0;
  for (let n = 0; n < 24; n++) {
    const p = generateProgram(SEED, n);
    const w = specOf(p, {}).workload;
    const mine = new Set(p.functions.map((f) => f.name));
    for (const arch of ARCHES) {
      const findings = [...new Set(kitFor(arch).analyse(w).filter((f) => mine.has(f.fn)).map((f) => f.fn))].sort();
      assert.deepEqual(findings, p.expectFindings.filter((e) => e.arch === arch).map((e) => e.fn).sort(), `${arch} analyser findings in generated program ${p.id}`);
    }
    const leaf = p.functions.find((f) => f.lrReg);
    if (!leaf) continue;
    lrLeaves++;
    // Spec 3.3: the return address in another register, the link register holding a text address of gen_sys.
    const fn = (text: string): string => text.slice(text.indexOf(`SYM_FUNC_START(${leaf.name})`), text.indexOf(`SYM_FUNC_END(${leaf.name})`));
    assert.match(fn(s390xCode(p).kernel), /lgr %r5,%r14\n\s+larl %r14,gen_sys[\s\S]*br %r5\n$/);
    assert.match(fn(powerpc64Code(p).kernel), /mflr r11\n\s+LOAD_REG_ADDR\(r12, gen_sys\)[\s\S]*mtlr r12[\s\S]*mtctr r11\n\s+bctr\n$/);
  }
  assert.ok(lrLeaves > 0);
});

/**
 * Cases of the seed on `arch`, built once for the tests below: the first 24, and on until every corruption
 * kind has been kept in some scene (at most 160).
 */
const batch = new Map<string, GeneratedCase[]>();
const casesOf = (arch: (typeof ARCHES)[number]): GeneratedCase[] => {
  let cs = batch.get(arch);
  if (cs) return cs;
  cs = [];
  const kinds = new Set<string>();
  for (let n = 0; n < 160 && (n < 24 || kinds.size < ALL_GENERATED_CORRUPTIONS.length); n++) {
    const c = generatedCase(arch, SEED, n);
    for (const mo of c.moments) if (mo.corrupt) kinds.add(mo.corrupt);
    cs.push(c);
  }
  batch.set(arch, cs);
  return cs;
};

for (const arch of ARCHES) {
  test(`${arch}: the reference profiles are conformant on generated scenes holding every corruption kind, module / BPF frames mid-chain, kernel threads and NMIs at IRQ steps`, () => {
    const cases = casesOf(arch);
    const profiles = builtinProfiles().filter((p) => p.arch === arch && p.reference);
    assert.ok(profiles.length >= 1);
    let sound = 0;
    for (const c of cases) {
      for (const p of profiles) {
        const cj = judgeCase(c, referenceUnwinder(p));
        sound += cj.judgements.filter((j) => j.outcome === 'sound-reliable').length;
        for (const r of caseResults(p, c, cj, 0)) assert.equal(r.status, 'passed', `${p.name} ${r.id} ${r.requirement}: ${r.message}`);
      }
    }
    // Blocked tasks walk reliably (every exception boundary is refused, as upstream does).
    assert.ok(sound >= cases.length / 2, `${arch}: ${sound} sound reliable walks in ${cases.length} programs`);
    const kinds = new Set<string>();
    const seen = new Set<string>();
    for (const c of cases) {
      if (c.program.kthread) seen.add('kthread');
      for (const [i, mo] of c.moments.entries()) {
        if (mo.corrupt) kinds.add(mo.corrupt);
        if (mo.nestedAfter) seen.add('nmi at a step of the IRQ');
        if (mo.exception && !mo.corrupt) seen.add(mo.exception);
        for (const f of c.scenes[i]!.scene.truth.frames.slice(1)) {
          const pl = c.program.functions.find((x) => x.name === f.fn)?.placement;
          if (pl === 'module' || pl === 'bpf') seen.add(`${pl} frame mid-chain`);
        }
      }
    }
    assert.deepEqual([...ALL_GENERATED_CORRUPTIONS].filter((k) => !kinds.has(k)), [], `${arch}: corruption kinds never kept in ${cases.length} programs`);
    assert.deepEqual([...seen].sort(), ['bpf frame mid-chain', 'brk', 'irq', 'kthread', 'module frame mid-chain', 'nmi', 'nmi at a step of the IRQ', 'page-fault']);
  });
}

test('powerpc64: an efi-placed function is firmware code in the foreign region, entered with interrupts off; on s390x it is kernel text', () => {
  const p: GenProgram = [...Array(40).keys()].map((n) => generateProgram(SEED, n)).find((q) => q.functions.some((f) => f.placement === 'efi'))!;
  const efi = p.functions.find((f) => f.placement === 'efi')!;
  const ppc = powerpc64Code(p);
  assert.match(ppc.efi!, new RegExp(`^${efi.name}:\\n\\s+stdu r1, -64\\(r1\\)`, 'm'));
  assert.ok(!s390xCode(p).kernel.includes(`${efi.name}:`) && s390xCode(p).kernel.includes(`SYM_FUNC_START(${efi.name})`));
  // Firmware runs with interrupts off: an NMI (system reset) is the only exception that finds it on the stack.
  const spec = specOf(p, {});
  const inFirmware = powerpc64Kit.boundaries(spec.workload, spec.instrument).filter((b) => b.fn === efi.name);
  assert.ok(inFirmware.length > 0 && inFirmware.every((b) => b.irqMasked));
  const c = buildCase('powerpc64', p, [{}]);
  assert.ok(!c.scenes[0]!.scene.truth.frames.some((f) => f.fn === efi.name), 'firmware code is a leaf: never on a blocked stack');
});

test('s390x and powerpc64: a recursive function is on the blocked task\'s stack once per level', () => {
  let checked = 0;
  for (let n = 0; n < 20 && checked < 2; n++) {
    const p = generateProgram(SEED, n);
    const f = p.functions.find((x) => x.steps.some((s) => s.op === 'recurse'));
    if (!f) continue;
    const times = (f.steps.find((s) => s.op === 'recurse') as { times: number }).times;
    for (const arch of ARCHES) assert.equal(buildCase(arch, p, [{}]).scenes[0]!.scene.truth.frames.filter((x) => x.fn === f.name).length, times + 1, `${arch} ${p.id} ${f.name}`);
    checked++;
  }
  assert.ok(checked > 0);
});

test('s390x and powerpc64: a faulty mutant fails generated scenes, and its failure shrinks to a minimal case that still fails', async () => {
  for (const [id, arch] of [['s390x-bc-fgraph-null-key', 's390x'], ['powerpc64-trusts-regs-marker', 'powerpc64']] as const) {
    const u = referenceUnwinder(mutantProfile(mutantById(id)));
    let first: { c: GeneratedCase; f: NonNullable<Awaited<ReturnType<typeof failureOf>>> } | undefined;
    for (const c of casesOf(arch)) {
      const f = await failureOf(c, u, 'complete-or-unreliable');
      if (f) {
        first = { c, f };
        break;
      }
    }
    assert.ok(first, `${id}: no generated scene caught it`);
    const s = await shrink(first.c, u, first.f, 120);
    assert.ok(s.to < s.from, `${id}: shrinking made nothing smaller`);
    const again = buildCase(arch, s.program, [s.moment]);
    const j = judgeCase(again, u).judgements[0]!;
    assert.equal(applyRule(s.failure.rule, j).pass, false);
    assert.equal(j.outcome, s.failure.outcome);
    const ref = builtinProfiles().find((p) => p.arch === arch && p.reference)!;
    assert.ok(applyRule(s.failure.rule, judgeCase(again, referenceUnwinder(ref)).judgements[0]!).pass);
    // Printed as a Gherkin example, it runs through the generic step on the arch: the mutant fails it, the reference passes.
    const text = gherkinFeature(s, mutantProfile(mutantById(id)).name);
    const doc = new Parser(new AstBuilder(IdGenerator.uuid()), new GherkinClassicTokenMatcher()).parse(text);
    const rule = doc.feature!.children[0]!.rule!;
    const ex = rule.children[0]!.scenario!;
    const fromHandler = s.moment.step !== undefined && s.moment.walk !== 'preempted';
    const run = async (profile: Profile): Promise<boolean> => {
      const session = new ConformanceSession({ profile }, { name: ex.name, uri: 'generated.feature', tags: [...rule.tags, ...ex.tags].map((t) => t.name) });
      session.useGenerated(ex.steps[0]!.docString!.content);
      await (fromHandler ? session.requestFromHandler() : session.requestForTask());
      try {
        session.expect('complete-or-unreliable');
        return true;
      } catch {
        return false;
      }
    };
    assert.equal(await run(mutantProfile(mutantById(id))), false, `${id}: the example passes the mutant`);
    assert.equal(await run(ref), true, `${ref.name} fails the example`);
  }
});

test('s390x and powerpc64: a reference served through the plugin protocol walks generated scenes as it does in process', async () => {
  const { startExternalWalker } = await import('../src/protocol/external-walker');
  const { judgeCaseWith } = await import('../src/generate/run');
  const { resolve } = await import('node:path');
  for (const arch of ARCHES) {
    const ref = builtinProfiles().find((p) => p.arch === arch && p.reference)!;
    // The snapshots of running tasks (s390x's psw_mask register) and the start answer (powerpc64-bc's long
    // description) are validated against the protocol's schemas on the way.
    const w = await startExternalWalker(`node -r ${resolve(__dirname, '..', 'scripts', 'ts-register.js')} ${resolve(__dirname, '..', 'src', 'protocol', 'reference-server.ts')} --profile ${ref.name}`, { validate: true });
    try {
      for (const c of casesOf(arch).slice(0, 2)) {
        const outside = (await judgeCaseWith(c, w)).judgements.map((j) => j.outcome);
        assert.deepEqual(outside, judgeCase(c, referenceUnwinder(ref)).judgements.map((j) => j.outcome), `${arch} ${c.program.id}`);
        assert.ok(c.scenes.some((s) => s.kind === 'in-handler'));
      }
    } finally {
      await w.close();
    }
  }
});
