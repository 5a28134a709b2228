/**
 * The loongarch64 machine: assembler and interpreter, the kernel image (exception vectors as copies of the
 * handlers, the IRQ stack's next_sp, __switch_to's saved context) and the ORC the analyser generates.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyseLoongarch64 } from '../src/analyser/loongarch64';
import { LOONGARCH64_ABI as A } from '../src/isa/loongarch64/abi';
import { assemble, Op, parseReg } from '../src/isa/loongarch64/assembler';
import { buildImage, EENTRY, IRQ_STACK_TOP, MAP, TASK, TASK_PT_REGS, TASK_THREAD, vectorAddr } from '../src/kernel/loongarch64/image';
import { buildScene, imageFor } from '../src/kernel/loongarch64/kit';
import { Loongarch64Machine, vectorHandlerAddress } from '../src/kernel/loongarch64/machine';
import { unhex } from '../src/snapshot/io';

describe('loongarch64 assembler', () => {
  test('ABI register names, $-prefixed or not, and $rN', () => {
    assert.equal(parseReg('$ra'), 1);
    assert.equal(parseReg('sp'), 3);
    assert.equal(parseReg('$fp'), 22);
    assert.equal(parseReg('$s9'), 22);
    assert.equal(parseReg('$s0'), 23);
    assert.equal(parseReg('$r31'), 31);
    assert.equal(parseReg('$x1'), undefined);
  });

  test('instructions, labels and symbols; a copy unit defines no symbols and renames its local labels', () => {
    const text = ['SYM_FUNC_START(f)', '  addi.d $sp, $sp, -16', '  st.d $ra, $sp, 8', '  beqz $a0, .Lout', '  bl g', '.Lout:', '  ld.d $ra, $sp, 8', '  addi.d $sp, $sp, 16', '  jr $ra', 'SYM_FUNC_END(f)', 'SYM_FUNC_START(g)', '  jr $ra', 'SYM_FUNC_END(g)'].join('\n');
    const p = assemble([
      { region: 'kernel-text', base: 0x1000, text },
      { region: 'copy', base: 0x8000, text, labelSuffix: '$c' },
    ]);
    assert.deepEqual(p.symbols.map((s) => s.name), ['f', 'g']);
    const beqz = p.insnAt(0x1008)!;
    assert.equal(beqz.op, Op.BEQ);
    assert.equal(beqz.target, 0x1010);
    assert.equal(p.insnAt(0x8008)!.target, 0x8010, 'the copy branches to its own label');
    assert.equal(p.insnAt(0x800c)!.target, 0x101c, 'symbols resolve to the original');
    assert.throws(() => assemble([{ region: 'x', base: 0, text: 'f:\n  frob $a0' }]), /unknown mnemonic/);
  });
});

describe('loongarch64 kernel image', () => {
  test('each handler is copied to its vector, and vector addresses map back to it', () => {
    const img = buildImage('syscall-sleep');
    const m = new Loongarch64Machine(img);
    const sys = m.syms.get('handle_syscall');
    const v = vectorAddr(A.EXCCODE_SYS);
    assert.equal(img.prog.insnAt(v + 8)!.text, img.prog.insnAt(sys.start + 8)!.text);
    assert.equal(m.syms.lookup(v + 8), undefined, 'the vector copy has no symbol');
    assert.equal(vectorHandlerAddress(m.syms, v + 8), sys.start + 8);
    assert.equal(vectorHandlerAddress(m.syms, EENTRY + 5 * A.VECSIZE), undefined, 'an unused vector');
    assert.equal(vectorHandlerAddress(m.syms, sys.start), undefined);
  });

  test('a blocked task: __switch_to saved ra, sp and fp in task->thread; the truth names handle_syscall', () => {
    const s = buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
    const regs = s.snapshot.regs;
    assert.equal(s.truth.frames.map((f) => f.fn).join(' '), '__switch_to __schedule schedule do_nanosleep sys_sleep do_syscall handle_syscall');
    assert.equal(s.truth.frames[0]!.omissible !== undefined, true);
    assert.match(s.snapshot.id, /^loongarch64\/syscall-sleep\/blocked/);
    const sched = imageFor('syscall-sleep').img.prog.labels.get('__schedule')!;
    assert.ok(unhex(regs.ra!) > sched, 'reg01 returns into __schedule');
    assert.notEqual(unhex(regs.fp!), 0, 'reg22 holds __schedule\'s fp');
    assert.equal(s.snapshot.abi['EENTRY'], EENTRY);
  });

  test('a kernel thread starts on zeroed pt_regs at the top of its stack', () => {
    const s = buildScene({ workload: 'kthread-sleep', moment: { kind: 'blocked' } });
    assert.equal(s.truth.frames.at(-1)!.fn, 'ret_from_kernel_thread');
    assert.equal(unhex(s.snapshot.ptRegs), TASK_PT_REGS);
    assert.equal(TASK_PT_REGS + A.PT_REGS_SIZE, MAP.task.base + MAP.task.size);
  });

  test('an IRQ: next_sp at the IRQ stack top is the task\'s pt_regs, handle_vint is live from its vector copy', () => {
    const img = buildImage('work-chain');
    const m = new Loongarch64Machine(img);
    const at = m.syms.get('work_b').start + 16;
    assert.equal(m.cpu.run(100_000, at), 'break');
    const regs = m.cpu.sp - A.PT_REGS_SIZE;
    m.takeException('irq');
    m.cfg = { walkAt: 'irq' };
    assert.equal(m.cpu.run(100_000), 'walk');
    assert.equal(m.mem.read64(IRQ_STACK_TOP), regs);
    assert.equal(m.mem.read64(regs + A.PT_ERA), at);
    assert.ok(m.cpu.sp < IRQ_STACK_TOP && m.cpu.sp > MAP.irq.base, 'the handler runs on the IRQ stack');
    const vint = [...m.shadow.entries].reverse().find((e) => vectorHandlerAddress(m.syms, e.resume) !== undefined);
    assert.ok(vint, 'do_vint returns into the vector copy');
    assert.equal(m.syms.lookup(vectorHandlerAddress(m.syms, vint.resume)!)!.name, 'handle_vint');
    assert.equal(m.mem.read64(TASK + TASK_THREAD + A.THREAD_REG01), 0, 'not switched out');
  });
});

describe('loongarch64 analyser (ORC)', () => {
  const { img, analysis } = imageFor('fp-violation');
  const entry = (fn: string, index: number) => {
    const a = img.prog.labels.get(fn)! + 4 * index;
    let e;
    for (const o of analysis.orc) if (unhex(o.ip) <= a) e = o;
    return e!;
  };

  test('a C function: sp-based in the prologue, fp-based after it, ra and fp saved below the CFA', () => {
    assert.deepEqual({ ...entry('fpviol_leaf', 0), ip: '' }, { ip: '', spReg: 'sp', spOffset: 0, fpReg: 'undefined', fpOffset: 0, raReg: 'undefined', raOffset: 0, type: 'call' });
    assert.deepEqual({ ...entry('fpviol_leaf', 1), ip: '' }, { ip: '', spReg: 'sp', spOffset: 16, fpReg: 'undefined', fpOffset: 0, raReg: 'undefined', raOffset: 0, type: 'call' });
    assert.deepEqual({ ...entry('fpviol_leaf', 4), ip: '' }, { ip: '', spReg: 'fp', spOffset: 0, fpReg: 'prev_sp', fpOffset: -16, raReg: 'prev_sp', raOffset: -8, type: 'call' });
  });

  test('a call made while ra is only in its register is UNDEFINED (at the call) and reported', () => {
    assert.equal(entry('fpviol_fn', 1).type, 'undefined');
    assert.ok(analysis.findings.some((f) => f.kind === 'fp-protocol' && f.fn === 'fpviol_fn'));
    assert.ok(!analysis.findings.some((f) => f.kind === 'fp-protocol' && f.fn !== 'fpviol_fn'), JSON.stringify(analysis.findings));
  });

  test('entry code follows its hints: UNDEFINED before SAVE_ALL, REGS after; vector copies get no entries', () => {
    const sys = img.prog.labels.get('handle_syscall')!;
    assert.equal(entry('handle_syscall', 0).type, 'undefined');
    const regsAt = analysis.orc.find((o) => o.type === 'regs' && unhex(o.ip) > sys);
    assert.ok(regsAt);
    assert.ok(!analysis.orc.some((o) => unhex(o.ip) < MAP.ktext.base));
  });

  test('the ftrace call site keeps ra in its register for the traced function; BPF gets no entries', () => {
    const traced = imageFor('work-chain', { fgraph: ['work_b'] });
    const a = traced.img.prog.labels.get('work_b')!;
    const row = [...traced.analysis.orc].reverse().find((o) => unhex(o.ip) <= a + 4)!;
    assert.equal(row.type, 'call');
    assert.equal(row.raReg, 'undefined');
    const bpf = imageFor('bpf-sleep');
    assert.ok(!bpf.analysis.orc.some((o) => unhex(o.ip) >= MAP.bpf.base && unhex(o.ip) < MAP.bpf.base + MAP.bpf.size));
    assert.deepEqual(analyseLoongarch64(bpf.img.prog).findings.filter((f) => f.kind === 'fp-protocol'), []);
  });
});
