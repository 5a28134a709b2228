/**
 * Corruption of the innermost kernel-mode exception frame (pt_regs): each kit edits exactly the
 * saved registers of the frame the IRQ left on the task stack, and the ground truth stays the
 * machine's real control flow. Checked by diffing against the same scene built uncorrupted; no
 * unwinder is involved.
 */
import { unhex } from '../src/machine/addr';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConformanceSession } from '../src/conformance/session';
import { GARBAGE_RA } from '../src/kernel/corrupt';
import { ARM64_ABI } from '../src/isa/arm64/abi';
import { X86_64_ABI } from '../src/isa/x86_64/abi';
import { LOONGARCH64_ABI } from '../src/isa/loongarch64/abi';
import { RISCV64_ABI } from '../src/isa/riscv64/abi';
import { S390X_ABI, userMode } from '../src/isa/s390x/abi';
import { POWERPC64_ABI } from '../src/isa/powerpc64/abi';
import { kitFor } from '../src/scene/index';
import type { Corruption, SceneSpec } from '../src/scene/types';
import type { Arch } from '../src/snapshot/types';
import { loadSnapshot, type LoadedSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';

/** The body of work_b (its "BODY" instruction) on each arch. */
const BODY: Record<Arch, number> = { arm64: 2, x86_64: 3, riscv64: 4, loongarch64: 4, s390x: 4, powerpc64: 3 };

/** Where each arch keeps the saved registers: every slot holding a copy of pc, sp, fp. */
const SLOTS: Record<Arch, { pc: number[]; sp: number[]; fp: number[]; kernelMode: (s: LoadedSnapshot, regs: number) => boolean }> = {
  arm64: {
    pc: [ARM64_ABI.S_PC],
    sp: [ARM64_ABI.S_SP],
    fp: [ARM64_ABI.S_FP],
    kernelMode: (s, r) => (s.mem.read64(r + ARM64_ABI.S_PSTATE) & ARM64_ABI.PSR_MODE_MASK) === ARM64_ABI.PSR_MODE_EL1h,
  },
  x86_64: {
    pc: [X86_64_ABI.PT_RIP],
    sp: [X86_64_ABI.PT_RSP],
    fp: [X86_64_ABI.PT_RBP],
    kernelMode: (s, r) => s.mem.read64(r + X86_64_ABI.PT_CS) === X86_64_ABI.KERNEL_CS,
  },
  loongarch64: {
    pc: [LOONGARCH64_ABI.PT_ERA],
    sp: [LOONGARCH64_ABI.PT_R3],
    fp: [LOONGARCH64_ABI.PT_R22],
    kernelMode: (s, r) => (s.mem.read64(r + LOONGARCH64_ABI.PT_PRMD) & LOONGARCH64_ABI.PLV_MASK) === 0,
  },
  riscv64: {
    pc: [RISCV64_ABI.PT_EPC],
    sp: [RISCV64_ABI.PT_SP],
    fp: [RISCV64_ABI.PT_S0],
    kernelMode: (s, r) => (s.mem.read64(r + RISCV64_ABI.PT_STATUS) & RISCV64_ABI.SR_SPP) !== 0,
  },
  s390x: {
    pc: [S390X_ABI.PT_PSW_ADDR],
    sp: [S390X_ABI.PT_R15],
    fp: [S390X_ABI.PT_GPRS + 8 * 11],
    kernelMode: (s, r) => !userMode(s.mem.read64(r + S390X_ABI.PT_PSW)),
  },
  powerpc64: {
    pc: [POWERPC64_ABI.NIP],
    sp: [POWERPC64_ABI.GPR1],
    // The interrupt frame's back chain, below pt_regs: the frame link a back-chain walk follows.
    fp: [-POWERPC64_ABI.STACK_INT_FRAME_REGS],
    kernelMode: (s, r) => (s.mem.read64(r + POWERPC64_ABI.MSR) & POWERPC64_ABI.MSR_PR) === 0,
  },
};

function spec(arch: Arch, walk: 'in-handler' | 'preempted', corrupt?: Corruption): SceneSpec {
  return { workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: BODY[arch] }, walk }, ...(corrupt ? { corrupt } : {}) };
}

/** Every 8-byte word that differs between two snapshots' data regions: [addr, before, after]. */
function diff(a: LoadedSnapshot, b: LoadedSnapshot): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const r of a.json.regions) {
    if (r.data === undefined) continue;
    const base = unhex(r.base);
    for (let o = 0; o + 8 <= r.size; o += 8) {
      const x = a.mem.read64(base + o);
      const y = b.mem.read64(base + o);
      if (x !== y) out.push([base + o, x, y]);
    }
  }
  return out;
}

const build = (s: SceneSpec, arch: Arch) => {
  const scene = kitFor(arch).buildScene(s);
  return { scene, snap: loadSnapshot(scene.snapshot, scene.snapshot.id) };
};

for (const arch of ['arm64', 'x86_64', 'riscv64', 'loongarch64', 's390x', 'powerpc64'] as const) {
  for (const walk of ['in-handler', 'preempted'] as const) {
    test(`${arch} ${walk}: exception-frame corruptions edit only the IRQ's kernel-mode pt_regs; truth and registers unchanged`, () => {
      const clean = build(spec(arch, walk), arch);
      assert.match(clean.scene.moment, /BODY/);
      const resume = clean.scene.truth.frames.find((f) => f.why === 'exception')!;
      assert.equal(resume.fn, 'work_b');
      const L = SLOTS[arch];

      // The saved pc: every word that changes held the interrupted pc and now holds garbage.
      const pc = build(spec(arch, walk, 'exception-pc-garbage'), arch);
      const dpc = diff(clean.snap, pc.snap);
      assert.equal(dpc.length, L.pc.length, JSON.stringify(dpc));
      for (const [, before, after] of dpc) {
        assert.equal(before, resume.addr);
        assert.equal(after, GARBAGE_RA);
      }
      // The frame those words belong to: kernel-mode, on the task stack, the pc slot at the layout's offset.
      const regs = dpc[0]![0] - L.pc[0]!;
      assert.deepEqual(dpc.map((d) => d[0] - regs).sort((x, y) => x - y), [...L.pc].sort((x, y) => x - y));
      assert.ok(L.kernelMode(clean.snap, regs), 'the corrupted frame is kernel-mode');
      assert.equal(clean.snap.mem.find(regs, 8)?.kind, 'task-stack');
      assert.notEqual(regs, clean.snap.ptRegs, 'not the user-mode pt_regs of the system call');

      const checks: [Corruption, number[], (before: number, after: number) => void][] = [
        ['exception-sp-unmapped', L.sp, (_b, a) => assert.equal(pc.snap.mem.find(a), undefined, 'sp is unmapped')],
        ['exception-sp-other-task', L.sp, (_b, a) => assert.equal(pc.snap.mem.find(a)?.kind, 'task-stack')],
        ['exception-fp-misaligned', L.fp, (b, a) => assert.equal(a, b + 4)],
        ['exception-fp-other-task', L.fp, (_b, a) => assert.equal(pc.snap.mem.find(a)?.kind, 'task-stack')],
      ];
      for (const [c, slots, check] of checks) {
        const s = build(spec(arch, walk, c), arch);
        const d = diff(clean.snap, s.snap);
        assert.deepEqual(d.map((x) => x[0] - regs).sort((x, y) => x - y), [...slots].sort((x, y) => x - y), `${c}: ${JSON.stringify(d)}`);
        for (const [, before, after] of d) check(before, after);
        if (c.endsWith('other-task')) {
          // Another task's stack: a task-stack region, but not this task's.
          const mine = clean.snap.mem.find(regs, 8)!;
          assert.notEqual(s.snap.mem.find(d[0]![2], 8)!.name, mine.name, `${c} points at another task's stack`);
        }
        assert.deepEqual(s.scene.truth, clean.scene.truth, `${c}: the truth is the real control flow`);
        assert.deepEqual(s.snap.regs, clean.snap.regs, `${c}: the live registers are untouched`);
      }
    });
  }

  test(`${arch}: exception-frame corruption needs an exception moment whose frame the kit built`, () => {
    assert.throws(() => kitFor(arch).buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt: 'exception-pc-garbage' }), /exception/);
    const nested: SceneSpec = { workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: BODY[arch] }, walk: 'in-handler', nested: 'nmi' }, corrupt: 'exception-fp-misaligned' };
    // loongarch64 has no NMI to nest; riscv64's SSE event builds its pt_regs at a known place (the top of the
    // SSE stack), so its frame is the innermost exception frame of the nested moment.
    if (arch === 'riscv64') assert.ok(kitFor(arch).buildScene(nested).truth.frames.filter((f) => f.why === 'exception').length === 2);
    else assert.throws(() => kitFor(arch).buildScene(nested), arch === 'loongarch64' ? /no NMI/ : /exception-fp-misaligned/);
  });
}

test('a scenario naming the point of the IRQ ("in the body of work_b") walks the corrupted scene', async () => {
  for (const profile of ['arm64-meta', 'x86_64-orc']) {
    for (const c of ['exception-pc-garbage', 'frame-pointer-unmapped'] as const) {
      const s = new ConformanceSession({ profile: builtinProfile(profile) }, { name: 'x', uri: 'features/x.feature', tags: ['@req:robust-to-corrupt-unwind-state', '@id:x'] });
      s.useWorkload('work-chain');
      s.exceptionIn('irq', 'body', 'work_b');
      s.corrupt(c);
      await s.requestFromHandler();
      assert.equal(s.walks.length, 1);
      assert.ok(s.walks[0]!.scene.spec.corrupt === c, `${profile}: ${c} applied`);
      assert.ok(s.walks[0]!.scene.snapshot.id.includes(c), s.walks[0]!.scene.snapshot.id);
    }
  }
});
