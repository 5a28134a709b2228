import { unhex } from '../src/machine/addr';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GARBAGE_RA } from '../src/kernel/corrupt';
import { assemble, Op } from '../src/isa/arm64/assembler';
import { Arm64Cpu } from '../src/isa/arm64/interpreter';
import { Memory } from '../src/machine/memory';
import { SymbolTable } from '../src/machine/symbols';
import { ShadowStack } from '../src/truth/shadow';
import { SPEC_CALLER, SPEC_FTRACE_CALLSITE, SPEC_FUNCTION, MAP } from '../src/kernel/arm64/image';
import { Arm64Machine } from '../src/kernel/arm64/machine';
import { imageFor, kit, boundaries, CONTEXT_SWITCH_OMISSIBLE } from '../src/kernel/arm64/kit';
import { loadSnapshot } from '../src/snapshot/io';
import type { GroundTruth } from '../src/truth/shadow';
import type { SceneSpec } from '../src/scene/types';
import { isSpecQuote } from '../src/conformance/spec-text';

const fns = (t: GroundTruth) => t.frames.map((f) => f.fn);
const SYSCALL_BOTTOM = ['invoke_syscall', 'el0t_64_sync_handler', 'el0t_64_sync'];

/** A bare machine running verbatim text: `start` calls the examples, then stops. */
function bareMachine(text: string) {
  const TEXT = 0x800080010000;
  const STACK = 0x800080080000;
  const prog = assemble([{ region: 'kernel-text', base: TEXT, text }]);
  const mem = new Memory();
  mem.map({ name: 'kernel-text', kind: 'kernel-text', base: TEXT, size: 0x1000 });
  mem.map({ name: 'stack', kind: 'task-stack', base: STACK, size: 0x4000 });
  const syms = new SymbolTable(prog.symbols);
  const shadow = new ShadowStack(syms);
  const cpu = new Arm64Cpu(prog, mem, shadow, { pseudo: (_c, i) => (i.sys === 'CPU_SWITCH' ? 'blocked' : undefined) });
  cpu.pc = prog.labels.get('start')!;
  cpu.sp = STACK + 0x4000;
  return { prog, mem, syms, shadow, cpu };
}

test('the spec arm64 examples assemble verbatim and execute', () => {
  for (const ex of [SPEC_FUNCTION, SPEC_CALLER, SPEC_FTRACE_CALLSITE]) assert.ok(isSpecQuote(ex), `not verbatim spec text: ${ex}`);
  const text = [
    'start:',
    '  BL <function>',
    '  BL <caller>',
    '  BL <traced>',
    '  CPU_SWITCH',
    SPEC_FUNCTION,
    'other_function:',
    '  BODY 1',
    '  RET',
    SPEC_CALLER,
    'callee:',
    '  RET',
    'traced:',
    SPEC_FTRACE_CALLSITE,
    '  RET',
    'trampoline:',
    '  MOV X10, X30',
    '  MOV X30, X9',
    '  RET X10',
  ].join('\n');
  const m = bareMachine(text);
  const fn = m.prog.labels.get('function')!;
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((k) => m.prog.insnAt(fn + 4 * k)!.op),
    [Op.STP, Op.MOV_R, Op.BL, Op.LDP, Op.RET],
  );
  const stp = m.prog.insnAt(fn)!;
  assert.equal(stp.imm, -16);
  assert.equal(m.prog.insnAt(fn + 12)!.imm, 16);
  assert.equal(m.syms.get('function').kind, 'func');
  assert.equal(m.prog.insnAt(m.prog.labels.get('caller')! + 8)!.target, m.prog.labels.get('callee'));
  const stop = m.cpu.run(1000);
  assert.equal(stop, 'blocked');
  assert.equal(m.shadow.entries.length, 0, 'every call returned through the shadow stack');
  assert.equal(m.cpu.sp, 0x800080080000 + 0x4000, 'SP balanced');
  assert.equal(m.mem.faults.length, 0);
});

test('assembler: case-insensitive registers, immediates with or without #, directives and hints', () => {
  const p = assemble([
    {
      region: 'kernel-text',
      base: 0x1000,
      text: [
        'SYM_CODE_START(entry_x)',
        '  UNWIND_HINT_REGS',
        '  sub sp, SP, 32',
        '  str x0, [sp, #8]',
        '  ldr X1, [SP], #32',
        '  mov fp, xzr',
        '  ret lr',
        'SYM_CODE_END(entry_x)',
        'SYM_KIND(entry_x, plt)',
        'SYM_FUNC_START(f)',
        '  NOP',
        '  ERET',
        'SYM_FUNC_END(f)',
        'STACK_FRAME_NON_STANDARD(f)',
      ].join('\n'),
    },
  ]);
  assert.deepEqual(p.hints, [{ addr: 0x1000, type: 'regs' }]);
  const e = p.symbols.find((s) => s.name === 'entry_x')!;
  assert.equal(e.kind, 'plt');
  assert.equal(e.end, 0x1000 + 5 * 4);
  assert.equal(p.symbols.find((s) => s.name === 'f')!.nonStandard, true);
  assert.equal(p.insnAt(0x1000)!.imm, 32);
  assert.throws(() => assemble([{ region: 'k', base: 0, text: 'f:\n  FROB X0' }]), /unknown mnemonic/);
  assert.throws(() => assemble([{ region: 'k', base: 0, text: 'f:\n  BL <nowhere>' }]), /undefined symbol/);
  assert.throws(() => assemble([{ region: 'k', base: 0, text: 'f:\n  RET\nSYM_KIND(f, weird)' }]), /unknown symbol kind/);
  assert.throws(() => assemble([{ region: 'k', base: 0, text: 'SYM_FUNC_START(g)\n  RET' }]), /not closed/);
});

test('memory faults are recorded and stop the CPU without a JS exception', () => {
  const m = bareMachine('start:\n  MOV X0, #0x1234\n  LDR X1, [X0]\n  CPU_SWITCH');
  assert.equal(m.cpu.run(100), 'fault');
  assert.equal(m.mem.faults.length, 1);
  assert.equal(m.mem.faults[0]!.addr, 0x1234);
});

/** Step a workload and give the truth at every boundary inside the named functions. */
function truthsIn(workload: 'spec-function' | 'spec-caller' | 'work-chain', names: string[], instrument?: SceneSpec['instrument']) {
  const m = new Arm64Machine(imageFor(workload, instrument).img);
  const out: { at: string; fn: string; off: number; truth: string[] }[] = [];
  for (let k = 0; k < 5000; k++) {
    const s = m.syms.lookup(m.cpu.pc);
    if (s && names.includes(s.name)) out.push({ at: m.syms.describe(m.cpu.pc), fn: s.name, off: m.cpu.pc - s.start, truth: fns(m.shadow.truth(m.cpu.pc)) });
    const stop = m.cpu.run(1);
    if (stop === 'user') return out;
    assert.equal(stop, 'limit', `unexpected stop at ${m.describe(m.cpu.pc)}`);
  }
  throw new Error('did not return to user');
}

test('spec `function:`: ground truth at every instruction boundary', () => {
  const below = ['sys_specfn', ...SYSCALL_BOTTOM];
  const expected: Record<string, string[]> = {
    // Prologue: the task returns to sys_specfn from function; function appears once.
    'function': ['function', ...below],
    'function+0x4': ['function', ...below],
    'function+0x8': ['function', ...below],
    // other_function is a child of function.
    'other_function': ['other_function', 'function', ...below],
    'other_function+0x4': ['other_function', 'function', ...below],
    'other_function+0x8': ['other_function', 'function', ...below],
    // After other_function returns, LR points at function's LDP: function is still live once.
    'function+0xc': ['function', ...below],
    'function+0x10': ['function', ...below],
  };
  const seen = truthsIn('spec-function', ['function', 'other_function']);
  assert.deepEqual(
    seen.map((s) => s.at),
    ['function', 'function+0x4', 'function+0x8', 'other_function', 'other_function+0x4', 'other_function+0x8', 'function+0xc', 'function+0x10'],
  );
  for (const s of seen) assert.deepEqual(s.truth, expected[s.at], s.at);
});

test('spec `caller:`: after ADR LR, <callee> the truth is still caller -> its caller; callee is a child only after BLR', () => {
  const below = ['sys_speccaller', ...SYSCALL_BOTTOM];
  const seen = truthsIn('spec-caller', ['caller', 'callee']);
  const expected: Record<string, string[]> = {
    caller: ['caller', ...below],
    'caller+0x4': ['caller', ...below],
    'caller+0x8': ['caller', ...below], // ADR LR, <callee> about to execute
    'caller+0xc': ['caller', ...below], // after ADR: LR = callee, but callee is not a parent
    callee: ['callee', 'caller', ...below],
    'callee+0x4': ['callee', 'caller', ...below],
    'callee+0x8': ['callee', 'caller', ...below],
    'caller+0x10': ['caller', ...below],
    'caller+0x14': ['caller', ...below],
  };
  assert.deepEqual(seen.map((s) => s.at), Object.keys(expected));
  for (const s of seen) assert.deepEqual(s.truth, expected[s.at], s.at);
});

test('an IRQ taken at every instruction of a small call chain: truth includes the interrupted function', () => {
  // The chain as written in the workload: sys_work -> work_a -> work_b -> work_c.
  const parents: Record<string, string[]> = {
    work_c: ['work_c', 'work_b', 'work_a', 'sys_work', ...SYSCALL_BOTTOM],
    work_b: ['work_b', 'work_a', 'sys_work', ...SYSCALL_BOTTOM],
    work_a: ['work_a', 'sys_work', ...SYSCALL_BOTTOM],
  };
  const handler = ['handle_timer_irq', 'gic_handle_irq', 'call_on_irq_stack', 'el1h_64_irq_handler', 'el1h_64_irq'];
  let n = 0;
  const offsets = new Set<string>();
  for (const scene of kit.sweep({ workload: 'work-chain', exception: 'irq', walk: 'in-handler', functions: ['work_a', 'work_b', 'work_c'] })) {
    const pc = scene.truth.frames.find((f) => f.why === 'exception')!.addr;
    const fn = scene.truth.frames.find((f) => f.why === 'exception')!.fn;
    offsets.add(`${fn}@${pc}`);
    assert.deepEqual(fns(scene.truth), [...handler, ...parents[fn]!], scene.moment);
    assert.equal(scene.snapshot.task.state, 'running');
    assert.deepEqual(scene.snapshot.stacks.map((s) => s.type), ['task', 'irq', 'overflow', 'sdei', 'sdei']);
    n++;
  }
  // work_a and work_b: 7 instructions each (prologue 2, BODY 1, BL, BODY 1, epilogue 2), work_c: BODY 3 + RET.
  assert.equal(offsets.size, 7 + 7 + 4);
  assert.equal(n, 18);
});

test('a preempted task: blocked, with the exception frame of the interrupted function on its stack', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_c', index: 1 }, walk: 'preempted' } });
  assert.equal(s.snapshot.task.state, 'blocked');
  assert.deepEqual(fns(s.truth), ['cpu_switch_to', '__schedule', 'preempt_schedule_irq', 'el1h_64_irq_handler', 'el1h_64_irq', 'work_c', 'work_b', 'work_a', 'sys_work', ...SYSCALL_BOTTOM]);
  assert.equal(s.truth.frames[5]!.why, 'exception');
});

test('an NMI nested in the IRQ handler: walk from the NMI handler', () => {
  const s = kit.buildScene({ workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 3 }, walk: 'in-handler', nested: 'nmi' } });
  assert.deepEqual(fns(s.truth), [
    'perf_nmi_handler', 'el1h_64_nmi_handler', 'el1h_64_nmi',
    'handle_timer_irq', 'gic_handle_irq', 'call_on_irq_stack', 'el1h_64_irq_handler', 'el1h_64_irq',
    'work_b', 'work_a', 'sys_work', ...SYSCALL_BOTTOM,
  ]);
  assert.deepEqual(s.truth.frames.filter((f) => f.why === 'exception').map((f) => f.fn), ['handle_timer_irq', 'work_b']);
});

test('a blocked task: truth is the chain below schedule(); registers are the saved cpu_context', () => {
  const s = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  assert.equal(s.snapshot.task.state, 'blocked');
  assert.deepEqual(fns(s.truth), ['cpu_switch_to', '__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', ...SYSCALL_BOTTOM]);
  assert.equal(s.truth.frames[0]!.omissible, CONTEXT_SWITCH_OMISSIBLE);
  assert.ok(s.truth.frames.slice(1, -1).every((f) => !f.omissible), '__schedule and below are required');
  // Save the kernel entry code at the base of the stack, which a walk that verified its end may leave out (3.1).
  assert.match(s.truth.frames[s.truth.frames.length - 1]!.omissible ?? '', /kernel entry code at the base/);
  assert.equal(s.truth.frames[1]!.addr, s.snapshot.regs.pc === undefined ? -1 : unhex(s.snapshot.regs.pc), '__schedule resumes at the saved pc');
  const snap = loadSnapshot(JSON.parse(JSON.stringify(s.snapshot)));
  assert.equal(snap.syms.lookup(snap.regs.pc!)!.name, '__schedule');
  // pt_regs at the top of the task stack; the FINAL record is {0, 0} with type FINAL.
  assert.equal(snap.ptRegs, MAP.task.base + MAP.task.size - snap.abi.PT_REGS_SIZE!);
  assert.equal(snap.mem.read64(snap.finalFrame), 0);
  assert.equal(snap.mem.read64(snap.finalFrame + 8), 0);
  assert.equal(snap.mem.read64(snap.ptRegs + snap.abi.S_STACKFRAME_TYPE!), snap.abi.FRAME_META_TYPE_FINAL);

  const k = kit.buildScene({ workload: 'kthread-sleep', moment: { kind: 'blocked' } });
  assert.equal(k.snapshot.task.kind, 'kthread');
  assert.deepEqual(fns(k.truth), ['cpu_switch_to', '__schedule', 'schedule', 'worker_thread', 'kthread', 'ret_from_fork']);
});

test('fgraph return path: at every stage the truth names the traced function\'s caller', () => {
  const ins = { fgraph: ['work_b'] };
  const m = new Arm64Machine(imageFor('work-chain', ins).img);
  const stages = new Set<string>();
  let inTraced = false;
  for (let k = 0; k < 5000; k++) {
    const s = m.syms.lookup(m.cpu.pc)!;
    const t = m.shadow.truth(m.cpu.pc);
    if (s.name === 'work_b') inTraced = true;
    if (inTraced && ['work_b', 'work_c', 'ftrace_caller', 'ftrace_graph_func', 'return_to_handler', 'ftrace_return_to_handler'].includes(s.name)) {
      stages.add(s.name);
      const names = fns(t);
      const i = names.indexOf('work_a');
      assert.ok(i > 0, `work_a missing at ${m.describe(m.cpu.pc)}: ${names.join(' < ')}`);
      assert.deepEqual(names.slice(i), ['work_a', 'sys_work', ...SYSCALL_BOTTOM]);
      if (s.name === 'return_to_handler') assert.ok(t.frames[0]!.omissible, 'return_to_handler is omissible');
      if (s.name === 'ftrace_return_to_handler') assert.deepEqual(names.slice(0, 3), ['ftrace_return_to_handler', 'return_to_handler', 'work_a']);
    }
    if (s.name === 'work_a' && inTraced && stages.has('return_to_handler')) break;
    assert.equal(m.cpu.run(1), 'limit');
  }
  assert.deepEqual([...stages].sort(), ['ftrace_caller', 'ftrace_graph_func', 'ftrace_return_to_handler', 'return_to_handler', 'work_b', 'work_c']);
  assert.equal(m.tracing.fgraph.length, 0, 'ret_stack popped');
});

test('fgraph and kretprobe state while the traced function sleeps', () => {
  const s = kit.buildScene({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'], kretprobe: ['sys_sleep'] }, moment: { kind: 'blocked' } });
  assert.deepEqual(fns(s.truth), ['cpu_switch_to', '__schedule', 'schedule', 'do_nanosleep', 'sys_sleep', ...SYSCALL_BOTTOM]);
  const snap = loadSnapshot(JSON.parse(JSON.stringify(s.snapshot)));
  const [g] = s.snapshot.fgraph!.stack;
  assert.equal(snap.syms.lookup(unhex(g!.ret))!.name, 'sys_sleep');
  assert.equal(snap.syms.lookup(unhex(g!.func))!.name, 'do_nanosleep');
  const [kr] = s.snapshot.kretprobes;
  assert.equal(snap.syms.lookup(unhex(kr!.ret))!.name, 'invoke_syscall');
  // The saved LRs in the frame records are the return trampolines.
  const rth = snap.syms.get('return_to_handler').start;
  const krt = snap.syms.get('__kretprobe_trampoline').start;
  const ras: number[] = [];
  for (let fp = snap.regs.x29!; fp && fp !== snap.finalFrame; fp = snap.mem.read64(fp)) ras.push(snap.mem.read64(fp + 8));
  assert.ok(ras.includes(rth) && ras.includes(krt));
  // retp keys are x29 at the traced function's entry: the caller's frame record.
  // do_nanosleep's key is sys_sleep's record (whose saved LR is the kretprobe trampoline);
  // sys_sleep's key is invoke_syscall's record (saved LR into el0t_64_sync_handler).
  assert.equal(snap.mem.read64(unhex(g!.retp) + 8), krt);
  assert.equal(snap.syms.lookup(snap.mem.read64(unhex(kr!.retp) + 8))!.name, 'el0t_64_sync_handler');
});

test('kretprobe trampoline: truth names the probed function\'s caller until the return', () => {
  const m = new Arm64Machine(imageFor('work-chain', { kretprobe: ['work_b'] }).img);
  let seen = 0;
  for (let k = 0; k < 5000; k++) {
    const s = m.syms.lookup(m.cpu.pc)!;
    if (s.name === '__kretprobe_trampoline' || s.name === 'trampoline_probe_handler') {
      seen++;
      const names = fns(m.shadow.truth(m.cpu.pc));
      assert.deepEqual(names.slice(names.indexOf('work_a')), ['work_a', 'sys_work', ...SYSCALL_BOTTOM]);
    }
    const stop = m.cpu.run(1);
    if (stop === 'user') break;
  }
  assert.ok(seen > 5);
  assert.equal(m.tracing.kretprobes.length, 0);
});

test('snapshot round-trip validates against the schema for every kind of scene', () => {
  const ins = { fgraph: ['caller'] };
  const callerSym = imageFor('spec-caller', ins).img.prog.labels.get('caller')!;
  const step = boundaries('spec-caller', ins).find((b) => b.pc === callerSym + 12 && !b.irqMasked)!.step;
  const specs: SceneSpec[] = [
    { workload: 'syscall-sleep', moment: { kind: 'blocked' } },
    { workload: 'module-sleep', moment: { kind: 'blocked' }, corrupt: 'frame-pointer-other-task' },
    { workload: 'bpf-sleep', moment: { kind: 'exception', exception: 'irq', at: { fn: 'bpf_helper', index: 2 }, walk: 'preempted' } },
    { workload: 'efi-call', moment: { kind: 'exception', exception: 'nmi', at: { fn: 'efi_get_time', index: 3 }, walk: 'in-handler' } },
    { workload: 'spec-caller', instrument: ins, moment: { kind: 'exception-at-step', exception: 'irq', step, walk: 'in-handler', nested: 'nmi' } },
  ];
  for (const spec of specs) {
    const s = kit.buildScene(spec);
    const json = JSON.parse(JSON.stringify(s.snapshot));
    const l = loadSnapshot(json, s.snapshot.id);
    assert.equal(l.arch, 'arm64');
    assert.ok(l.json.unwind.arm64!.length > 50);
    assert.ok(l.mem.regions.some((r) => r.name === MAP.other.name), 'other task stack present');
  }
});

test('corruptions edit the innermost saved frame record; the truth stays the real control flow', () => {
  const base = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  const b = loadSnapshot(base.snapshot);
  const fp0 = b.regs.x29!;
  const cases = {
    'frame-pointer-zeroed': (l: typeof b) => l.mem.read64(fp0) === 0,
    'frame-chain-cycle': (l: typeof b) => l.mem.read64(l.mem.read64(fp0)) === fp0,
    'frame-pointer-misaligned': (l: typeof b) => l.mem.read64(fp0) % 8 !== 0,
    'frame-pointer-unmapped': (l: typeof b) => l.mem.find(l.mem.read64(fp0)) === undefined,
    'frame-pointer-other-task': (l: typeof b) => l.mem.find(l.mem.read64(fp0))!.name === MAP.other.name,
    'frame-pointer-downward': (l: typeof b) => l.mem.read64(fp0) < fp0,
    'return-address-garbage': (l: typeof b) => l.mem.find(l.mem.read64(fp0 + 8)) === undefined,
  } as const;
  for (const [c, check] of Object.entries(cases)) {
    const s = kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt: c as keyof typeof cases });
    assert.ok(check(loadSnapshot(s.snapshot)), c);
    // The shadow record is the machine's: the chain is unchanged; a corrupted return address only
    // records where the task would now resume (the frame whose return it held).
    assert.deepEqual(s.truth.frames, base.truth.frames, c);
    if (c === 'return-address-garbage') {
      assert.equal(s.truth.redirected?.length, 1, c);
      assert.equal(s.truth.redirected![0]!.addr, GARBAGE_RA);
      assert.ok(s.truth.redirected![0]!.index > 0);
    } else assert.equal(s.truth.redirected, undefined, c);
  }
});

test('sweeps: one scene per boundary; IRQs only where unmasked', () => {
  const all = boundaries('syscall-sleep');
  const irq = [...kit.sweep({ workload: 'syscall-sleep', exception: 'irq', walk: 'in-handler' })];
  const nmi = [...kit.sweep({ workload: 'syscall-sleep', exception: 'nmi', walk: 'in-handler' })];
  assert.equal(nmi.length, all.length);
  assert.equal(irq.length, all.filter((b) => !b.irqMasked).length);
  assert.ok(irq.length > 10 && irq.length < nmi.length);
  // The interrupted function is the symbol at the boundary's pc.
  for (const s of irq) assert.ok(fns(s.truth).includes('sys_sleep') || fns(s.truth).includes('el0t_64_sync_handler'));
});

test('workloads that never block say so', () => {
  assert.throws(() => kit.buildScene({ workload: 'work-chain', moment: { kind: 'blocked' } }), /never blocks/);
  assert.throws(() => kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'exception', exception: 'irq', at: { fn: 'el0t_64_sync', index: 0 }, walk: 'in-handler' } }), /masked/);
});

test('tail call, module PLT, BPF and EFI: the truth follows real control flow', () => {
  const blocked = (w: Parameters<typeof imageFor>[0]) => fns(kit.buildScene({ workload: w, moment: { kind: 'blocked' } }).truth);
  // tail_a jumped to tail_b: tail_a will never be returned to.
  assert.deepEqual(blocked('tail-call'), ['cpu_switch_to', '__schedule', 'schedule', 'tail_b', 'sys_tail', ...SYSCALL_BOTTOM]);
  // The PLT veneer branched (BR) to the kernel: it is not a frame.
  assert.deepEqual(blocked('module-sleep'), ['cpu_switch_to', '__schedule', 'schedule', 'mod_helper_target', 'mod_fn', 'sys_modcall', ...SYSCALL_BOTTOM]);
  assert.deepEqual(blocked('bpf-sleep'), ['cpu_switch_to', '__schedule', 'schedule', 'bpf_helper', 'bpf_prog_6deef7357e7b4530', 'sys_bpf_run', ...SYSCALL_BOTTOM]);
  const efi = kit.buildScene({ workload: 'efi-call', moment: { kind: 'exception', exception: 'irq', at: { fn: 'efi_get_time', index: 2 }, walk: 'in-handler' } });
  const names = fns(efi.truth);
  assert.deepEqual(names.slice(names.indexOf('efi_get_time')), ['efi_get_time', '__efi_rt_asm_wrapper', 'efi_call_rts', 'sys_efi', ...SYSCALL_BOTTOM]);
  const syms = loadSnapshot(efi.snapshot).syms;
  assert.equal(syms.get('efi_get_time').kind, 'foreign');
  assert.equal(syms.byName('bpf_prog_6deef7357e7b4530'), undefined, 'the BPF program exists only in the bpf image');
  const bpfSyms = loadSnapshot(kit.buildScene({ workload: 'bpf-sleep', moment: { kind: 'blocked' } }).snapshot).syms;
  assert.equal(bpfSyms.get('bpf_prog_6deef7357e7b4530').kind, 'bpf');
  assert.equal(bpfSyms.get('bpf_prog_6deef7357e7b4530').region, 'bpf-jit');
});

test('DYNAMIC_FTRACE_WITH_REGS call site: inside ftrace_caller the traced function is still live', () => {
  const m = new Arm64Machine(imageFor('work-chain', { ftraceRegs: ['work_b'] }).img);
  const wb = m.syms.get('work_b').start;
  assert.equal(m.img.prog.insnAt(wb)!.text, 'MOV X9, X30');
  assert.equal(m.img.prog.insnAt(wb + 4)!.text, 'BL <ftrace_caller>');
  let seen = 0;
  for (let k = 0; k < 5000 && m.cpu.step() === 'limit'; ) {
    const s = m.syms.lookup(m.cpu.pc)!;
    if (s.name === 'ftrace_caller') {
      seen++;
      assert.deepEqual(fns(m.shadow.truth(m.cpu.pc)), ['ftrace_caller', 'work_b', 'work_a', 'sys_work', ...SYSCALL_BOTTOM]);
      assert.equal(s.kind, 'ftrace-trampoline');
    }
    k++;
  }
  assert.ok(seen > 10);
  assert.equal(m.tracing.fgraph.length, 0, 'ftraceRegs alone does not graph-trace');
});

test('instrumentation of notrace/noinstr code is refused; scene ids are unique in a sweep', () => {
  assert.throws(() => imageFor('syscall-sleep', { kretprobe: ['cpu_switch_to'] }), /notrace|noinstr/);
  assert.throws(() => imageFor('syscall-sleep', { fgraph: ['no_such_fn'] }), /no such function/);
  const ids = [...kit.sweep({ workload: 'kthread-sleep', exception: 'nmi', walk: 'in-handler' })].map((s) => s.snapshot.id);
  assert.equal(new Set(ids).size, ids.length);
});

test('preemption only where preempt_count is zero: never inside schedule()/__schedule()', () => {
  const pre = [...kit.sweep({ workload: 'syscall-sleep', exception: 'irq', walk: 'preempted' })];
  const inHandler = [...kit.sweep({ workload: 'syscall-sleep', exception: 'irq', walk: 'in-handler' })];
  assert.ok(pre.length > 5 && pre.length < inHandler.length);
  for (const s of pre) {
    const names = fns(s.truth);
    assert.equal(names.filter((n) => n === '__schedule').length, 1, s.moment);
    assert.ok(names.includes('preempt_schedule_irq'), s.moment);
    assert.equal(s.snapshot.task.state, 'blocked');
  }
  const sched = imageFor('syscall-sleep').img.prog.labels.get('schedule')!;
  const idx = boundaries('syscall-sleep').find((b) => b.preemptDisabled && !b.irqMasked && b.pc >= sched)!;
  assert.ok(idx);
  assert.throws(
    () => kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'exception-at-step', exception: 'irq', step: idx.step, walk: 'preempted' } }),
    /preemption is disabled/,
  );
});

test('every sweep scene: the truth is the handler chain on top of the truth at the interrupted boundary', () => {
  const configs: [Parameters<typeof imageFor>[0], SceneSpec['instrument']][] = [
    ['syscall-sleep', { fgraph: ['sys_sleep', 'do_nanosleep'], kretprobe: ['schedule'] }],
    ['kthread-sleep', undefined],
    ['spec-caller', { ftraceRegs: ['caller'], kretprobe: ['callee'] }],
    ['efi-call', undefined],
    ['tail-call', { fgraph: ['tail_a', 'tail_b'] }],
  ];
  let n = 0;
  for (const [w, ins] of configs) {
    const img = imageFor(w, ins).img;
    const bs = boundaries(w, ins);
    for (const exception of ['irq', 'nmi'] as const) {
      const scenes = [...kit.sweep({ workload: w, ...(ins ? { instrument: ins } : {}), exception, walk: 'in-handler' })];
      const used = bs.filter((b) => exception === 'nmi' || !b.irqMasked);
      assert.equal(scenes.length, used.length);
      scenes.forEach((s, k) => {
        const b = used[k]!;
        const m = new Arm64Machine(img);
        assert.equal(m.cpu.run(1_000_000, -1, b.step), 'break');
        const before = m.shadow.truth(m.cpu.pc).frames.map((f) => `${f.fn}@${f.addr}`);
        const after = s.truth.frames.map((f) => `${f.fn}@${f.addr}`);
        const at = s.truth.frames.findIndex((f) => f.why === 'exception');
        assert.deepEqual(after.slice(at), before, s.moment);
        assert.equal(s.truth.frames[at]!.fn, m.syms.lookup(b.pc)!.name);
        if (k % 20 === 0) loadSnapshot(JSON.parse(JSON.stringify(s.snapshot)), s.snapshot.id);
        n++;
      });
    }
  }
  assert.ok(n > 300, `${n} scenes`);
});

test('an ERET to EL0 while kernel frames are live is a machine error, not a quiet return to user', () => {
  const { img } = imageFor('work-chain');
  const m = new Arm64Machine(img);
  const workC = img.prog.labels.get('work_c')!;
  assert.equal(m.cpu.run(100_000, workC), 'break');
  assert.ok(m.shadow.entries.length > 0);
  // Jump straight to ret_to_user's ERET (ELR/SPSR still hold the user context).
  const r = img.prog.symbols.find((s) => s.name === 'ret_to_user')!;
  let eret = r.start;
  while (img.prog.insnAt(eret)!.op !== Op.ERET) eret += 4;
  m.cpu.pc = eret;
  assert.throws(() => m.cpu.run(1), /eret to EL0 with live kernel frames \(el0t_64_sync .*work_b\)/);
});
