/**
 * The loongarch64 ORC reference unwinder on targeted scenes: blocked tasks (with and without the fp
 * __switch_to saves, 677d4a52d4dc), IRQs in leaves (ra from pt_regs) and bodies, the IRQ stack's next_sp,
 * exception-vector addresses (bt_address()), fgraph and rethook recovery, and the walks it must reject.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOONGARCH64_ABI as A } from '../src/isa/loongarch64/abi';
import { EENTRY, vectorAddr } from '../src/kernel/loongarch64/image';
import { judge, type Outcome } from '../src/oracle/oracle';
import { kitFor } from '../src/scene/index';
import type { SceneSpec } from '../src/scene/types';
import { loadSnapshot } from '../src/snapshot/io';
import { btAddress, walkLoongarchOrc, type LoongSeams } from '../src/unwinders/loongarch64-orc';
import { walkInProcess } from '../src/unwinders/registry';
import type { Unwinder } from '../src/unwinders/types';

const kit = kitFor('loongarch64');

function walk(spec: SceneSpec, seams: LoongSeams = {}) {
  const scene = kit.buildScene(spec);
  const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
  const u: Unwinder = { name: 'loongarch64-orc', walk: (input) => walkLoongarchOrc(input, seams) };
  const rec = walkInProcess(u, snap);
  const j = judge(snap, scene.truth, rec);
  return { outcome: j.outcome as Outcome, fns: (rec.result?.trace ?? []).map((a) => snap.syms.lookup(a)?.name ?? '?'), reason: rec.result?.reason, snap };
}

const irq = (fn: string, index: number, walk: 'in-handler' | 'preempted' = 'in-handler'): SceneSpec => ({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn, index }, walk } });

describe('loongarch64-orc: blocked tasks', () => {
  test('a user task and a kernel thread are unwound to their entry', () => {
    const u = walk({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
    assert.equal(u.outcome, 'sound-reliable');
    assert.deepEqual(u.fns, ['__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', 'do_syscall', 'handle_syscall']);
    const k = walk({ workload: 'kthread-sleep', moment: { kind: 'blocked' } });
    assert.equal(k.outcome, 'sound-reliable');
    assert.equal(k.fns.at(-1), 'ret_from_kernel_thread');
  });

  test('without the fp __switch_to saved (before 677d4a52d4dc) the walk is needlessly unreliable, never unsafe', () => {
    const r = walk({ workload: 'syscall-sleep', moment: { kind: 'blocked' } }, { noBlockedFp: true });
    assert.equal(r.outcome, 'correctly-unreliable');
    assert.match(r.reason!, /__schedule|schedule/);
  });
});

describe('loongarch64-orc: exceptions', () => {
  test('an IRQ in a leaf: ORC says ra is in its register, taken from pt_regs', () => {
    const r = walk(irq('work_c', 1));
    assert.equal(r.outcome, 'sound-reliable');
    assert.deepEqual(r.fns, ['handle_timer_irq', 'handle_loongarch_irq', 'do_vint', 'handle_vint', 'work_c', 'work_b', 'work_a', 'sys_work', 'do_syscall', 'handle_syscall']);
  });

  test('an IRQ in a body after a call: pt_regs\' ra is stale, trusting it is unsafe', () => {
    const at = kit.instructions('work-chain', undefined, 'work_b').findIndex((t) => t === 'bl work_c') + 1;
    assert.equal(walk(irq('work_b', at)).outcome, 'sound-reliable');
    const bad = walk(irq('work_b', at), { trustRa: true });
    assert.equal(bad.outcome, 'unsafe');
  });

  test('a preempted task: the IRQ frame is crossed on the task stack', () => {
    const r = walk(irq('work_b', 4, 'preempted'));
    assert.equal(r.outcome, 'sound-reliable');
    assert.ok(r.fns.includes('handle_vint') && r.fns.includes('work_a'));
  });

  test('an IRQ in a prologue before the frame exists, and in the entry code of the fault handler', () => {
    for (const i of [0, 1, 2, 3]) assert.notEqual(walk(irq('work_b', i)).outcome, 'unsafe', `work_b[${i}]`);
  });

  test('bt_address(): a vector address is its handler at the same offset; unused vectors and non-text are 0', () => {
    const s = walk({ workload: 'syscall-sleep', moment: { kind: 'blocked' } }).snap;
    const sys = s.syms.byName('handle_syscall')!.start;
    const vint = s.syms.byName('handle_vint')!.start;
    assert.equal(btAddress(s, vectorAddr(A.EXCCODE_SYS) + 12), sys + 12);
    assert.equal(btAddress(s, vectorAddr(A.EXCCODE_INT_START + 3) + 8), vint + 8, 'every interrupt vector is handle_vint');
    assert.equal(btAddress(s, EENTRY + 5 * A.VECSIZE), 0, 'handle_reserved: no such handler here');
    assert.equal(btAddress(s, 0x1234), 0);
  });
});

describe('loongarch64-orc: return trampolines', () => {
  test('return_to_handler and arch_rethook_trampoline are recovered by the frame\'s CFA', () => {
    const f = walk({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'] }, moment: { kind: 'blocked' } });
    assert.equal(f.outcome, 'sound-reliable');
    const k = walk({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' } });
    assert.equal(k.outcome, 'sound-reliable');
    assert.ok(k.fns.includes('sys_sleep') && !k.fns.includes('arch_rethook_trampoline'));
  });

  test('an unrecoverable trampoline is an error', () => {
    for (const corrupt of ['fgraph-ret-stack-wrong-key', 'fgraph-ret-stack-empty'] as const) {
      assert.equal(walk({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'] }, moment: { kind: 'blocked' }, corrupt }).outcome, 'correctly-unreliable', corrupt);
    }
    assert.equal(walk({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' }, corrupt: 'kretprobe-instance-wrong-key' }).outcome, 'correctly-unreliable');
  });

  test('the ftrace call site: an IRQ at each instruction of ftrace_caller is sound', () => {
    const n = kit.instructions('work-chain', { ftraceRegs: ['work_b'] }, 'ftrace_caller').length;
    let reliable = 0;
    for (let i = 0; i < n; i += 3) {
      const o = walk({ workload: 'work-chain', instrument: { ftraceRegs: ['work_b'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'ftrace_caller', index: i }, walk: 'in-handler' } }).outcome;
      assert.ok(o === 'sound-reliable' || o === 'correctly-unreliable', `ftrace_caller[${i}]: ${o}`);
      if (o === 'sound-reliable') reliable++;
    }
    assert.ok(reliable > 0, 'after its REGS hint the trampoline is unwound through its pt_regs');
  });
});

describe('loongarch64-orc: code it must reject', () => {
  test('UNDEFINED entries, BPF (no ORC), frame-pointer protocol violations', () => {
    assert.equal(walk({ workload: 'hint-undefined', moment: { kind: 'blocked' } }).outcome, 'correctly-unreliable');
    assert.equal(walk({ workload: 'bpf-sleep', moment: { kind: 'blocked' } }).outcome, 'correctly-unreliable');
    assert.equal(walk({ workload: 'fp-violation', moment: { kind: 'blocked' } }).outcome, 'correctly-unreliable');
    // ftrace_caller's last instruction (jr $t0) is UNDEFINED: ra holds the traced function's caller, t0 the
    // return into the traced function. Walked as a function entry, the traced function is skipped.
    const last = kit.instructions('work-chain', { ftraceRegs: ['work_b'] }, 'ftrace_caller').length - 1;
    const tramp: SceneSpec = { workload: 'work-chain', instrument: { ftraceRegs: ['work_b'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'ftrace_caller', index: last }, walk: 'in-handler' } };
    assert.equal(walk(tramp).outcome, 'correctly-unreliable');
    assert.equal(walk(tramp, { undefinedAsEntry: true }).outcome, 'unsafe');
  });

  test('corrupt frame records and exception frames are rejected or soundly walked', () => {
    for (const corrupt of ['frame-pointer-zeroed', 'frame-chain-cycle', 'frame-pointer-misaligned', 'frame-pointer-unmapped', 'frame-pointer-other-task', 'return-address-garbage'] as const) {
      const o = walk({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt }).outcome;
      assert.ok(o === 'correctly-unreliable' || o === 'sound-reliable', `${corrupt}: ${o}`);
    }
    for (const corrupt of ['exception-pc-garbage', 'exception-sp-unmapped', 'exception-fp-misaligned'] as const) {
      const o = walk({ ...irq('work_b', 4), corrupt }).outcome;
      assert.equal(o, 'correctly-unreliable', corrupt);
    }
  });
});
