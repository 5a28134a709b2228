/**
 * Generated programs on riscv64 and loongarch64 (src/generate/emit-riscv64.ts, emit-loongarch64.ts): the
 * same seed gives the same scenes, the analysers flag exactly what a program declares for the arch, the
 * reference profiles walk a seeded batch soundly, a faulty mutant's failure shrinks, and riscv64's SSE
 * event (the NMI) returns through its pt_regs. Kept small: each arch's batch is a few hundred walks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateProgram } from '../src/generate/program';
import { caseResults, GENERATED_ARCHES, generatedCase, judgeCase, kitOf, specOf } from '../src/generate/run';
import { failureOf, shrink } from '../src/generate/shrink';
import { assertFindingsAsDeclared, assertShrunkStillFails } from './generate-helpers';
import { mutantById, mutantProfile } from '../src/mutants/index';
import { builtinProfiles } from '../src/unwinders/profiles';
import * as riscv64Kit from '../src/kernel/riscv64/kit';
import { Riscv64Machine } from '../src/kernel/riscv64/machine';
import { SSE_INTERRUPTED } from '../src/kernel/riscv64/image';
import { RISCV64_ABI } from '../src/isa/riscv64/abi';
import { referenceUnwinder } from '../src/unwinders/registry';

const ARCHES = ['riscv64', 'loongarch64'] as const;
const PER_SEED = 6;
const SEEDS = [1, 20261201];

test('riscv64 and loongarch64 are generated arches, and the same seed gives the same scenes', () => {
  for (const arch of ARCHES) {
    assert.ok(GENERATED_ARCHES.includes(arch), arch);
    const a = generatedCase(arch, 5, 7);
    const b = generatedCase(arch, 5, 7);
    assert.deepEqual(a.moments, b.moments);
    assert.deepEqual(
      a.scenes.map((s) => [s.scene.snapshot.id, s.scene.truth.frames]),
      b.scenes.map((s) => [s.scene.snapshot.id, s.scene.truth.frames]),
    );
  }
  // loongarch64 has no NMI: its moments are IRQs, kprobe breaks and page faults only.
  for (let n = 0; n < 10; n++) assert.ok(generatedCase('loongarch64', 1, n).moments.every((m) => m.exception !== 'nmi' && !m.nested));
});

test('every generator feature assembles on riscv64 and loongarch64, and their analysers flag exactly what the program declares', () => {
  const seen = new Set<string>();
  for (let n = 0; n < 60; n++) {
    const p = generateProgram(SEEDS[0]!, n);
    const features = [
      ...p.functions.map((f) => f.placement ?? ''),
      p.kthread ? 'kthread' : '',
      p.functions.some((f) => f.lrReg) ? 'lrReg' : '',
      p.functions.some((f) => f.noreturn) ? 'noreturn' : '',
      p.functions.some((f) => f.pre) ? 'shrink-wrapped' : '',
      p.functions.some((f) => f.steps.some((s) => s.op === 'recurse')) ? 'recursion' : '',
      p.functions.some((f) => f.name === 'regscopy_fn') ? 'local pt_regs' : '',
    ].filter((x) => x && !seen.has(x));
    // Analyse the programs that bring a feature not seen yet, and the first few.
    if (!features.length && n >= 4) continue;
    features.forEach((x) => seen.add(x));
    for (const arch of ARCHES) assertFindingsAsDeclared(p, arch);
  }
  assert.deepEqual([...seen].sort(), ['bpf', 'efi', 'kthread', 'local pt_regs', 'lrReg', 'module', 'noreturn', 'recursion', 'shrink-wrapped']);
});

test(`the riscv64 and loongarch64 reference profiles walk ${PER_SEED} generated programs of seeds ${SEEDS.join(' and ')} soundly`, () => {
  for (const arch of ARCHES) {
    const profiles = builtinProfiles().filter((p) => p.arch === arch && p.reference);
    assert.ok(profiles.length >= 1, `${arch}: reference profiles`);
    let blocked = 0;
    let blockedSound = 0;
    let all = 0;
    let sound = 0;
    for (const seed of SEEDS) {
      for (let n = 0; n < PER_SEED; n++) {
        const c = generatedCase(arch, seed, n);
        const jit = new Set(c.program.functions.filter((f) => f.placement === 'bpf').map((f) => f.name));
        for (const p of profiles) {
          const cj = judgeCase(c, referenceUnwinder(p));
          for (const r of caseResults(p, c, cj, 0)) assert.equal(r.status, 'passed', `${p.name} ${r.id} ${r.requirement}: ${r.message}`);
          cj.judgements.forEach((j, i) => {
            all++;
            if (j.outcome === 'sound-reliable') sound++;
            // (loongarch64's unwinder, as upstream, has no ORC for BPF code and marks a walk through it unreliable.)
            const truth = c.scenes[i]!.scene.truth.frames;
            if (c.moments[i]!.step === undefined && !c.moments[i]!.corrupt && !truth.some((f) => jit.has(f.fn))) {
              blocked++;
              if (j.outcome === 'sound-reliable') blockedSound++;
            }
          });
        }
      }
    }
    // A reference that walks nothing generated tests nothing: the blocked tasks are walked, and loongarch64's
    // ORC unwinder walks many exception scenes too (riscv64's frame-pointer walk rejects every one).
    assert.ok(blocked >= 6 && blockedSound === blocked, `${arch}: ${blockedSound} of ${blocked} uncorrupted blocked tasks with no BPF frame walked reliably`);
    if (arch === 'loongarch64') assert.ok(sound > all / 3, `${arch}: ${sound} of ${all} walks sound and reliable`);
  }
});

test('faulty riscv64 and loongarch64 mutants fail generated scenes, and a riscv64 failure shrinks and still fails', async () => {
  for (const [id, arch, n] of [['riscv64-no-final-check', 'riscv64', 6], ['loongarch64-orc-trusts-ra', 'loongarch64', 12]] as const) {
    const u = referenceUnwinder(mutantProfile(mutantById(id)));
    let first: { c: ReturnType<typeof generatedCase>; f: NonNullable<Awaited<ReturnType<typeof failureOf>>> } | undefined;
    for (let k = 0; k < n && !first; k++) {
      const c = generatedCase(arch, SEEDS[0]!, k);
      const f = await failureOf(c, u, 'complete-or-unreliable');
      if (f) first = { c, f };
    }
    assert.ok(first, `${id}: no generated scene of the first ${n} caught it`);
    if (arch !== 'riscv64') continue;
    const s = await shrink(first.c, u, first.f, 120);
    assertShrunkStillFails(s, u, id);
  }
});

test('riscv64: an SSE event returns through its pt_regs, as handle_sse writes epc back to sepc; a nested SSE frame can be corrupted', () => {
  const program = generateProgram(1, 0);
  const kit = kitOf('riscv64');
  const w = specOf(program, {}).workload;
  const step = kit.boundaries(w).find((b) => b.fn.startsWith('gen_') && !b.irqMasked)!.step;
  // The machine itself: stopped at handle_sse's completion, it resumes where pt_regs->epc says.
  const img = riscv64Kit.imageFor(w).img;
  const m = new Riscv64Machine(img);
  assert.equal(m.cpu.run(100_000, -1, step), 'break');
  const interrupted = m.cpu.pc;
  m.takeException('nmi');
  const sym = m.syms.get('handle_sse');
  let at = sym.start;
  while (img.prog.insnAt(at)?.text !== 'SSE_COMPLETE') at += 4;
  assert.equal(m.cpu.run(100_000, at), 'break');
  // Scribble over the SBI's record of the entry: the return does not use it; pt_regs->epc says where to go.
  m.mem.write64(SSE_INTERRUPTED, 0x4141414141);
  assert.equal(m.mem.read64(m.cpu.sp + RISCV64_ABI.PT_EPC), interrupted);
  m.cpu.run(1);
  assert.equal(m.cpu.pc, interrupted);
  // So the kit's exception-frame corruption of the SSE frame redirects the truth, nested in an IRQ too.
  const nmi = kit.buildScene(specOf(program, { exception: 'nmi', walk: 'in-handler', step, corrupt: 'exception-pc-garbage' }));
  assert.equal(nmi.truth.redirected?.length, 1);
  const nested = kit.buildScene(specOf(program, { exception: 'irq', walk: 'in-handler', nested: 'nmi', step, corrupt: 'exception-pc-garbage' }));
  assert.match(nested.moment, /nested/);
  assert.equal(nested.truth.redirected?.length, 1);
});
