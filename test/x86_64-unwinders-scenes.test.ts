/**
 * x86_64 reference unwinders on scenes run by the simulated machine, judged by the oracle against
 * the machine's ground truth (the interpreter's shadow record), never against another unwinder.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { judge, type Outcome } from '../src/oracle/oracle';
import { kitFor } from '../src/scene/index';
import type { SceneSpec } from '../src/scene/types';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder, walkInProcess } from '../src/unwinders/registry';

const UNWINDERS = {
  orc: referenceUnwinder(builtinProfile('x86_64-orc')),
  fp: referenceUnwinder(builtinProfile('x86_64-fp')),
};

function judged(spec: SceneSpec, which: keyof typeof UNWINDERS) {
  const scene = kitFor('x86_64').buildScene(spec);
  const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
  const j = judge(snap, scene.truth, walkInProcess(UNWINDERS[which], snap));
  const show = `${scene.moment}: ${j.outcome} (${j.explanation})\n  truth: ${j.truth.map((f) => f.fn + (f.omissible ? '?' : '')).join(' ')}\n  trace: ${j.trace.map((e) => e.fn).join(' ')}`;
  return { j, show };
}

function expect(spec: SceneSpec, outcomes: Partial<Record<keyof typeof UNWINDERS, Outcome>>) {
  for (const [which, want] of Object.entries(outcomes) as [keyof typeof UNWINDERS, Outcome][]) {
    const { j, show } = judged(spec, which);
    assert.equal(j.outcome, want, `${which}: ${show}`);
    if (want === 'sound-reliable') assert.ok(j.trace.length >= 2, show);
  }
}

const BOTH_SOUND = { orc: 'sound-reliable', fp: 'sound-reliable' } as const;

describe('x86_64 scenes judged against ground truth', () => {
  test('blocked user task (syscall-sleep)', () => expect({ workload: 'syscall-sleep', moment: { kind: 'blocked' } }, BOTH_SOUND));
  test('blocked kernel thread (kthread-sleep)', () => expect({ workload: 'kthread-sleep', moment: { kind: 'blocked' } }, BOTH_SOUND));
  test('fgraph-traced callers before return_to_handler runs', () =>
    expect({ workload: 'syscall-sleep', instrument: { fgraph: ['sys_sleep', 'do_nanosleep'] }, moment: { kind: 'blocked' } }, BOTH_SOUND));
  test('kretprobed caller', () => expect({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' } }, BOTH_SOUND));
  test('fgraph on one caller and a kretprobe on another', () =>
    expect({ workload: 'syscall-sleep', instrument: { fgraph: ['sys_sleep'], kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' } }, BOTH_SOUND));
  test('fgraph-traced work chain interrupted in the traced leaf', () =>
    expect(
      { workload: 'work-chain', instrument: { fgraph: ['work_b', 'work_c'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_c', index: 4 }, walk: 'in-handler' } },
      { orc: 'sound-reliable', fp: 'correctly-unreliable' },
    ));

  for (const index of [0, 1, 2, 3, 4, 5, 6, 7]) {
    for (const walk of index < 4 ? (['in-handler', 'preempted'] as const) : (['in-handler'] as const)) {
      test(`IRQ in work_b instruction ${index} (${walk}): ORC sound, FP unreliable`, () =>
        expect({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index }, walk } }, { orc: 'sound-reliable', fp: 'correctly-unreliable' }));
    }
  }
  // unwind_orc.c: pt_regs->ip == arch_rethook_trampoline (the IRQ hit right after the RET into it)
  // is recovered through rethook with the slot the RET consumed (regs->sp - 8); later, the ORC data
  // leads to the fake return address the trampoline pushed, recovered like any other.
  test('IRQ at every instruction of arch_rethook_trampoline (in-handler and preempted): ORC sound, as the kernel', () => {
    const n = kitFor('x86_64').instructions('work-chain', { kretprobe: ['work_b'] }, 'arch_rethook_trampoline').length;
    for (let index = 0; index < n; index++) {
      expect({ workload: 'work-chain', instrument: { kretprobe: ['work_b'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'arch_rethook_trampoline', index }, walk: 'in-handler' } }, { orc: 'sound-reliable', fp: 'correctly-unreliable' });
    }
    expect({ workload: 'work-chain', instrument: { kretprobe: ['work_b'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'arch_rethook_trampoline', index: 0 }, walk: 'preempted' } }, { orc: 'sound-reliable', fp: 'correctly-unreliable' });
  });
  // Today's return_to_handler: UNDEFINED at its entry, then reliable through UNWIND_HINT_FUNC while
  // the ret_stack entry is there, rejected once ftrace_return_to_handler() has popped it (where the
  // kernel's ftrace_graph_ret_addr() would hand back return_to_handler itself).
  test('IRQ at each stage of return_to_handler: ORC sound or unreliable, never unsafe', () => {
    const texts = kitFor('x86_64').instructions('work-chain', { fgraph: ['work_b'] }, 'return_to_handler');
    const got = texts.map((t, index) => {
      if (t === 'int3') return '-';
      const { j, show } = judged({ workload: 'work-chain', instrument: { fgraph: ['work_b'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'return_to_handler', index }, walk: 'in-handler' } }, 'orc');
      assert.ok(j.outcome === 'sound-reliable' || j.outcome === 'correctly-unreliable', show);
      return j.outcome === 'sound-reliable' ? 'R' : 'u';
    });
    const call = texts.indexOf('call ftrace_return_to_handler');
    assert.equal(got.join(''), 'u' + 'R'.repeat(call) + 'u'.repeat(texts.length - call - 4) + '-uR'); // before its store, .Ldo_rop's slot holds the int3 address
  });
  test('IRQ in the leaf work_c body (in-handler)', () =>
    expect({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_c', index: 1 }, walk: 'in-handler' } }, { orc: 'sound-reliable', fp: 'correctly-unreliable' }));
  test('NMI in work_b body (in-handler)', () =>
    expect({ workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at: { fn: 'work_b', index: 2 }, walk: 'in-handler' } }, { orc: 'sound-reliable', fp: 'correctly-unreliable' }));

  test('blocked below a STACK_FRAME_NON_STANDARD function: both reject', () =>
    expect({ workload: 'nonstandard-sleep', moment: { kind: 'blocked' } }, { orc: 'correctly-unreliable', fp: 'correctly-unreliable' }));
  test('blocked below module code and its PLT veneer', () => expect({ workload: 'module-sleep', moment: { kind: 'blocked' } }, BOTH_SOUND));
  test('blocked below BPF JIT code: no ORC for it, frame pointers walk it', () =>
    expect({ workload: 'bpf-sleep', moment: { kind: 'blocked' } }, { orc: 'correctly-unreliable', fp: 'sound-reliable' }));
  test('IRQ in EFI runtime code: both reject', () =>
    expect({ workload: 'efi-call', moment: { kind: 'exception', exception: 'irq', at: { fn: 'efi_get_time', index: 2 }, walk: 'in-handler' } }, { orc: 'correctly-unreliable', fp: 'correctly-unreliable' }));

  const corruptions = ['frame-pointer-zeroed', 'frame-chain-cycle', 'frame-pointer-misaligned', 'frame-pointer-unmapped', 'frame-pointer-other-task', 'frame-pointer-downward', 'return-address-garbage'] as const;
  for (const corrupt of corruptions) {
    test(`corruption ${corrupt}: FP never unsafe, never faulted`, () => {
      for (const which of ['fp', 'orc'] as const) {
        const { j, show } = judged({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt }, which);
        assert.ok(j.outcome === 'correctly-unreliable' || j.outcome === 'sound-reliable', `${which}: ${show}`);
        if (which === 'fp') assert.equal(j.outcome, 'correctly-unreliable', `${which}: ${show}`);
      }
    });
  }
});
