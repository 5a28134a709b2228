/**
 * The x86_64 machine: assembler, interpreter and kit. Expected chains are written by hand from
 * the workload's source and the spec, never taken from an unwinder.
 */
import assert from 'node:assert/strict';
import { GARBAGE_RA } from '../src/kernel/corrupt';
import { test } from 'node:test';
import { X86_64_ABI as ABI } from '../src/isa/x86_64/abi';
import { assemble, OP, RAX, RDX } from '../src/isa/x86_64/assembler';
import { RETURN_TO_HANDLER } from '../src/kernel/x86_64/source';
import { isSpecQuote } from '../src/conformance/spec-text';
import { boot, boundaries, kit, SWITCH_OMISSIBLE } from '../src/kernel/x86_64/kit';
import { image, PT_REGS } from '../src/kernel/x86_64/image';
import { hex, loadSnapshot, unhex } from '../src/snapshot/io';
import type { Instrumentation, Scene, SceneSpec } from '../src/scene/types';

const fns = (s: Scene): string[] => s.truth.frames.map((f) => f.fn);
const IRQ_HANDLER = ['__common_interrupt', 'common_interrupt', 'asm_common_interrupt'];
const NMI_HANDLER = ['default_do_nmi', 'exc_nmi', 'asm_exc_nmi'];
const SYSCALL = ['do_syscall_64', 'entry_SYSCALL_64'];

test("the spec's return_to_handler assembles verbatim, with realistic sizes and its hint as metadata", () => {
  // The kernel image's text is the spec's own, checked against the spec file (not restated here).
  assert.ok(isSpecQuote(RETURN_TO_HANDLER), 'RETURN_TO_HANDLER is not the spec text verbatim');
  const p = assemble([{ region: 'kernel-text', base: 0xffff81000000, source: RETURN_TO_HANDLER }], {}, { ftrace_return_to_handler: 0xffff81001000 });
  const ins = p.bySym.get('return_to_handler')!;
  assert.deepEqual(
    ins.map((i) => i.text),
    ['subq  $24, %rsp', 'movq %rax, (%rsp)', 'movq %rdx, 8(%rsp)', 'movq %rbp, %rdi', 'call ftrace_return_to_handler', 'movq %rax, %rdi', 'movq 8(%rsp), %rdx', 'movq (%rsp), %rax', 'addq $24, %rsp', 'JMP_NOSPEC rdi'],
  );
  // subq imm8 (4), mov to (%rsp) needs a SIB (4), 8(%rsp) adds disp8 (5), reg-reg mov (3), call rel32 (5), jmp *%rdi (2)
  assert.deepEqual(ins.map((i) => i.size), [4, 4, 5, 3, 5, 3, 5, 4, 4, 2]);
  assert.equal(ins[4]!.target, 0xffff81001000);
  assert.equal(ins[9]!.op, OP.JMP_R);
  assert.equal(p.hints.get(ins[0]!.addr)?.type, 'empty');
  const sym = p.symbols.find((s) => s.name === 'return_to_handler')!;
  assert.equal(sym.end - sym.start, 39);
});

test('return_to_handler executes: a graph-traced call returns to its caller with rax/rdx preserved', () => {
  const img = image('work-chain', { fgraph: ['work_b'] });
  const m = boot(img);
  const rth = img.prog.labels.get('return_to_handler')!;
  const workA = img.symInfo.get('work_a')!;
  let entered = 0;
  let values: [number, number] | undefined;
  m.cpu.run(100_000, (c) => {
    if (c.rip === rth) {
      entered++;
      values = [c.r[RAX]!, c.r[RDX]!];
    }
    // Right after JMP_NOSPEC rdi: back in work_a with the same return values.
    if (values && c.rip >= workA.start && c.rip < workA.end && entered === 1 && !m.tracing.fgraph.length) {
      assert.deepEqual([c.r[RAX], c.r[RDX]], values);
      values = undefined;
    }
    return false;
  });
  assert.equal(m.cpu.stopped, 'returned to user space');
  assert.equal(entered, 1);
  assert.equal(values, undefined, 'work_a resumed after return_to_handler');
  assert.equal(m.tracing.fgraph.length, 0);
  assert.equal(m.shadow.entries.length, 0);
});

test('an IRQ at every instruction of work_a/work_b/work_c: the truth names the interrupted function and its callers', () => {
  const chains: Record<string, string[]> = {
    work_a: ['work_a', 'sys_work', ...SYSCALL],
    work_b: ['work_b', 'work_a', 'sys_work', ...SYSCALL],
    work_c: ['work_c', 'work_b', 'work_a', 'sys_work', ...SYSCALL],
  };
  const steps = new Map(boundaries('work-chain').map((b) => [b.step, b.fn]));
  let n = 0;
  for (const s of kit.sweep({ workload: 'work-chain', exception: 'irq', walk: 'in-handler', functions: Object.keys(chains) })) {
    const at = s.spec.moment.kind === 'exception-at-step' ? steps.get(s.spec.moment.step)! : '';
    assert.deepEqual(fns(s), [...IRQ_HANDLER, ...chains[at]!], s.moment);
    assert.equal(s.truth.frames[IRQ_HANDLER.length]!.why, 'exception');
    assert.equal(s.snapshot.task.state, 'running');
    n++;
  }
  // Every instruction of the three functions (fentry, push, mov, bodies, calls, pop, ret).
  const sizes = ['work_a', 'work_b', 'work_c'].map((f) => image('work-chain').prog.bySym.get(f)!.length);
  assert.equal(n, sizes.reduce((a, b) => a + b, 0));
});

test('an IRQ that preempts: the task blocks with the exception frame on its stack', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_c', index: 1 }, walk: 'preempted' } });
  assert.deepEqual(fns(s), ['__switch_to_asm', '__schedule', 'preempt_schedule_irq', 'irqentry_exit', 'common_interrupt', 'asm_common_interrupt', 'work_c', 'work_b', 'work_a', 'sys_work', ...SYSCALL]);
  assert.equal(s.snapshot.task.state, 'blocked');
  assert.equal(s.truth.frames[0]!.omissible, SWITCH_OMISSIBLE);
});

test('an NMI nested in the IRQ handler runs on the NMI stack', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 3 }, walk: 'in-handler', nested: 'nmi' } });
  assert.deepEqual(fns(s), [...NMI_HANDLER, ...IRQ_HANDLER, 'work_b', 'work_a', 'sys_work', ...SYSCALL]);
  const snap = loadSnapshot(JSON.parse(JSON.stringify(s.snapshot)));
  assert.equal(snap.mem.find(snap.regs['rsp']!)?.kind, 'nmi-stack');
  // common_interrupt's inline call_on_irq_stack saved the task stack pointer in the top word of the IRQ stack.
  const irq = snap.mem.region('irq-stack');
  assert.equal(snap.mem.find(snap.mem.read64(irq.base + irq.size - 8))?.name, 'task-stack');
  // hardirq_stack_ptr points at that word (the IRQ stack's next_sp).
  assert.equal(unhex(s.snapshot.percpu!['hardirq_stack_ptr']!), irq.base + irq.size - 8);
});

test('the NMI stack is an IST stack of the cpu_entry_area, between guard pages, beside #DF, #DB, #MC, #VC, #VC2 and the entry stack', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at: { fn: 'work_b', index: 3 }, walk: 'in-handler' } });
  const snap = loadSnapshot(JSON.parse(JSON.stringify(s.snapshot)));
  const cea = unhex(s.snapshot.percpu!['cpu_entry_area']!);
  assert.equal(hex(cea), '0xfffffe0000001000'); // CPU_ENTRY_AREA_PER_CPU for cpu 0
  const estacks = unhex(s.snapshot.percpu!['cea_exception_stacks']!);
  const order = ['df', 'nmi', 'db', 'mce', 'vc', 'vc2'];
  order.forEach((n, k) => {
    const r = snap.mem.region(`${n}-stack`);
    assert.equal(r.base, estacks + (2 * k + 1) * 4096, n);
    assert.equal(r.size, 4096);
    assert.equal(r.kind, n === 'nmi' ? 'nmi-stack' : 'exception-stack');
    assert.equal(snap.mem.find(r.base - 8), undefined, `guard page below the ${n} stack`);
    assert.ok(snap.stacks.some((x) => x.region === r.name && x.type === (n === 'nmi' ? 'nmi' : 'exception')));
  });
  assert.equal(snap.mem.find(estacks + 13 * 4096), undefined, 'IST top guard page');
  const entry = snap.mem.region('entry-stack');
  assert.equal(entry.base, cea + 4096);
  assert.equal(snap.mem.find(snap.regs['rsp']!)?.name, 'nmi-stack');
  // The NMI's iret frame is at the top of the NMI stack.
  const nmi = snap.mem.region('nmi-stack');
  const top = nmi.base + nmi.size;
  const resume = s.truth.frames.find((f) => f.fn === 'work_b')!.addr;
  assert.equal(snap.mem.read64(top - 40), resume);
  // asm_exc_nmi: rdx's slot, "NMI executing" (set), the "iret" copy, the "outermost" copy, and
  // pt_regs under it, whose iret part is the "outermost" copy.
  assert.equal(snap.mem.read64(top - 56), 1, '"NMI executing"');
  for (let k = 0; k < 5; k++) {
    assert.equal(snap.mem.read64(top - 96 + 8 * k), snap.mem.read64(top - 40 + 8 * k), `"iret" word ${k}`);
    assert.equal(snap.mem.read64(top - 136 + 8 * k), snap.mem.read64(top - 40 + 8 * k), `"outermost" word ${k}`);
  }
  const regs = top - 136 - ABI.PT_RIP;
  assert.equal(snap.mem.read64(regs + ABI.PT_CS), ABI.KERNEL_CS);
  assert.ok(!kit.analyse('work-chain').some((f) => f.fn === 'asm_exc_nmi'), 'asm_exc_nmi analyses clean');
});

test("a blocked task's truth is the chain below schedule(), and its registers are the inactive_task_frame", () => {
  const s = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s), ['__switch_to_asm', '__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', ...SYSCALL]);
  assert.ok(s.truth.frames[0]!.omissible);
  assert.ok(s.truth.frames.slice(1, -1).every((f) => !f.omissible));
  assert.match(s.truth.frames[s.truth.frames.length - 1]!.omissible ?? '', /kernel entry code at the base/);
  const snap = loadSnapshot(s.snapshot);
  const sp = snap.regs['rsp']!;
  assert.equal(snap.mem.read64(sp + ABI.ITF_RET_ADDR), snap.regs['rip']);
  assert.equal(snap.syms.lookup(snap.regs['rip']!)?.name, '__schedule');
  assert.equal(snap.mem.read64(sp + ABI.ITF_RBP), snap.regs['rbp']);
  assert.equal(s.snapshot.task.threadSp, s.snapshot.regs['rsp']); // task->thread.sp
  // User pt_regs at the top of the stack: user CS.
  assert.equal(snap.ptRegs, PT_REGS);
  assert.equal(snap.mem.read64(snap.ptRegs + ABI.PT_CS), ABI.USER_CS);

  const k = kit.buildScene({ workload: 'kthread-sleep', moment: { kind: 'blocked' } });
  assert.deepEqual(fns(k), ['__switch_to_asm', '__schedule', 'schedule', 'worker_thread', 'kthread', 'ret_from_fork', 'ret_from_fork_asm']);
  assert.equal(k.snapshot.task.kind, 'kthread');
});

test('every arch-neutral workload builds; tail calls, PLT stubs and BPF give the true chain', () => {
  const blocked = (w: SceneSpec['workload']): string[] => fns(kit.buildScene({ workload: w, moment: { kind: 'blocked' } })).slice(3);
  assert.deepEqual(blocked('tail-call'), ['tail_b', 'sys_tail', ...SYSCALL]);
  assert.deepEqual(blocked('module-sleep'), ['mod_helper_target', 'mod_fn', 'sys_modcall', ...SYSCALL]);
  assert.deepEqual(blocked('bpf-sleep'), ['bpf_helper', 'bpf_prog_6deef7357e7b4530', 'sys_bpf_run', ...SYSCALL]);
  assert.deepEqual(blocked('fp-violation'), ['fpviol_leaf', 'fpviol_fn', 'sys_fpviol', ...SYSCALL]);
  assert.deepEqual(blocked('nonstandard-sleep'), ['nonstd_fn', 'sys_nonstd', ...SYSCALL]);
  assert.deepEqual(blocked('hint-undefined'), ['hint_undef_code', 'sys_hintundef', ...SYSCALL]);
  const efi = kit.buildScene({ workload: 'efi-call', moment: { kind: 'exception', exception: 'irq', at: { fn: 'efi_get_time', index: 1 }, walk: 'in-handler' } });
  assert.deepEqual(fns(efi).slice(3), ['efi_get_time', 'efi_call_rts', 'sys_efi', ...SYSCALL]);
  for (const w of kit.workloads) assert.ok(kit.analyse(w));
  assert.ok(!kit.workloads.includes('spec-function') && !kit.workloads.includes('spec-caller'));
});

test('each stage of return_to_handler still names the traced function’s caller (spec 3.4)', () => {
  // work_b is graph-traced; it has returned into return_to_handler, which will jump to work_a.
  const after = ['work_a', 'sys_work', ...SYSCALL];
  const img = image('work-chain', { fgraph: ['work_b'] });
  const rth = img.prog.bySym.get('return_to_handler')!;
  const workA = img.symInfo.get('work_a')!;
  const callAt = rth.findIndex((i) => i.text === 'call ftrace_return_to_handler');
  for (let index = 0; index < rth.length; index++) {
    if (rth[index]!.text === 'int3') continue; // after the intra-function call: never executed
    const s = kit.buildScene({ workload: 'work-chain', instrument: { fgraph: ['work_b'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'return_to_handler', index }, walk: 'in-handler' } });
    assert.deepEqual(fns(s), [...IRQ_HANDLER, 'return_to_handler', ...after], `index ${index}`);
    assert.ok(s.truth.frames[IRQ_HANDLER.length]!.omissible, 'the return trampoline may be omitted');
    // Before the call the original return address is still in the ret_stack; afterwards it is not.
    const stack = s.snapshot.fgraph!.stack;
    if (index <= callAt) {
      assert.equal(stack.length, 1);
      const ret = unhex(stack[0]!.ret);
      assert.ok(ret > workA.start && ret < workA.end);
    } else assert.equal(stack.length, 0);
    if (rth[index]!.text === 'movq %rdi, (%rsp)') {
      // Before the RET's slot is written, the original return address is in the interrupted rdi (pt_regs on the task stack).
      const snap = loadSnapshot(s.snapshot);
      const truthResume = s.truth.frames.find((f) => f.fn === 'work_a')!.addr;
      const taskStack = snap.mem.region('task-stack');
      let found = false;
      for (let a = taskStack.base; a < taskStack.base + taskStack.size; a += 8) {
        if (snap.mem.read64(a + ABI.PT_RIP) === rth[index]!.addr && snap.mem.read64(a + ABI.PT_CS) === ABI.KERNEL_CS) {
          assert.equal(snap.mem.read64(a + ABI.PT_RDI), truthResume);
          found = true;
        }
      }
      assert.ok(found, 'kernel-mode pt_regs of the interrupted return_to_handler');
    }
  }
  // Inside ftrace_return_to_handler (NMI at each of its instructions).
  for (const s of kit.sweep({ workload: 'work-chain', instrument: { fgraph: ['work_b'] }, exception: 'nmi', walk: 'in-handler', functions: ['ftrace_return_to_handler'] })) {
    assert.deepEqual(fns(s), [...NMI_HANDLER, 'ftrace_return_to_handler', 'return_to_handler', ...after], s.moment);
  }
});

test('while a graph-traced or kretprobed function sleeps, its return slot holds the trampoline and the tracing state holds the original', () => {
  const cases: [Instrumentation, string][] = [
    [{ fgraph: ['do_nanosleep'] }, 'return_to_handler'],
    [{ kretprobe: ['do_nanosleep'] }, 'arch_rethook_trampoline'],
  ];
  for (const [instrument, tramp] of cases) {
    const s = kit.buildScene({ workload: 'syscall-sleep', instrument, moment: { kind: 'blocked' } });
    assert.deepEqual(fns(s), ['__switch_to_asm', '__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', ...SYSCALL]);
    const snap = loadSnapshot(s.snapshot);
    const rec = 'fgraph' in instrument ? s.snapshot.fgraph!.stack[0]! : s.snapshot.kretprobes[0]!;
    assert.equal(snap.mem.read64(unhex(rec.retp)), snap.syms.get(tramp).start);
    assert.equal(unhex(rec.ret), s.truth.frames.find((f) => f.fn === 'sys_sleep')!.addr);
    assert.equal(unhex(rec.func), snap.syms.get('do_nanosleep').start);
  }
  // kretprobe trampoline: the probed function returned, the handler restores the original.
  const k = kit.buildScene({ workload: 'work-chain', instrument: { kretprobe: ['work_b'] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'arch_rethook_trampoline', index: 2 }, walk: 'in-handler' } });
  assert.deepEqual(fns(k), [...IRQ_HANDLER, 'arch_rethook_trampoline', 'work_a', 'sys_work', ...SYSCALL]);
});

test('an optprobe JMP: inside the trampoline the probed function is still live', () => {
  const img = image('work-chain', { optprobe: [{ fn: 'work_b', index: 2 }] });
  const slot = [...img.syms.all].find((s) => s.kind === 'optprobe-trampoline')!;
  assert.equal(slot.region, 'trampoline-text');
  let n = 0;
  for (const s of kit.sweep({ workload: 'work-chain', instrument: { optprobe: [{ fn: 'work_b', index: 2 }] }, exception: 'irq', walk: 'in-handler', functions: [slot.name] })) {
    assert.deepEqual(fns(s), [...IRQ_HANDLER, slot.name, 'work_b', 'work_a', 'sys_work', ...SYSCALL], s.moment);
    n++;
  }
  assert.ok(n > 30);
});

test('snapshots round-trip through JSON and validate against schemas/snapshot.schema.json', () => {
  const specs: SceneSpec[] = [
    { workload: 'syscall-sleep', moment: { kind: 'blocked' } },
    { workload: 'kthread-sleep', instrument: { fgraph: ['worker_thread'] }, moment: { kind: 'blocked' }, corrupt: 'frame-pointer-zeroed' },
    { workload: 'work-chain', instrument: { kretprobe: ['work_c'] }, moment: { kind: 'exception', exception: 'nmi', at: { fn: 'work_c', index: 3 }, walk: 'in-handler' } },
  ];
  for (const spec of specs) {
    const s = kit.buildScene(spec);
    const back = loadSnapshot(JSON.parse(JSON.stringify(s.snapshot)), s.snapshot.id);
    assert.equal(back.arch, 'x86_64');
    assert.equal(back.json.unwind.orc!.length, s.snapshot.unwind.orc!.length);
    for (const [k, v] of Object.entries(s.snapshot.regs)) assert.equal(back.regs[k], unhex(v));
    const stack = back.mem.region('task-stack');
    assert.equal(Buffer.from(stack.bytes).toString('base64'), s.snapshot.regions.find((r) => r.name === 'task-stack')!.data);
    assert.deepEqual(back.stacks.map((x) => x.type), ['task', 'irq', 'entry', 'exception', 'nmi', 'exception', 'exception', 'exception', 'exception']);
    assert.ok(back.mem.regions.some((r) => r.name === 'other-task-stack' && r.kind === 'task-stack'));
  }
  assert.throws(() => loadSnapshot({ ...kit.buildScene(specs[0]!).snapshot, arch: 'sparc' }, 'bad.json'), /bad\.json/);
});

test('corruption edits the innermost frame record; the truth stays the machine’s control flow', () => {
  const clean = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  const rbp = unhex(clean.snapshot.regs['rbp']!);
  const read = (s: Scene, a: number): number => loadSnapshot(s.snapshot).mem.read64(a);
  const expect: Record<string, (s: Scene) => void> = {
    'frame-pointer-zeroed': (s) => assert.equal(read(s, rbp), 0),
    'frame-chain-cycle': (s) => assert.equal(read(s, read(s, rbp)), rbp),
    'frame-pointer-misaligned': (s) => assert.notEqual(read(s, rbp) % 8, 0),
    'frame-pointer-unmapped': (s) => assert.equal(loadSnapshot(s.snapshot).mem.find(read(s, rbp)), undefined),
    'frame-pointer-other-task': (s) => assert.equal(loadSnapshot(s.snapshot).mem.find(read(s, rbp))?.name, 'other-task-stack'),
    'frame-pointer-downward': (s) => {
      // A plausible copy of the record, below it: only the direction gives it away.
      const down = read(s, rbp);
      assert.ok(down < rbp);
      assert.deepEqual([read(s, down), read(s, down + 8)], [read(clean, rbp), read(clean, rbp + 8)]);
    },
    'return-address-garbage': (s) => assert.equal(loadSnapshot(s.snapshot).mem.find(read(s, rbp + 8)), undefined),
  };
  for (const [c, check] of Object.entries(expect)) {
    const s = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt: c as never });
    check(s);
    // The shadow record is the machine's: the chain is unchanged; a corrupted return address only
    // records where the task would now resume (the frame whose return it held).
    assert.deepEqual(s.truth.frames, clean.truth.frames, c);
    if (c === 'return-address-garbage') {
      assert.equal(s.truth.redirected?.length, 1, c);
      assert.equal(s.truth.redirected![0]!.addr, GARBAGE_RA);
      assert.ok(s.truth.redirected![0]!.index > 0);
    } else assert.equal(s.truth.redirected, undefined, c);
  }
});

test('IRQs are not taken where the kernel masks them; the step limit and unknown moments are reported', () => {
  const b = boundaries('syscall-sleep');
  assert.equal(b[0]!.fn, 'entry_SYSCALL_64');
  assert.equal(b[0]!.irqMasked, true);
  assert.throws(() => kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'exception-at-step', exception: 'irq', step: 0, walk: 'in-handler' } }), /masked/);
  assert.throws(() => kit.buildScene({ workload: 'work-chain', moment: { kind: 'blocked' } }), /never blocks/);
  assert.throws(() => kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 99 }, walk: 'in-handler' } }), /no instruction/);
});

test('assembler forms: sizes per encoding, labels, symbol references and errors naming the line', () => {
  const p = assemble(
    [
      {
        region: 'kernel-text',
        base: 0xffff81000000,
        source: `SYM_FUNC_START(f)   # a comment
        pushq %r12          /* REX push: 2 bytes */
        pushq $f
        popq %r12
        movq $0x10, %rax
        movq %rsp, %rbp
        leaq -8(%rbp), %rsp
        call *%rax
        jmp *%r11
        iretq
        int3
        nop
        ret
SYM_FUNC_END(f)`,
      },
    ],
    {},
  );
  assert.deepEqual(p.bySym.get('f')!.map((i) => i.size), [2, 5, 2, 7, 3, 4, 2, 3, 2, 1, 1, 1]);
  assert.equal(p.bySym.get('f')![1]!.imm, 0xffff81000000);
  assert.throws(() => assemble([{ region: 'kernel-text', base: 0, source: 'SYM_FUNC_START(g)\n  call nowhere\nSYM_FUNC_END(g)' }]), /undefined symbol nowhere/);
  assert.throws(() => assemble([{ region: 'kernel-text', base: 0, source: 'SYM_FUNC_START(g)\n  movq %rax\nSYM_FUNC_END(g)' }]), /kernel-text:2: unsupported form of movq/);
});

test('an IRQ that neither walks nor preempts returns through iretq; the task finishes its syscall', () => {
  const img = image('work-chain');
  const m = boot(img);
  const at = img.prog.bySym.get('work_b')![3]!.addr;
  m.cpu.run(100_000, (c) => c.rip === at);
  m.cpu.exception('irq', { vector: img.prog.labels.get('asm_common_interrupt')! });
  assert.equal(m.shadow.entries[m.shadow.entries.length - 1]!.via, 'exception');
  m.cpu.run(100_000);
  assert.equal(m.cpu.stopped, 'returned to user space');
  assert.equal(m.shadow.entries.length, 0);
  assert.equal(m.cpu.rsp, 0x7ffd4a3c1f20);
});

test('kretprobes: the int3 pre-handler and each stage of arch_rethook_trampoline keep the true chain', () => {
  const instrument = { kretprobe: ['work_b'] };
  // NMI inside the kprobe int3 handler: work_b is interrupted at its probed entry.
  const pre = [...kit.sweep({ workload: 'work-chain', instrument, exception: 'nmi', walk: 'in-handler', functions: ['kprobe_int3_handler'] })];
  assert.ok(pre.length > 0);
  for (const s of pre) assert.deepEqual(fns(s), [...NMI_HANDLER, 'kprobe_int3_handler', 'exc_int3', 'asm_exc_int3', 'work_b', 'work_a', 'sys_work', ...SYSCALL]);
  const n = image('work-chain', instrument).prog.bySym.get('arch_rethook_trampoline')!.length;
  for (let index = 0; index < n; index++) {
    const s = kit.buildScene({ workload: 'work-chain', instrument, moment: { kind: 'exception', exception: 'irq', at: { fn: 'arch_rethook_trampoline', index }, walk: 'in-handler' } });
    assert.deepEqual(fns(s), [...IRQ_HANDLER, 'arch_rethook_trampoline', 'work_a', 'sys_work', ...SYSCALL], `index ${index}`);
  }
  // The old name reaches the same code (arch-neutral features say __kretprobe_trampoline).
  assert.equal(kit.instructions('work-chain', instrument, '__kretprobe_trampoline').length, n);
  // In the callback the rethook node stays on current->rethooks until the fake return address is fixed up.
  let linked = 0;
  let unlinked = 0;
  for (const s of kit.sweep({ workload: 'work-chain', instrument, exception: 'nmi', walk: 'in-handler', functions: ['arch_rethook_trampoline_callback', 'rethook_trampoline_handler'] })) {
    const f = fns(s);
    assert.deepEqual(f.slice(f.indexOf('arch_rethook_trampoline_callback')), ['arch_rethook_trampoline_callback', 'arch_rethook_trampoline', 'work_a', 'sys_work', ...SYSCALL], s.moment);
    const snap = loadSnapshot(s.snapshot);
    const slot = snap.mem.read64(s.snapshot.kretprobes.length ? unhex(s.snapshot.kretprobes[0]!.retp) : 0);
    if (s.snapshot.kretprobes.length) {
      linked++;
      assert.equal(slot, snap.syms.get('arch_rethook_trampoline').start);
    } else unlinked++;
  }
  assert.ok(linked > 0 && unlinked > 0, `${linked} walks with the node linked, ${unlinked} after`);
});

test('preemption only where preempt_count is zero: an IRQ never preempts the task inside __schedule()', () => {
  const pre = [...kit.sweep({ workload: 'syscall-sleep', exception: 'irq', walk: 'preempted' })];
  const inHandler = [...kit.sweep({ workload: 'syscall-sleep', exception: 'irq', walk: 'in-handler' })];
  assert.ok(pre.length > 5 && pre.length < inHandler.length);
  for (const s of pre) {
    assert.equal(fns(s).filter((n) => n === '__schedule').length, 1, s.moment);
    assert.ok(fns(s).includes('preempt_schedule_irq'), s.moment);
  }
  // __schedule's prologue runs with IRQs on but preemption off (schedule() raised preempt_count).
  const b = boundaries('syscall-sleep').find((x) => x.fn === '__schedule' && !x.irqMasked);
  assert.ok(b && b.preemptDisabled);
  assert.throws(
    () => kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'exception-at-step', exception: 'irq', step: b.step, walk: 'preempted' } }),
    /preemption is disabled/,
  );
  // The same IRQ may still be walked from its handler.
  assert.ok(kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'exception-at-step', exception: 'irq', step: b.step, walk: 'in-handler' } }));
});

test('a sysretq while kernel frames are live stops the CPU with a shadow error', () => {
  const img = image('work-chain');
  const m = boot(img);
  const workC = img.prog.labels.get('work_c')!;
  m.cpu.run(100_000, (c) => c.rip === workC);
  assert.ok(m.shadow.entries.length > 0);
  m.cpu.rip = img.prog.bySym.get('entry_SYSCALL_64')!.find((i) => i.op === OP.SYSRETQ)!.addr;
  assert.equal(m.cpu.run(10), m.cpu.stopped);
  assert.match(m.cpu.stopped ?? '', /^shadow: sysretq with live kernel frames \(entry_SYSCALL_64 .*work_b\)/);
});
