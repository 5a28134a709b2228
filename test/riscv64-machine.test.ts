/**
 * The riscv64 machine: the instruction subset, the kernel image's layout (frame records below s0,
 * pt_regs with the series' meta record, the IRQ and SSE stacks), and the ground truth the shadow
 * record gives for each kind of moment. No unwinder is involved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, lo12, Op } from '../src/isa/riscv64/assembler';
import { Riscv64Cpu } from '../src/isa/riscv64/interpreter';
import { RISCV64_ABI as A } from '../src/isa/riscv64/abi';
import { Memory } from '../src/machine/memory';
import { SymbolTable } from '../src/machine/symbols';
import { ShadowStack } from '../src/truth/shadow';
import { FINAL_FP, MAP, TASK_PT_REGS } from '../src/kernel/riscv64/image';
import { Riscv64Machine } from '../src/kernel/riscv64/machine';
import { analyse, boundaries, CONTEXT_SWITCH_OMISSIBLE, imageFor, kit } from '../src/kernel/riscv64/kit';
import { loadSnapshot, unhex } from '../src/snapshot/io';
import type { GroundTruth } from '../src/truth/shadow';
import type { SceneSpec } from '../src/scene/types';

const fns = (t: GroundTruth) => t.frames.map((f) => f.fn);
const SYSCALL_BOTTOM = ['do_trap_ecall_u', 'handle_exception'];
const BODY = 4; // work_b's body, after the four-instruction prologue

function bare(text: string) {
  const TEXT = 0xffff80010000;
  const STACK = 0xffc600080000;
  const prog = assemble([{ region: 'kernel-text', base: TEXT, text }]);
  const mem = new Memory();
  mem.map({ name: 'kernel-text', kind: 'kernel-text', base: TEXT, size: 0x1000 });
  mem.map({ name: 'stack', kind: 'task-stack', base: STACK, size: 0x4000 });
  const shadow = new ShadowStack(new SymbolTable(prog.symbols));
  const cpu = new Riscv64Cpu(prog, mem, shadow, { pseudo: (_c, i) => (i.sys === 'CPU_SWITCH' ? 'blocked' : undefined) });
  cpu.pc = prog.labels.get('start')!;
  cpu.sp = STACK + 0x4000;
  return { prog, mem, shadow, cpu };
}

test('the subset assembles: ABI register names, pseudo-instructions, symbol parts for auipc / jalr', () => {
  const p = assemble([{ region: 'kernel-text', base: 0xffff80010000, text: ['start:', '  mv s0, sp', '  call f', '  auipc t0, f', '  jalr t0, f(t0)', '  ret', 'f:', '  ret'].join('\n') }]);
  const f = p.labels.get('f')!;
  const [mv, call, auipc, jalr, ret] = [0, 4, 8, 12, 16].map((o) => p.insnAt(0xffff80010000 + o)!);
  assert.deepEqual([mv!.op, mv!.rd, mv!.rs1], [Op.ADDI, 8, 2]);
  assert.deepEqual([call!.op, call!.rd, call!.target], [Op.JAL, 1, f]);
  assert.equal(auipc!.imm + jalr!.imm, f);
  assert.equal(jalr!.imm, lo12(f));
  assert.deepEqual([ret!.op, ret!.rd, ret!.rs1], [Op.JALR, 0, 1]);
});

test('calls link in any register; a jalr through t0 back to the call site is the return (ground truth)', () => {
  const m = bare(['start:', '  auipc t0, tramp', '  jalr t0, tramp(t0)', '  CPU_SWITCH', 'tramp:', '  BODY 1', '  jr t0'].join('\n'));
  assert.equal(m.cpu.run(3), 'limit');
  assert.equal(m.shadow.entries.length, 1, 'inside the trampoline: one live call');
  assert.equal(m.cpu.run(), 'blocked');
  assert.equal(m.shadow.entries.length, 0, 'jr t0 returned into start');
});

test('a blocked task: frame records 16 bytes below s0, thread.ra / s0 saved by __switch_to, truth down to the trap vector', () => {
  const s = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth), ['__switch_to', '__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', ...SYSCALL_BOTTOM]);
  assert.equal(s.truth.frames[0]!.omissible, CONTEXT_SWITCH_OMISSIBLE);
  const snap = loadSnapshot(s.snapshot);
  const ra = snap.regs['ra']!;
  assert.equal(snap.syms.lookup(ra)?.name, '__schedule');
  assert.equal(ra, s.truth.frames[1]!.addr);
  // Follow the records by hand: each {fp, ra} below its frame pointer, ending at the FINAL record.
  const seen: string[] = [];
  let fp = snap.regs['s0']!;
  for (let n = 0; n < 10 && snap.mem.read64(fp - 16) !== 0; n++) {
    seen.push(snap.syms.lookup(snap.mem.read64(fp - 8))!.name);
    fp = snap.mem.read64(fp - 16);
  }
  assert.deepEqual(seen, ['schedule', 'do_nanosleep', 'sys_sleep', 'do_trap_ecall_u', 'handle_exception']);
  assert.equal(fp, FINAL_FP);
  assert.equal(fp - 16, TASK_PT_REGS + A.S_STACKFRAME);
  assert.equal(snap.finalFrame, TASK_PT_REGS + A.S_STACKFRAME);
  assert.equal(snap.mem.read64(fp), A.FRAME_META_TYPE_FINAL);
  assert.equal(snap.mem.read64(TASK_PT_REGS + A.PT_STATUS) & A.SR_SPP, 0, 'the trap came from U-mode');
});

test('work_c is a gcc leaf frame: s0 saved where a record keeps ra, ra left in its register', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_c', index: 3 }, walk: 'in-handler' } });
  const snap = loadSnapshot(s.snapshot);
  let regs = -1;
  for (let a = MAP.task.base; a < MAP.task.base + MAP.task.size && regs < 0; a += 8) if (snap.mem.read64(a + A.S_STACKFRAME_TYPE) === A.FRAME_META_TYPE_PT_REGS && snap.mem.read64(a + A.S_STACKFRAME) === 0) regs = a;
  const s0 = snap.mem.read64(regs + A.PT_S0);
  assert.equal(snap.syms.lookup(snap.mem.read64(regs + A.PT_RA))?.name, 'work_b', 'ra is live');
  // The word where a full record keeps ra holds work_b's frame pointer instead.
  assert.equal(snap.mem.find(snap.mem.read64(s0 - 8))?.kind, 'task-stack');
  assert.deepEqual(fns(s.truth).slice(5, 8), ['work_c', 'work_b', 'work_a']);
});

test('a kernel thread starts at ret_from_fork with s0 at its FINAL record', () => {
  const s = kit.buildScene({ workload: 'kthread-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth), ['__switch_to', '__schedule', 'schedule', 'worker_thread', 'kthread', 'ret_from_fork']);
  assert.equal(s.snapshot.task.kind, 'kthread');
});

test('an IRQ in work_b: pt_regs below the interrupted sp, a PT_REGS record, the handler on the IRQ stack', () => {
  const spec: SceneSpec = { workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: BODY }, walk: 'in-handler' } };
  const s = kit.buildScene(spec);
  assert.deepEqual(fns(s.truth), ['handle_timer_irq', 'handle_riscv_irq', 'call_on_irq_stack', 'do_irq', 'handle_exception', 'work_b', 'work_a', 'sys_work', ...SYSCALL_BOTTOM]);
  assert.equal(s.truth.frames[5]!.why, 'exception');
  const snap = loadSnapshot(s.snapshot);
  assert.equal(snap.mem.find(snap.regs['sp']!)?.name, MAP.irq.name);
  assert.deepEqual(snap.stacks.map((x) => x.type), ['task', 'irq', 'overflow', 'nmi']);
  // The innermost PT_REGS record on the task stack saves work_b's pc and says S-mode.
  let regs = -1;
  for (let a = MAP.task.base; a < MAP.task.base + MAP.task.size; a += 8) {
    if (snap.mem.read64(a + A.S_STACKFRAME_TYPE) === A.FRAME_META_TYPE_PT_REGS && snap.mem.read64(a + A.S_STACKFRAME) === 0) {
      regs = a;
      break;
    }
  }
  assert.ok(regs > 0);
  assert.equal(snap.syms.lookup(snap.mem.read64(regs + A.PT_EPC))?.name, 'work_b');
  assert.notEqual(snap.mem.read64(regs + A.PT_STATUS) & A.SR_SPP, 0);
  assert.equal(s.snapshot.context?.inHardirq, true);
});

test('an NMI (SBI SSE) runs on the SSE stack; nested in an IRQ, both boundaries are in the truth', () => {
  const at = { fn: 'work_b', index: BODY };
  const n = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at, walk: 'in-handler' } });
  assert.deepEqual(fns(n.truth).slice(0, 4), ['perf_nmi_handler', 'do_sse', 'handle_sse', 'work_b']);
  assert.equal(loadSnapshot(n.snapshot).mem.find(loadSnapshot(n.snapshot).regs['sp']!)?.kind, 'nmi-stack');
  assert.equal(n.snapshot.context?.inNmi, true);
  // Its pt_regs are where the kit says: an exception-frame corruption there redirects the NMI's return.
  const bad = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at, walk: 'in-handler' }, corrupt: 'exception-pc-garbage' });
  assert.equal(bad.truth.redirected?.length, 1);
  const nested = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at, walk: 'in-handler', nested: 'nmi' } });
  assert.equal(nested.truth.frames.filter((f) => f.why === 'exception').length, 2);
});

test('preempted on IRQ return and blocked, a kprobe ebreak, a page fault that sleeps', () => {
  const at = { fn: 'work_b', index: BODY };
  const pre = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at, walk: 'preempted' } });
  assert.deepEqual(fns(pre.truth).slice(0, 5), ['__switch_to', '__schedule', 'preempt_schedule_irq', 'do_irq', 'handle_exception']);
  const brk = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'brk', at, walk: 'in-handler' } });
  assert.deepEqual(fns(brk.truth).slice(0, 4), ['kprobe_breakpoint_handler', 'handle_break', 'do_trap_break', 'handle_exception']);
  const pf = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'page-fault', at, walk: 'preempted' } });
  assert.deepEqual(fns(pf.truth).slice(0, 6), ['__switch_to', '__schedule', 'schedule', 'handle_page_fault', 'do_page_fault', 'handle_exception']);
});

test('the ftrace call site leaves ra alone and links in t0; fgraph and rethook rewrite the saved ra, keyed by the caller\'s s0', () => {
  const cs = kit.instructions('work-chain', { ftraceRegs: ['work_b'] }, 'work_b');
  assert.deepEqual(cs.slice(0, 2), ['auipc t0, ftrace_caller', 'jalr t0, ftrace_caller(t0)']);
  const m = new Riscv64Machine(imageFor('work-chain', { ftraceRegs: ['work_b'] }).img);
  const tramp = m.addr('ftrace_caller');
  assert.equal(m.cpu.run(100_000, tramp), 'break');
  assert.equal(m.syms.lookup(m.cpu.x[5]!)?.name, 'work_b', 't0 returns into the traced function');
  assert.equal(m.syms.lookup(m.cpu.x[1]!)?.name, 'work_a', 'ra still holds work_b\'s own return address');
  const g = kit.buildScene({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep', 'sys_sleep'], kretprobe: ['schedule'] }, moment: { kind: 'blocked' } });
  const snap = loadSnapshot(g.snapshot);
  assert.equal(g.snapshot.fgraph?.stack.length, 2);
  assert.equal(g.snapshot.kretprobes.length, 1);
  // Each entry's key is the s0 its function was entered with: the frame pointer of the caller's frame.
  const rth = snap.syms.get('return_to_handler').start;
  let fp = snap.regs['s0']!;
  const keys: number[] = [];
  for (let n = 0; n < 10 && snap.mem.read64(fp - 16) !== 0; n++) {
    if (snap.mem.read64(fp - 8) === rth) keys.push(snap.mem.read64(fp - 16));
    fp = snap.mem.read64(fp - 16);
  }
  assert.deepEqual(keys.reverse(), g.snapshot.fgraph!.stack.map((e) => unhex(e.retp)));
});

test('sweeps: IRQs only where sstatus.SIE is set, the NMI anywhere; the analyser flags the fp-protocol violation only', () => {
  const bs = boundaries('work-chain');
  assert.ok(bs.some((b) => b.irqMasked && b.fn === 'handle_exception'));
  assert.ok(bs.some((b) => !b.irqMasked && b.fn === 'work_b'));
  assert.deepEqual(analyse('fp-violation').filter((f) => f.kind === 'fp-protocol').map((f) => f.fn), ['fpviol_fn']);
  assert.deepEqual(analyse('work-chain').filter((f) => f.kind === 'fp-protocol'), []);
  assert.deepEqual(analyse('unreachable-code').filter((f) => f.kind === 'unreachable-instruction').map((f) => f.fn), ['orphan_stub']);
});
