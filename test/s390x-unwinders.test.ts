/**
 * The s390x back-chain reference unwinder on targeted scenes: blocked tasks and kernel threads to
 * their final pt_regs, walks starting on the async or mcck stack, a preempted task's zero back chain
 * before kernel-mode pt_regs, fgraph and rethook recovery keyed by the frame's sp, corrupt back
 * chains, and the knobs the mutant catalogue uses. Outcomes are judged by the oracle against the
 * machine's ground truth.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { judge, type Outcome } from '../src/oracle/oracle';
import { S390X_ABI as A } from '../src/isa/s390x/abi';
import { kitFor } from '../src/scene/index';
import type { SceneSpec } from '../src/scene/types';
import { loadSnapshot } from '../src/snapshot/io';
import { walkS390x, type S390xKnobs } from '../src/unwinders/s390x-bc';
import { walkInProcess } from '../src/unwinders/registry';
import type { Unwinder } from '../src/unwinders/types';

const kit = kitFor('s390x');

function walk(spec: SceneSpec, knobs: S390xKnobs = {}) {
  const scene = kit.buildScene(spec);
  const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
  const u: Unwinder = { name: 's390x-bc', walk: (input) => walkS390x(input, knobs) };
  const rec = walkInProcess(u, snap);
  const j = judge(snap, scene.truth, rec);
  return { outcome: j.outcome as Outcome, fns: (rec.result?.trace ?? []).map((a) => snap.syms.lookup(a)?.name ?? '?'), reason: rec.result?.reason ?? '', truth: scene.truth.frames.map((f) => f.fn) };
}

const blocked = (workload: SceneSpec['workload'], extra: Partial<SceneSpec> = {}): SceneSpec => ({ workload, moment: { kind: 'blocked' }, ...extra });
const irq = (fn: string, index: number, walk: 'in-handler' | 'preempted' = 'in-handler', exception: 'irq' | 'nmi' = 'irq'): SceneSpec => ({ workload: 'work-chain', moment: { kind: 'exception', exception, at: { fn, index }, walk } });

describe('s390x-bc: blocked tasks end at their final pt_regs', () => {
  test('a user task from thread.ksp to the zero back chain above task_pt_regs', () => {
    const r = walk(blocked('syscall-sleep'));
    assert.equal(r.outcome, 'sound-reliable');
    assert.deepEqual(r.fns, ['__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', '__do_syscall', 'system_call']);
  });

  test('a kernel thread to ret_from_fork, whose frame copy_thread() left with a zero back chain', () => {
    const r = walk(blocked('kthread-sleep'));
    assert.equal(r.outcome, 'sound-reliable');
    assert.equal(r.fns.at(-1), 'ret_from_fork');
  });

  test('module and BPF frames are kernel text; the PLT jump leaves no frame', () => {
    assert.equal(walk(blocked('module-sleep')).outcome, 'sound-reliable');
    assert.equal(walk(blocked('bpf-sleep')).outcome, 'sound-reliable');
  });
});

describe('s390x-bc: exceptions are never crossed', () => {
  test('from the IRQ handler the first frame is on the async stack', () => {
    const r = walk(irq('work_b', 4));
    assert.equal(r.outcome, 'correctly-unreliable');
    assert.match(r.reason, /async-stack/);
  });

  test('from the machine-check handler the first frame is on the mcck stack', () => {
    const r = walk(irq('work_b', 4, 'in-handler', 'nmi'));
    assert.equal(r.outcome, 'correctly-unreliable');
    assert.match(r.reason, /mcck-stack/);
  });

  test('a preempted task: the zero back chain of the IRQ frame leads to kernel-mode pt_regs, not the final ones', () => {
    const r = walk(irq('work_b', 4, 'preempted'));
    assert.equal(r.outcome, 'correctly-unreliable');
    assert.match(r.reason, /not the task's final pt_regs/);
    assert.deepEqual(r.fns, ['__schedule', 'preempt_schedule_irq', 'do_ext_irq', 'ext_int_handler']);
  });

  test('crossing pt_regs: the r14 slot after them is stale or bogus, and unchecked it reports a frame twice', () => {
    // After work_a returned, sys_work's r14 slot still holds the return into sys_work: psw.addr's frame again.
    const at = kit.instructions('work-chain', undefined, 'sys_work').findIndex((t) => t === 'brasl %r14,work_a') + 2;
    const r = walk({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'sys_work', index: at }, walk: 'in-handler' } }, { acrossRegs: 'no-duplicate-check' });
    assert.equal(r.fns.filter((f) => f === 'sys_work').length, 2);
    assert.notEqual(r.outcome, 'sound-reliable');
    assert.equal(walk(irq('work_c', 1), { acrossRegs: 'unfiltered' }).outcome, 'correctly-unreliable', 'a zero r14 slot is not kernel text');
  });
});

describe('s390x-bc: return trampolines, keyed by the frame\'s sp', () => {
  const nested = blocked('syscall-sleep', { instrument: { fgraph: ['sys_sleep', 'do_nanosleep', 'schedule'] } });
  test('nested graph-traced functions are each recovered', () => {
    assert.equal(walk(nested).outcome, 'sound-reliable');
  });

  test('a NULL key (before ded466e18066) leaves return_to_handler in the trace', () => {
    const r = walk(nested, { fgraphNullKey: true });
    assert.equal(r.outcome, 'unsafe');
    assert.ok(r.fns.includes('return_to_handler'));
  });

  test('rethook returns are recovered; without recovery (before d81675b60d09) the trampoline is reported', () => {
    const s = blocked('syscall-sleep', { instrument: { kretprobe: ['do_nanosleep'] } });
    assert.equal(walk(s).outcome, 'sound-reliable');
    const r = walk(s, { noRethookRecovery: true });
    assert.ok(r.fns.includes('arch_rethook_trampoline'));
    assert.notEqual(r.outcome, 'sound-reliable');
  });

  test('a mis-keyed ret_stack entry fails the walk; upstream reports return_to_handler as a frame', () => {
    const s = blocked('syscall-sleep', { instrument: { fgraph: ['do_nanosleep'] }, corrupt: 'fgraph-ret-stack-wrong-key' });
    assert.equal(walk(s).outcome, 'correctly-unreliable');
    assert.ok(walk(s, { keepReturnToHandler: true }).fns.includes('return_to_handler'));
  });
});

describe('s390x-bc: other stacks of the CPU', () => {
  test('from a kprobe handler the walk starts on the task stack; a back chain into the nodat or restart stack is refused there', () => {
    const spec: SceneSpec = { workload: 'work-chain', moment: { kind: 'exception', exception: 'brk', at: { fn: 'work_b', index: 4 }, walk: 'in-handler' } };
    const scene = kit.buildScene(spec);
    for (const region of ['nodat-stack-cpu0', 'restart-stack-cpu0']) {
      const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
      const sp = snap.regs['r15']!;
      assert.equal(snap.mem.find(sp, 8)?.kind, 'task-stack');
      const r = snap.mem.region(region);
      const fake = r.base + r.size - 2 * A.STACK_FRAME_OVERHEAD;
      snap.mem.write64(fake + A.SF_R14, snap.syms.byName('work_a')!.start + 8);
      snap.mem.write64(sp + A.SF_BACKCHAIN, fake);
      const rec = walkInProcess({ name: 's390x-bc', walk: (input) => walkS390x(input) }, snap);
      assert.notEqual(rec.result?.rc, 0);
      assert.match(rec.result?.reason ?? '', new RegExp(region));
    }
  });
});

describe('s390x-bc: corrupt back chains', () => {
  for (const c of ['frame-pointer-zeroed', 'frame-chain-cycle', 'frame-pointer-misaligned', 'frame-pointer-unmapped', 'frame-pointer-other-task', 'frame-pointer-downward', 'frame-pointer-straddles-stack-top', 'return-address-garbage', 'frame-pointer-to-stale-final'] as const) {
    test(`${c}: reported unreliable`, () => {
      const r = walk(blocked(c === 'frame-pointer-to-stale-final' ? 'regs-copy-sleep' : 'syscall-sleep', { corrupt: c }));
      assert.equal(r.outcome, 'correctly-unreliable', r.reason);
    });
  }
});
