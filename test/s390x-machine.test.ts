/**
 * The s390x machine: the instruction subset, the kernel image's layout (packed frames with the back
 * chain as their last word, r14 saved in the caller's frame, a zero back chain below pt_regs, the
 * async and mcck stacks), the ftrace call site's %r0, and the ground truth the shadow record gives
 * for each kind of moment. No unwinder is involved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, Op } from '../src/isa/s390x/assembler';
import { S390xCpu } from '../src/isa/s390x/interpreter';
import { S390X_ABI as A, PSW_KERNEL, PSW_USER, userMode } from '../src/isa/s390x/abi';
import { Memory } from '../src/machine/memory';
import { SymbolTable } from '../src/machine/symbols';
import { ShadowStack } from '../src/truth/shadow';
import { MAP, TASK_PT_REGS, initSp } from '../src/kernel/s390x/image';
import { analyse, boundaries, CONTEXT_SWITCH_OMISSIBLE, kit } from '../src/kernel/s390x/kit';
import { loadSnapshot } from '../src/snapshot/io';
import type { GroundTruth } from '../src/truth/shadow';

const fns = (t: GroundTruth) => t.frames.map((f) => f.fn);
const TEXT = 0x03ffe0010000;
const STACK = 0x03ff80080000;

function bare(text: string) {
  const prog = assemble([{ region: 'kernel-text', base: TEXT, text }]);
  const mem = new Memory();
  mem.map({ name: 'kernel-text', kind: 'kernel-text', base: TEXT, size: 0x1000 });
  mem.map({ name: 'stack', kind: 'task-stack', base: STACK, size: 0x4000 });
  const shadow = new ShadowStack(new SymbolTable(prog.symbols));
  const cpu = new S390xCpu(prog, mem, shadow, { pseudo: (_c, i) => (i.sys === 'CPU_SWITCH' ? 'blocked' : undefined) });
  cpu.pc = prog.labels.get('start')!;
  cpu.sp = STACK + 0x3000;
  cpu.mask = PSW_KERNEL;
  return { prog, mem, shadow, cpu };
}

test('the subset assembles: registers, D(B) and D(L,B) operands, extended branch masks', () => {
  const p = assemble([{ region: 'kernel-text', base: TEXT, text: ['start:', '  stmg %r6,%r15,72(%r15)', '  mvc 8(16,%r2),0(%r3)', '  jnz start', '  brasl %r0,f', 'f:', '  br %r14'].join('\n') }]);
  const [stmg, mvc, jnz, brasl] = [0, 4, 8, 12].map((o) => p.insnAt(TEXT + o)!);
  assert.deepEqual([stmg!.op, stmg!.r1, stmg!.r3, stmg!.imm, stmg!.base], [Op.STMG, 6, 15, 72, 15]);
  assert.deepEqual([mvc!.op, mvc!.imm, mvc!.len, mvc!.base, mvc!.imm2, mvc!.base2], [Op.MVC, 8, 16, 2, 0, 3]);
  assert.deepEqual([jnz!.op, jnz!.mask, jnz!.target], [Op.BRC, 7, TEXT]);
  assert.deepEqual([brasl!.op, brasl!.r1, brasl!.target], [Op.BRASL, 0, p.labels.get('f')]);
});

test('a packed frame: r6..r15 into the caller\'s frame, the back chain as the new frame\'s last word; lmg restores r15', () => {
  const m = bare(['start:', '  brasl %r14,f', '  CPU_SWITCH', 'f:', '  stmg %r6,%r15,72(%r15)', '  lgr %r1,%r15', '  aghi %r15,-160', '  stg %r1,152(%r15)', '  CPU_SWITCH', '  lmg %r6,%r15,232(%r15)', '  br %r14'].join('\n'));
  const sp0 = m.cpu.sp;
  assert.equal(m.cpu.run(), 'blocked');
  assert.equal(m.cpu.sp, sp0 - A.STACK_FRAME_OVERHEAD);
  assert.equal(m.mem.read64(m.cpu.sp + A.SF_BACKCHAIN), sp0, 'back chain at +152');
  assert.equal(m.mem.read64(sp0 + A.SF_R14), TEXT + 4, 'r14 in the caller\'s frame, at +136');
  assert.equal(m.shadow.entries.length, 1);
  assert.equal(m.cpu.run(), 'blocked');
  assert.equal(m.cpu.sp, sp0);
  assert.equal(m.shadow.entries.length, 0, 'br %r14 returned');
});

test('brasl %r0 links in r0; br %r1 back to that address is the return into the call site (ground truth)', () => {
  const m = bare(['start:', '  brasl %r0,tramp', '  CPU_SWITCH', 'tramp:', '  lgr %r1,%r0', '  BODY 1', '  br %r1'].join('\n'));
  assert.equal(m.cpu.run(2), 'limit');
  assert.equal(m.cpu.r[0], TEXT + 4, 'the return address into the traced function is in %r0');
  assert.equal(m.shadow.entries.length, 1);
  assert.equal(m.cpu.run(), 'blocked');
  assert.equal(m.shadow.entries.length, 0);
});

test('a blocked task: thread.ksp is __schedule\'s frame, r14 there returns into __schedule; the top frame has a zero back chain below user pt_regs', () => {
  const s = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth), ['__switch_to', '__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', '__do_syscall', 'system_call']);
  assert.equal(s.truth.frames[0]!.omissible, CONTEXT_SWITCH_OMISSIBLE);
  const snap = loadSnapshot(s.snapshot, s.snapshot.id);
  const ksp = snap.regs['r15']!;
  assert.equal(snap.syms.lookup(snap.mem.read64(ksp + A.SF_R14))?.name, '__schedule');
  const top = initSp(MAP.task);
  assert.equal(snap.ptRegs, top + A.STACK_FRAME_OVERHEAD);
  assert.equal(snap.ptRegs, TASK_PT_REGS);
  assert.equal(snap.mem.read64(top + A.SF_BACKCHAIN), 0);
  assert.ok(userMode(snap.mem.read64(TASK_PT_REGS + A.PT_PSW)), 'the final pt_regs are from user mode');
  assert.equal(snap.syms.lookup(snap.mem.read64(top + A.SF_R14))?.name, 'system_call');
});

test('an IRQ in a body: kernel-mode pt_regs below the interrupted r15 with a zero back chain; the handler runs on the async stack', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 4 }, walk: 'in-handler' } });
  assert.deepEqual(fns(s.truth), ['handle_timer_irq', 'do_irq_async', 'do_ext_irq', 'ext_int_handler', 'work_b', 'work_a', 'sys_work', '__do_syscall', 'system_call']);
  const snap = loadSnapshot(s.snapshot, s.snapshot.id);
  const sp = snap.regs['r15']!;
  assert.equal(snap.mem.find(sp, 8)?.name, MAP.async.name);
  // The async stack's first frame chains back to do_ext_irq's entry frame, whose r14 slot returns into ext_int_handler.
  let f = sp;
  while (snap.mem.find(snap.mem.read64(f + A.SF_BACKCHAIN), 8)?.name === MAP.async.name) f = snap.mem.read64(f + A.SF_BACKCHAIN);
  const onTask = snap.mem.read64(f + A.SF_BACKCHAIN);
  assert.equal(snap.syms.lookup(snap.mem.read64(onTask + A.SF_R14))?.name, 'ext_int_handler');
  assert.equal(snap.mem.read64(onTask + A.SF_BACKCHAIN), 0, 'the IRQ frame has a zero back chain: pt_regs follow');
  const regs = onTask + A.STACK_FRAME_OVERHEAD;
  assert.equal(snap.syms.lookup(snap.mem.read64(regs + A.PT_PSW_ADDR))?.name, 'work_b');
  assert.ok(!userMode(snap.mem.read64(regs + A.PT_PSW)));
});

test('a machine check runs on the mcck stack; a kernel thread starts at ret_from_fork below kernel-mode final pt_regs', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at: { fn: 'work_b', index: 4 }, walk: 'in-handler' } });
  assert.equal(s.truth.frames[0]!.fn, 'perf_nmi_handler');
  assert.equal(loadSnapshot(s.snapshot, s.snapshot.id).mem.find(s.snapshot.regs['r15'] ? Number(BigInt(s.snapshot.regs['r15'])) : 0, 8)?.name, MAP.mcck.name);
  const k = kit.buildScene({ workload: 'kthread-sleep', moment: { kind: 'blocked' } });
  assert.equal(fns(k.truth).at(-1), 'ret_from_fork');
  const ks = loadSnapshot(k.snapshot, k.snapshot.id);
  assert.equal(ks.mem.read64(TASK_PT_REGS + A.PT_PSW), PSW_KERNEL);
  assert.notEqual(PSW_KERNEL, PSW_USER);
});

test('fgraph: ftrace_caller\'s graph hook keys the ret_stack entry by the traced function\'s entry sp, where its r14 is saved', () => {
  const s = kit.buildScene({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'] }, moment: { kind: 'blocked' } });
  const snap = loadSnapshot(s.snapshot, s.snapshot.id);
  const e = snap.json.fgraph!.stack[0]!;
  const retp = Number(BigInt(e.retp));
  assert.equal(snap.mem.read64(retp + A.SF_R14), snap.syms.byName('return_to_handler')!.start);
  assert.equal(snap.syms.lookup(Number(BigInt(e.ret)))?.name, 'sys_sleep');
});

test('the analyser reports a call before %r14 is saved, non-standard functions and unreached SYM_CODE', () => {
  assert.ok(analyse('fp-violation').some((f) => f.kind === 'fp-protocol' && f.fn === 'fpviol_fn'));
  assert.ok(!analyse('work-chain').some((f) => f.kind === 'fp-protocol'));
  assert.ok(analyse('nonstandard-sleep').some((f) => f.kind === 'non-standard-skipped' && f.fn === 'nonstd_fn'));
  assert.ok(analyse('unreachable-code').some((f) => f.kind === 'unreachable-instruction' && f.fn === 'orphan_stub'));
});

test('sweeps: every boundary of the syscall path, IRQs masked in entry code, back to user mode at the end', () => {
  const bs = boundaries('work-chain');
  assert.ok(bs.length > 40);
  assert.ok(bs.find((b) => b.fn === 'system_call')!.irqMasked, 'the SVC new PSW disables interrupts');
  assert.ok(!bs.find((b) => b.fn === 'work_b')!.irqMasked);
});
