/**
 * The powerpc64 machine: the instruction subset, the kernel image's layout (back chain and LR save slots,
 * interrupt frames with the "regs" marker, the hardirq and emergency stacks, stack_end for user tasks and
 * kernel threads), and the ground truth the shadow record gives for each kind of moment. No unwinder is
 * involved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, Op } from '../src/isa/powerpc64/assembler';
import { Powerpc64Cpu } from '../src/isa/powerpc64/interpreter';
import { POWERPC64_ABI as A } from '../src/isa/powerpc64/abi';
import { Memory } from '../src/machine/memory';
import { SymbolTable } from '../src/machine/symbols';
import { ShadowStack } from '../src/truth/shadow';
import { KTHREAD_STACK_END, MAP, USER_STACK_END } from '../src/kernel/powerpc64/image';
import { Powerpc64Machine } from '../src/kernel/powerpc64/machine';
import { analyse, CONTEXT_SWITCH_OMISSIBLE, imageFor, kit } from '../src/kernel/powerpc64/kit';
import { loadSnapshot } from '../src/snapshot/io';
import { exceptionFrames } from '../src/report/stack-dump';
import type { GroundTruth } from '../src/truth/shadow';

const fns = (t: GroundTruth) => t.frames.map((f) => f.fn);
const TEXT = 0xc00000010000;

test('the subset assembles: macro calls, stdu, mflr / mtctr, andi. with beq', () => {
  const p = assemble([{ region: 'kernel-text', base: TEXT, text: ['start:', '  LOAD_REG_ADDR(r12, f)', '  stdu r1, -32(r1)', '  mflr r0', '  andi. r9, r12, 4', '  beq f', 'f:', '  blr'].join('\n') }]);
  const f = p.labels.get('f')!;
  const [la, stdu, mflr, andi, beq] = [0, 4, 8, 12, 16].map((o) => p.insnAt(TEXT + o)!);
  assert.deepEqual([la!.op, la!.rd, la!.target], [Op.LA, 12, f]);
  assert.deepEqual([stdu!.op, stdu!.rd, stdu!.ra, stdu!.imm], [Op.STDU, 1, 1, -32]);
  assert.deepEqual([mflr!.op, mflr!.rd], [Op.MFLR, 0]);
  assert.deepEqual([andi!.op, andi!.imm], [Op.ANDI_, 4]);
  assert.deepEqual([beq!.op, beq!.whenEq, beq!.target], [Op.BC, true, f]);
});

test('bl links LR and is a call; stdu stores the back chain and moves r1; blr returns (ground truth)', () => {
  const STACK = 0xc00100080000;
  const prog = assemble([{ region: 'kernel-text', base: TEXT, text: ['start:', '  bl f', '  CPU_SWITCH', 'f:', '  mflr r0', '  std r0, 16(r1)', '  stdu r1, -32(r1)', '  addi r1, r1, 32', '  ld r0, 16(r1)', '  mtlr r0', '  blr'].join('\n') }]);
  const mem = new Memory();
  mem.map({ name: 'kernel-text', kind: 'kernel-text', base: TEXT, size: 0x1000 });
  mem.map({ name: 'stack', kind: 'task-stack', base: STACK, size: 0x4000 });
  const shadow = new ShadowStack(new SymbolTable(prog.symbols));
  const cpu = new Powerpc64Cpu(prog, mem, shadow, { pseudo: (_c, i) => (i.sys === 'CPU_SWITCH' ? 'blocked' : undefined) });
  cpu.pc = TEXT;
  cpu.sp = STACK + 0x1000;
  cpu.run(4);
  assert.equal(shadow.entries.length, 1);
  assert.equal(mem.read64(STACK + 0x1000 + 16), TEXT + 4, 'the return address in the caller\'s LR save slot');
  assert.equal(cpu.sp, STACK + 0x1000 - 32);
  assert.equal(mem.read64(cpu.sp), STACK + 0x1000, 'the back chain');
  assert.equal(cpu.run(), 'blocked');
  assert.equal(shadow.entries.length, 0);
});

test('a blocked user task: truth from _switch (omissible) to system_call_common, whose frame is stack_end', () => {
  const s = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth), ['_switch', '__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', 'system_call_exception', 'system_call_common']);
  assert.equal(s.truth.frames[0]!.omissible, CONTEXT_SWITCH_OMISSIBLE);
  const snap = loadSnapshot(s.snapshot);
  assert.equal(snap.finalFrame, USER_STACK_END);
  // The user interrupt frame at stack_end: back chain = user r1, the marker, and the return into system_call_common saved by system_call_exception.
  assert.equal(snap.mem.read64(USER_STACK_END + A.STACK_INT_FRAME_MARKER), A.STACK_FRAME_REGS_MARKER);
  assert.equal(snap.syms.lookup(snap.mem.read64(USER_STACK_END + 16))?.name, 'system_call_common');
  // The first frame (_switch's) holds a stale return into pick_next_task in its LR save slot.
  const ksp = snap.regs['r1']!;
  assert.equal(snap.syms.lookup(snap.mem.read64(ksp + 16))?.name, 'pick_next_task');
});

test('a kernel thread: copy_thread()\'s minimal frame at THREAD_SIZE - STACK_FRAME_MIN_SIZE, kthread\'s frame where a user stack_end would be', () => {
  const s = kit.buildScene({ workload: 'kthread-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth), ['_switch', '__schedule', 'schedule', 'worker_thread', 'kthread', 'start_kernel_thread']);
  const snap = loadSnapshot(s.snapshot);
  assert.equal(snap.finalFrame, KTHREAD_STACK_END);
  assert.equal(snap.mem.read64(KTHREAD_STACK_END), 0);
  // The frame whose back chain is the initial frame is kthread's, at the user stack_end.
  let sp = snap.regs['r1']!;
  while (snap.mem.read64(sp) !== KTHREAD_STACK_END) sp = snap.mem.read64(sp);
  assert.equal(sp, USER_STACK_END);
});

test('an IRQ in work_b: the interrupt frame below the red zone with the marker, the handler on the hardirq stack chained to the task stack', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 3 }, walk: 'in-handler' } });
  assert.deepEqual(fns(s.truth).slice(0, 6), ['handle_timer_irq', '__do_irq', 'call_do_irq', 'do_IRQ', 'interrupt_common', 'work_b']);
  assert.equal(s.truth.frames[5]!.why, 'exception');
  const snap = loadSnapshot(s.snapshot);
  const r1 = snap.regs['r1']!;
  assert.equal(snap.mem.find(r1)?.name, MAP.irq.name);
  // Up the back chain to call_do_irq's frame at the top of the hardirq stack, whose back chain is do_IRQ's frame on the task stack.
  let sp = r1;
  while (snap.mem.find(snap.mem.read64(sp))?.name === MAP.irq.name) sp = snap.mem.read64(sp);
  assert.equal(sp, MAP.irq.base + MAP.irq.size - A.STACK_FRAME_MIN_SIZE);
  const doIrq = snap.mem.read64(sp);
  const irqFrame = snap.mem.read64(doIrq);
  assert.equal(snap.mem.read64(irqFrame + A.STACK_INT_FRAME_MARKER), A.STACK_FRAME_REGS_MARKER);
  assert.equal(snap.mem.read64(irqFrame) - irqFrame, A.STACK_INT_FRAME_SIZE, 'below the interrupted r1 and its red zone');
  assert.equal(snap.mem.read64(irqFrame + A.STACK_INT_FRAME_REGS + A.NIP), s.truth.frames[5]!.addr);
});

test('the stale-marker workload: __schedule\'s frame lies over the dead WARN interrupt frame, its marker cleared on return', () => {
  const s = kit.buildScene({ workload: 'stale-marker-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth).slice(0, 5), ['_switch', '__schedule', 'schedule', 'warn_mid', 'warn_fn']);
  const snap = loadSnapshot(s.snapshot);
  const sched = snap.mem.read64(snap.regs['r1']!);
  assert.equal(snap.syms.lookup(snap.mem.read64(sched + 16))?.name, '__schedule');
  assert.equal(snap.mem.read64(sched + A.STACK_INT_FRAME_MARKER), 0, 'interrupt_return cleared the marker');
  assert.equal(snap.syms.lookup(snap.mem.read64(sched + A.STACK_INT_FRAME_REGS + A.NIP))?.name, 'warn_fn', 'stale pt_regs of the WARN');
});

test('the ftrace call site: between mflr r0 and bl, the return into work_a is in LR and r0 only', () => {
  const m = new Powerpc64Machine(imageFor('work-chain', { ftraceRegs: ['work_b'] }).img);
  const at = m.syms.get('work_b').start + 4;
  assert.equal(m.cpu.run(100_000, at), 'break');
  assert.equal(m.img.prog.insnAt(at)!.text, 'bl ftrace_caller');
  const into = m.shadow.entries[m.shadow.entries.length - 1]!;
  assert.equal(into.fn, 'work_a');
  assert.equal(m.cpu.lr, into.resume);
  assert.equal(m.cpu.r[0], into.resume);
  // work_b has no frame yet: r1 is work_a's, whose LR save slot is not written for this call.
  assert.notEqual(m.mem.read64(m.cpu.sp + 16), into.resume);
});

test('the analyser flags the call before LR is saved, and no C function of the core image', () => {
  assert.deepEqual(analyse('fp-violation').filter((f) => f.kind === 'fp-protocol').map((f) => f.fn), ['fpviol_fn']);
  assert.deepEqual(analyse('syscall-sleep').filter((f) => f.kind === 'fp-protocol'), []);
  assert.deepEqual(analyse('unreachable-code').filter((f) => f.kind === 'unreachable-instruction').map((f) => f.fn), ['orphan_stub']);
});

test('softirqs run on the softirq stack, their frame chained to the hardirq stack', () => {
  const m = new Powerpc64Machine(imageFor('work-chain').img);
  assert.equal(m.cpu.run(100_000, m.syms.get('work_b').start + 12), 'break');
  m.takeException('irq');
  assert.equal(m.cpu.run(100_000, m.syms.get('__do_softirq').start), 'break');
  assert.equal(m.mem.find(m.cpu.sp)?.name, MAP.softirq.name);
  assert.equal(m.mem.find(m.mem.read64(m.cpu.sp))?.name, MAP.irq.name, 'the back chain leads back to the hardirq stack');
  assert.deepEqual(m.shadow.entries.slice(-4).map((e) => e.fn), ['do_IRQ', 'call_do_irq', '__do_irq', 'call_do_softirq']);
});

test('a livepatched function: livepatch_handler keeps the real LR on the livepatch stack, the caller\'s LR slot returns into livepatch_handler', () => {
  const s = kit.buildScene({ workload: 'livepatch-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth), ['_switch', '__schedule', 'schedule', 'klp_new_fn', 'livepatch_handler', 'klp_caller', 'sys_klp', 'system_call_exception', 'system_call_common']);
  assert.ok(s.truth.frames[4]!.omissible, 'livepatch_handler is a return trampoline');
  const snap = loadSnapshot(s.snapshot);
  const lpSp = Number(BigInt.asUintN(48, BigInt(snap.json.task.livepatchSp!)));
  assert.equal(lpSp, MAP.task.base + 8 + A.LIVEPATCH_FRAME_SIZE, 'one entry above the STACK_END_MAGIC');
  const entry = lpSp - A.LIVEPATCH_FRAME_SIZE;
  assert.equal(snap.mem.read64(entry + 8), s.truth.frames[5]!.addr, 'the real LR: the return into klp_caller');
  assert.equal(snap.mem.read64(entry + 16), A.STACK_END_MAGIC);
  // klp_caller's frame: its LR save slot holds the return into livepatch_handler, saved by klp_new_fn.
  let sp = snap.regs['r1']!;
  while (snap.syms.lookup(snap.mem.read64(snap.mem.read64(sp) + 16))?.name !== 'livepatch_handler') sp = snap.mem.read64(sp);
  assert.equal(snap.mem.read64(snap.mem.read64(sp) + 16), s.truth.frames[4]!.addr);
});

test('stack dumps decode the interrupt frame by its marker (a preempted task), and find none once it has returned', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 3 }, walk: 'preempted' } });
  const frames = exceptionFrames(loadSnapshot(s.snapshot));
  assert.equal(frames.length, 1);
  assert.match(frames[0]!.summary, /nip .*work_b\+0xc/);
  assert.deepEqual(exceptionFrames(loadSnapshot(kit.buildScene({ workload: 'stale-marker-sleep', moment: { kind: 'blocked' } }).snapshot)), []);
});
