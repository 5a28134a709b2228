/**
 * x86_64 reference unwinders (ORC, frame pointer) on hand-built snapshots: the true chain is known
 * because the test laid the stack out itself.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { X86_64_ABI as A } from '../src/isa/x86_64/abi';
import { unsafeAccesses, type WalkRecord } from '../src/oracle/oracle';
import type { LoadedSnapshot } from '../src/snapshot/io';
import { hex } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder, walkInProcess } from '../src/unwinders/registry';
import { Cpu, EFI, IRQ, NMI, OTHER, PT_REGS, SIZE, kernelOrc, snapshotOf, sym } from './x86_64-unwinders-layout';

const orcU = referenceUnwinder(builtinProfile('x86_64-orc'));
const fpU = referenceUnwinder(builtinProfile('x86_64-fp'));
const BOTH = [
  ['orc', orcU],
  ['fp', fpU],
] as const;

function walk(u: typeof orcU, snap: LoadedSnapshot): WalkRecord & { rc: number; trace: number[]; reason: string } {
  const w = walkInProcess(u, snap, 2000);
  assert.equal(w.error, undefined, w.error);
  assert.equal(w.runaway, undefined, w.runaway);
  assert.deepEqual(unsafeAccesses(snap, w.accesses ?? []), [], 'no read outside the task’s accessible stacks');
  assert.ok((w.accesses?.length ?? 0) < 200, `bounded reads (${w.accesses?.length})`);
  return { ...w, rc: w.result!.rc, trace: w.result!.trace, reason: w.result!.reason ?? '' };
}

const names = (snap: LoadedSnapshot, t: number[]) => t.map((a) => snap.syms.describe(a));

/** user task: entry -> sys_work -> work_a -> schedule -> __schedule, switched out. */
function blockedUser(extra?: (cpu: Cpu) => void) {
  const cpu = new Cpu();
  cpu.syscall();
  cpu.into('sys_work');
  cpu.into('work_a');
  extra?.(cpu);
  cpu.into('schedule');
  const tsp = cpu.switchOut();
  return { cpu, tsp };
}

const blockedSnap = (cpu: Cpu, tsp: number, o: Partial<Parameters<typeof snapshotOf>[1]> = {}) =>
  snapshotOf(cpu, { state: 'blocked', regs: { rsp: tsp, rip: sym('__schedule') + 0x15 }, ...o });

describe('good chains are reliable and exact', () => {
  for (const [n, u] of BOTH) {
    test(`${n}: blocked user task ends at the syscall pt_regs`, () => {
      const { cpu, tsp } = blockedUser();
      const snap = blockedSnap(cpu, tsp);
      const r = walk(u, snap);
      assert.equal(r.rc, 0, r.reason);
      assert.deepEqual(names(snap, r.trace), ['__schedule+0x15', 'schedule+0x15', 'work_a+0x15', 'sys_work+0x15', 'entry_SYSCALL_64+0x25']);
      assert.deepEqual(r.trace, cpu.expected());
    });

    test(`${n}: kernel thread ends at ret_from_fork_asm over task_pt_regs`, () => {
      const cpu = new Cpu();
      cpu.kthread();
      cpu.into('kthread');
      cpu.into('worker_thread');
      cpu.into('schedule');
      const tsp = cpu.switchOut();
      const snap = blockedSnap(cpu, tsp, { kind: 'kthread' });
      const r = walk(u, snap);
      assert.equal(r.rc, 0, r.reason);
      assert.deepEqual(names(snap, r.trace), ['__schedule+0x15', 'schedule+0x15', 'worker_thread+0x15', 'kthread+0x15', 'ret_from_fork_asm+0x15']);
    });
  }
});

/** Corruptions of a saved rbp: the walk must fail without an unsafe read. */
describe('corrupt frame links are rejected without unsafe reads', () => {
  // Saved rbp slot of work_a's frame (it links to sys_work's frame).
  const cases: [string, (cpu: Cpu, slot: number, inner: number) => number][] = [
    ['zeroed', () => 0],
    ['misaligned', (_c, slot) => slot + 0x14],
    ['unmapped', () => 0x7000_0000],
    ['another task’s stack', () => OTHER + 0x3f00],
    ['cyclic (points at an inner frame)', (_c, _s, inner) => inner],
    ['downward', (_c, slot) => slot - 0x40],
    ['the IRQ stack (wrong stack transition)', () => IRQ + 0x3f00],
    ['text', () => sym('work_b')],
  ];
  for (const [what, value] of cases) {
    for (const [n, u] of BOTH) {
      test(`${n}: saved rbp ${what}`, () => {
        let slot = 0;
        const { cpu, tsp } = blockedUser((c) => {
          slot = c.rbp; // work_a's frame record: [slot] = sys_work's rbp
        });
        const inner = cpu.mem.read64(tsp + A.ITF_RBP); // __schedule's frame
        cpu.mem.write64(slot, value(cpu, slot, inner));
        const snap = blockedSnap(cpu, tsp);
        const r = walk(u, snap);
        assert.notEqual(r.rc, 0, `trace ${names(snap, r.trace).join(' ')}`);
      });
    }
  }

  for (const [n, u] of BOTH) {
    test(`${n}: return address that is not kernel text`, () => {
      const { cpu, tsp } = blockedUser();
      cpu.mem.write64(cpu.slots[2]!, EFI + 0x10); // work_a's return into sys_work
      const r = walk(u, blockedSnap(cpu, tsp));
      assert.notEqual(r.rc, 0);
      assert.match(r.reason, /not kernel text|no ORC entry/);
    });

    test(`${n}: thread.sp outside the task stack`, () => {
      const { cpu } = blockedUser();
      const r = walk(u, blockedSnap(cpu, OTHER + 0x100));
      assert.notEqual(r.rc, 0);
      assert.equal(r.trace.length, 0);
    });

    test(`${n}: user-mode regs that are not task_pt_regs end nothing`, () => {
      const cpu = new Cpu();
      // A fake user frame half way down the stack, entry calls sys_work from there.
      const fake = PT_REGS - 0x400;
      cpu.ptRegs(fake, 0x40_1000, 0x7ffc_0000, 0, A.USER_CS);
      cpu.rsp = fake;
      cpu.call('entry_SYSCALL_64', 0x25);
      cpu.rbp = n === 'fp' ? fake + 1 : 0;
      cpu.prologue();
      cpu.into('sys_work');
      cpu.into('schedule');
      const tsp = cpu.switchOut();
      const r = walk(u, blockedSnap(cpu, tsp));
      assert.notEqual(r.rc, 0);
    });
  }

  for (const [n, u] of BOTH) {
    test(`${n}: a recursion deeper than the frame bound stops, unreliable and within the read budget`, () => {
      const { cpu, tsp } = blockedUser((c) => {
        for (let i = 0; i < 700; i++) c.into('work_a', 0);
      });
      const snap = blockedSnap(cpu, tsp);
      const w = walkInProcess(u, snap, 5000);
      assert.equal(w.runaway, undefined);
      assert.notEqual(w.result!.rc, 0);
      assert.match(w.result!.reason ?? '', /frames/);
      assert.deepEqual(unsafeAccesses(snap, w.accesses ?? []), []);
    });
  }

  test('orc: END_OF_STACK away from task_pt_regs is not a successful end', () => {
    const cpu = new Cpu();
    cpu.rsp = PT_REGS - 0x200;
    cpu.call('ret_from_fork_asm');
    cpu.prologue();
    cpu.into('kthread');
    cpu.into('schedule');
    const tsp = cpu.switchOut();
    const r = walk(orcU, blockedSnap(cpu, tsp, { kind: 'kthread' }));
    assert.notEqual(r.rc, 0);
    assert.match(r.reason, /END_OF_STACK/);
  });

  test('orc: an UNDEFINED entry fails the walk', () => {
    const { cpu, tsp } = blockedUser((c) => c.into('undef_fn'));
    const r = walk(orcU, blockedSnap(cpu, tsp));
    assert.notEqual(r.rc, 0);
    assert.match(r.reason, /UNDEFINED/);
  });

  test('orc: a function without ORC entries fails the walk (no frame-pointer guess)', () => {
    const { cpu, tsp } = blockedUser((c) => c.into('no_orc_fn'));
    const r = walk(orcU, blockedSnap(cpu, tsp));
    assert.notEqual(r.rc, 0);
    assert.match(r.reason, /no ORC entry/);
  });

  test('fp: the same frames walk fine without ORC (control for the two tests above)', () => {
    const { cpu, tsp } = blockedUser((c) => c.into('undef_fn'));
    const r = walk(fpU, blockedSnap(cpu, tsp));
    assert.equal(r.rc, 0, r.reason);
    assert.ok(names(blockedSnap(cpu, tsp), r.trace).includes('undef_fn+0x15'));
  });

  test('orc: an empty table rejects everything', () => {
    const { cpu, tsp } = blockedUser();
    const r = walk(orcU, blockedSnap(cpu, tsp, { orc: [] }));
    assert.notEqual(r.rc, 0);
  });
});

/** IRQ taken in work_c, walked from the handler on the IRQ stack. */
function irqScene(pcOffset: 'body' | 'entry' | 'after-push', fromUser = false) {
  const cpu = new Cpu();
  cpu.syscall();
  let pc: number;
  if (fromUser) {
    pc = 0x40_1000;
  } else {
    cpu.into('sys_work');
    cpu.into('work_a');
    cpu.into('work_b');
    if (pcOffset === 'body') {
      cpu.into('work_c');
      pc = sym('work_c') + 8;
    } else {
      cpu.call('work_b');
      if (pcOffset === 'after-push') cpu.push(cpu.rbp);
      pc = sym('work_c') + (pcOffset === 'entry' ? 0 : 1);
    }
  }
  const regs = fromUser ? PT_REGS : cpu.rsp - A.PT_REGS_SIZE - 8;
  cpu.ptRegs(regs, pc, fromUser ? 0x7ffc_0000 : cpu.rsp, cpu.rbp, fromUser ? A.USER_CS : A.KERNEL_CS);
  const interruptedRets = [...cpu.rets].reverse();
  // call_on_irqstack: old sp (-> pt_regs) at the IRQ stack top, then irq_entry calls irq_handler.
  cpu.rsp = IRQ + SIZE;
  cpu.push(regs);
  cpu.call('irq_entry', 0x30);
  cpu.rbp = regs + 1; // ENCODE_FRAME_POINTER
  cpu.prologue();
  const hpc = sym('irq_handler') + 0x10;
  const snap = snapshotOf(cpu, { state: 'running', regs: { rip: hpc, rsp: cpu.rsp, rbp: cpu.rbp } });
  return { cpu, snap, expected: [hpc, sym('irq_entry') + 0x30, ...(fromUser ? [] : [pc]), ...(fromUser ? [] : interruptedRets)] };
}

describe('exception frames', () => {
  for (const at of ['body', 'entry', 'after-push'] as const) {
    test(`orc: IRQ at work_c ${at} unwinds through kernel-mode pt_regs reliably`, () => {
      const { snap, expected } = irqScene(at);
      const r = walk(orcU, snap);
      assert.equal(r.rc, 0, r.reason);
      assert.deepEqual(names(snap, r.trace), names(snap, expected));
    });
    test(`fp: IRQ at work_c ${at} is unreliable (kernel-mode pt_regs)`, () => {
      const { snap } = irqScene(at);
      const r = walk(fpU, snap);
      assert.notEqual(r.rc, 0);
      assert.match(r.reason, /kernel-mode pt_regs/);
    });
  }

  for (const [n, u] of BOTH) {
    test(`${n}: IRQ from user mode ends at task_pt_regs`, () => {
      const { snap, expected } = irqScene('body', true);
      const r = walk(u, snap);
      assert.equal(r.rc, 0, r.reason);
      assert.deepEqual(r.trace, expected);
      assert.deepEqual(names(snap, r.trace), ['irq_handler+0x10', 'irq_entry+0x30']);
    });
  }

  test('fp: entry code whose exception frame was not encoded is rejected', () => {
    const { cpu, snap } = irqScene('body');
    // The handler saved the interrupted rbp instead of (regs | 1).
    const frame = snap.regs.rbp!;
    cpu.mem.write64(frame, 0);
    const s2 = snapshotOf(cpu, { state: 'running', regs: { rip: snap.regs.rip!, rsp: snap.regs.rsp!, rbp: frame } });
    const r = walk(fpU, s2);
    assert.notEqual(r.rc, 0);
  });

  test('orc: NMI on the NMI stack over work_c unwinds to the task stack', () => {
    const cpu = new Cpu();
    cpu.syscall();
    cpu.into('sys_work');
    cpu.into('work_c');
    const pc = sym('work_c') + 8;
    const interrupted = [...cpu.rets].reverse();
    const tsp = cpu.rsp;
    const tbp = cpu.rbp;
    cpu.rsp = NMI + SIZE - A.PT_REGS_SIZE;
    const regs = cpu.rsp;
    cpu.ptRegs(regs, pc, tsp, tbp, A.KERNEL_CS);
    cpu.call('nmi_entry', 0x20);
    cpu.rbp = regs + 1;
    cpu.prologue();
    const hpc = sym('nmi_handler') + 0x10;
    const snap = snapshotOf(cpu, { state: 'running', regs: { rip: hpc, rsp: cpu.rsp, rbp: cpu.rbp } });
    const r = walk(orcU, snap);
    assert.equal(r.rc, 0, r.reason);
    assert.deepEqual(r.trace, [hpc, sym('nmi_entry') + 0x20, pc, ...interrupted]);
    const f = walk(fpU, snap);
    assert.notEqual(f.rc, 0);
  });

  /** An NMI interrupting `fn`+0 of a user task whose kernel stack is empty (only the NMI frames exist). */
  function nmiAtStart(fn: string, orc = kernelOrc()) {
    const cpu = new Cpu();
    cpu.rsp = NMI + SIZE - A.PT_REGS_SIZE;
    const regs = cpu.rsp;
    cpu.ptRegs(regs, sym(fn), PT_REGS, 0, A.KERNEL_CS);
    cpu.call('nmi_entry', 0x20);
    cpu.rbp = regs + 1;
    cpu.prologue();
    const hpc = sym('nmi_handler') + 0x10;
    const snap = snapshotOf(cpu, { state: 'running', regs: { rip: hpc, rsp: cpu.rsp, rbp: cpu.rbp }, orc });
    return { snap, expected: [hpc, sym('nmi_entry') + 0x20, sym(fn)] };
  }

  test('orc: END_OF_STACK in an interrupted entry point is a successful end', () => {
    const { snap, expected } = nmiAtStart('ret_from_fork_asm');
    const r = walk(orcU, snap);
    assert.equal(r.rc, 0, r.reason);
    assert.deepEqual(r.trace, expected);
  });

  test('orc: an SP base register (dx) is read from the full pt_regs the walk came through, and is an error without them', () => {
    const withDx = (fn: string) => kernelOrc().map((e) => (e.ip === hex(sym(fn)) ? { ...e, spReg: 'dx' as const, spOffset: 0, type: 'call' as const, bpReg: 'undefined' as const, bpOffset: 0 } : e));
    const cpu = new Cpu();
    cpu.rsp = NMI + SIZE - A.PT_REGS_SIZE;
    const regs = cpu.rsp;
    cpu.ptRegs(regs, sym('undef_fn'), PT_REGS, 0, A.KERNEL_CS);
    const cfa = PT_REGS + 0x40; // above the interrupted sp: the stack goes the right way
    cpu.mem.write64(regs + A.PT_RDX, cfa);
    cpu.mem.write64(cfa - 8, sym('sys_work') + 0x15);
    cpu.call('nmi_entry', 0x20);
    cpu.rbp = regs + 1;
    cpu.prologue();
    const hpc = sym('nmi_handler') + 0x10;
    const r = walk(orcU, snapshotOf(cpu, { state: 'running', regs: { rip: hpc, rsp: cpu.rsp, rbp: cpu.rbp }, orc: withDx('undef_fn') }));
    assert.deepEqual(r.trace.slice(0, 4), [hpc, sym('nmi_entry') + 0x20, sym('undef_fn'), sym('sys_work') + 0x15], r.reason);
    // The handler's own frame (reached without pt_regs) cannot use a register base.
    const dxAtHandler = [...kernelOrc().filter((e) => e.ip !== hex(hpc)), { ip: hex(hpc), spReg: 'dx' as const, spOffset: 0, type: 'call' as const, bpReg: 'undefined' as const, bpOffset: 0 }];
    const r2 = walk(orcU, snapshotOf(cpu, { state: 'running', regs: { rip: hpc, rsp: cpu.rsp, rbp: cpu.rbp }, orc: dxAtHandler }));
    assert.notEqual(r2.rc, 0);
    assert.match(r2.reason ?? '', /missing DX/);
  });

  test('orc: END_OF_STACK in an interrupted non-entry function is not', () => {
    const orc = kernelOrc().map((e) => (e.ip === hex(sym('undef_fn')) ? { ...e, type: 'end_of_stack' as const } : e));
    const r = walk(orcU, nmiAtStart('undef_fn', orc).snap);
    assert.notEqual(r.rc, 0);
    assert.match(r.reason, /END_OF_STACK/);
  });

  test('orc: pt_regs whose sp points back into the IRQ stack is rejected (one-way stack transitions)', () => {
    const { cpu, snap } = irqScene('body');
    const regs = cpu.mem.read64(IRQ + SIZE - 8);
    cpu.mem.write64(regs + A.PT_RSP, IRQ + 0x100);
    const s2 = snapshotOf(cpu, { state: 'running', regs: { rip: snap.regs.rip!, rsp: snap.regs.rsp!, rbp: snap.regs.rbp! } });
    const r = walk(orcU, s2);
    assert.notEqual(r.rc, 0);
  });

  for (const [n, u] of BOTH) {
    test(`${n}: starting inside return_to_handler is unreliable`, () => {
      const { cpu } = blockedUser();
      const snap = snapshotOf(cpu, { state: 'running', regs: { rip: sym('return_to_handler') + 4, rsp: cpu.rsp, rbp: cpu.rbp } });
      const r = walk(u, snap);
      assert.notEqual(r.rc, 0);
    });
  }
});

describe('rewritten return addresses', () => {
  for (const [n, u] of BOTH) {
    test(`${n}: return_to_handler is replaced by the original return address`, () => {
      const { cpu, tsp } = blockedUser();
      // schedule was graph-traced: its return address into work_a (slot 2) was rewritten.
      const slot = cpu.slots[2]!;
      const orig = cpu.mem.read64(slot);
      cpu.mem.write64(slot, sym('return_to_handler'));
      const fgraph = [{ ret: hex(orig), func: hex(sym('schedule')), retp: hex(slot) }];
      const snap = blockedSnap(cpu, tsp, { fgraph });
      const r = walk(u, snap);
      assert.equal(r.rc, 0, r.reason);
      assert.deepEqual(r.trace, cpu.expected());
    });

    test(`${n}: return_to_handler without its ret_stack entry is unreliable`, () => {
      const { cpu, tsp } = blockedUser();
      const slot = cpu.slots[2]!;
      cpu.mem.write64(slot, sym('return_to_handler'));
      const fgraph = [{ ret: hex(sym('sys_work') + 0x15), func: hex(sym('work_a')), retp: hex(slot + 0x100) }];
      const r = walk(u, blockedSnap(cpu, tsp, { fgraph }));
      assert.notEqual(r.rc, 0);
      assert.match(r.reason, /ret_stack/);
    });

    test(`${n}: two traced frames recover in order`, () => {
      const { cpu, tsp } = blockedUser();
      const fgraph = [2, 3].map((i) => {
        const slot = cpu.slots[i]!;
        const orig = cpu.mem.read64(slot);
        cpu.mem.write64(slot, sym('return_to_handler'));
        return { ret: hex(orig), func: hex(sym('schedule')), retp: hex(slot) };
      });
      const r = walk(u, blockedSnap(cpu, tsp, { fgraph }));
      assert.equal(r.rc, 0, r.reason);
      assert.deepEqual(r.trace, cpu.expected());
    });

    test(`${n}: arch_rethook_trampoline is replaced by the original return address`, () => {
      const { cpu, tsp } = blockedUser();
      const slot = cpu.slots[1]!; // work_a's return into sys_work
      const orig = cpu.mem.read64(slot);
      cpu.mem.write64(slot, sym('arch_rethook_trampoline'));
      const kretprobes = [{ ret: hex(orig), func: hex(sym('work_a')), retp: hex(slot) }];
      const r = walk(u, blockedSnap(cpu, tsp, { kretprobes }));
      assert.equal(r.rc, 0, r.reason);
      assert.deepEqual(r.trace, cpu.expected());
    });

    test(`${n}: kretprobe trampoline without an instance is unreliable`, () => {
      const { cpu, tsp } = blockedUser();
      cpu.mem.write64(cpu.slots[1]!, sym('arch_rethook_trampoline'));
      const r = walk(u, blockedSnap(cpu, tsp));
      assert.notEqual(r.rc, 0);
    });
  }
});

test('layout sanity: ORC table covers the std functions', () => {
  assert.ok(kernelOrc().length > 20);
});
