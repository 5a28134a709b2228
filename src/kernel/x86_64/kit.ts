/**
 * The x86_64 ArchKit: runs a workload of the simulated kernel on the interpreter to a moment,
 * applies instrumentation and corruption, and returns the snapshot (what an unwinder sees), the
 * ground truth (the interpreter's shadow record) and the analyser's findings.
 */
import { walkContext } from '../context';
import { exceptionAtEachStep, MomentPastException } from '../../scene/sweep';
import { X86_64_ABI as ABI } from '../../isa/x86_64/abi';
import { RAX, RBX, RDI, RSI, type Insn } from '../../isa/x86_64/assembler';
import { Cpu, EFLAGS_IF, type Hook } from '../../isa/x86_64/interpreter';
import { Memory, mapMachineRegions } from '../../machine/memory';
import type { ArchKit, Finding, Moment, Scene, SceneSpec, SweepSpec, Workload } from '../../scene/types';
import { makeSnapshot } from '../../snapshot/io';
import { ShadowStack } from '../../truth/shadow';
import { sweepSteps, type Boundary } from '../boundary';
import { checkExceptionFrame, corruptExceptionFrame, corruptFrameRecord, corruptTracing, returnTrampolines, framePointerOf, isExceptionFrameCorruption, isTracingCorruption, copyWords, linkToStaleRegs, recordAtDepth, redirectTruth, redirectTruthAtDepth, type ExceptionFrameLayout, type Redirect } from '../corrupt';
import { TaskTracing, rethookName } from '../tracing';
import { REGS_COPY_OFFSET } from './source';
import { baseImage, CEA, image, IRQ_TOP, LAYOUT, NMI_TOP, PERCPU, PT_REGS, REGIONS, RUNNING_STACKS, TASK, TASK_TOP, type Image } from './image';
import { hex } from '../../machine/addr';

export const X86_64_WORKLOADS: readonly Workload[] = [
  'syscall-sleep',
  'kthread-sleep',
  'work-chain',
  'module-sleep',
  'bpf-sleep',
  'efi-call',
  'nonstandard-sleep',
  'fp-violation',
  'tail-call',
  'unreachable-code',
  'hint-undefined',
  'regs-copy-sleep',
];

export const SWITCH_OMISSIBLE = 'context switch: a blocked task resumes in __switch_to_asm (switch_to), which a trace may leave out';

/** A machine booted with one image, running one task. */
export interface Machine {
  img: Image;
  mem: Memory;
  cpu: Cpu;
  shadow: ShadowStack;
  tracing: TaskTracing;
  /** Which handler's walk point stops the run. */
  walkIn: 'irq' | 'nmi' | 'brk' | 'page-fault' | null;
  nestedNmi: boolean;
  preempt: boolean;
  /** preempt_count(): non-zero where an IRQ return cannot preempt the task (schedule() runs __schedule() with it raised). */
  preemptCount: number;
  /** The pt_regs built for the moment's exception (not for a nested NMI): where its iret frame went. */
  excRegs?: number;
}

const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: ABI.PT_RIP, sp: ABI.PT_RSP, fp: ABI.PT_RBP };

const OTHER_TOP = LAYOUT.OTHER_STACK + ABI.THREAD_SIZE;
/** The other task's innermost frame record (target of frame-pointer-other-task corruption). */
const OTHER_RECORD = OTHER_TOP - ABI.PT_REGS_SIZE - 0x80;

/** Where regscopy_fn (workload regs-copy-sleep) keeps its local struct pt_regs, on the chain from `rbp`. */
function regsCopyOf(mem: Memory, img: Image, rbp: number, what: string): { sym: { start: number; end: number }; at: number } {
  const sym = img.syms.byName('regscopy_fn');
  if (!sym) throw new Error(`${what}: workload ${img.workload} has no regscopy_fn holding a struct pt_regs`);
  return { sym, at: framePointerOf(mem, rbp, (ra) => ra >= sym.start && ra < sym.end) - REGS_COPY_OFFSET };
}

/**
 * return-address-to-stale-user-regs: regscopy_fn's local struct pt_regs starts at its stack pointer, so
 * the slot right below it holds the return address of its call to schedule(). Leave a copy of the
 * task's user-mode pt_regs there and make that return go to syscall_return_to_user: on return the
 * entry code would pop the copy and go back to user mode, never returning to regscopy_fn's callers.
 */
function returnIntoEntryAboveStaleRegs(mem: Memory, img: Image, rbp: number): Redirect {
  const { sym, at } = regsCopyOf(mem, img, rbp, 'return-address-to-stale-user-regs');
  const slot = at - 8;
  const was = mem.read64(slot);
  if (was < sym.start || was >= sym.end) throw new Error(`return-address-to-stale-user-regs: the slot below the pt_regs copy (${hex(slot)}) does not return into regscopy_fn`);
  copyWords(mem, PT_REGS, at, ABI.PT_REGS_SIZE);
  const now = addr(img, 'syscall_return_to_user');
  mem.write64(slot, now);
  return { was, now, abandons: true };
}

function addr(img: Image, name: string): number {
  const v = img.prog.labels.get(name) ?? img.symInfo.get(name)?.start;
  if (v === undefined) throw new Error(`x86_64: no symbol ${name}`);
  return v;
}

/** The return address of the call instruction `call` in `fn`. */
function afterCall(img: Image, fn: string, call: string): number {
  const i = img.prog.bySym.get(fn)?.find((x) => x.text === call);
  if (!i) throw new Error(`x86_64: ${fn} has no ${call}`);
  return i.addr + i.size;
}

export function boot(img: Image): Machine {
  const mem = new Memory();
  mapMachineRegions(mem, REGIONS);
  const shadow = new ShadowStack(img.syms);
  const tracing = new TaskTracing();
  tracing.fgraphEnabled = (img.instrument.fgraph?.length ?? 0) > 0;
  const m: Machine = { img, mem, cpu: undefined as unknown as Cpu, shadow, tracing, walkIn: null, nestedNmi: false, preempt: false, preemptCount: 0 };

  mem.write64(PERCPU.cpu_current_top_of_stack, TASK_TOP);
  mem.write64(PERCPU.current_task, TASK.current);
  // irq_init_percpu_irqstack(): hardirq_stack_ptr is the IRQ stack's top word, where
  // call_on_irq_stack saves the interrupted rsp (next_sp) before switching.
  mem.write64(PERCPU.hardirq_stack_ptr, IRQ_TOP - 8);
  mem.write64(PERCPU.cea_exception_stacks, LAYOUT.CEA + CEA.ESTACKS);
  mem.write64(PERCPU.cpu_entry_area, LAYOUT.CEA);
  // The other task is blocked too: a small frame chain on its own stack.
  const o1 = OTHER_RECORD;
  const o2 = OTHER_TOP - ABI.PT_REGS_SIZE - 0x10;
  mem.write64(o1, o2);
  mem.write64(o1 + 8, afterCall(img, 'schedule', 'call __schedule'));
  mem.write64(o2, 0);
  mem.write64(o2 + 8, afterCall(img, 'ret_from_fork_asm', 'call ret_from_fork'));
  mem.write64(TASK.other + TASK.threadsp, o1 - 0x30);

  const hooks: Record<string, Hook> = {
    syscall_lookup: (c) => {
      c.r[RAX] = addr(img, img.src.sys!);
    },
    switch_out: (c) => {
      c.stopped = 'blocked';
    },
    need_resched: (c) => {
      // irqentry_exit_cond_resched(): only when preempt_count is zero
      c.r[RAX] = m.preempt && m.preemptCount === 0 ? 1 : 0;
      m.preempt = false;
    },
    preempt_disable: () => {
      m.preemptCount++;
    },
    preempt_enable: () => {
      m.preemptCount--;
    },
    irq_walk_point: (c) => {
      if (m.nestedNmi) {
        m.nestedNmi = false;
        c.exception('nmi', { vector: addr(img, 'asm_exc_nmi'), ist: NMI_TOP });
      } else if (m.walkIn === 'irq') c.stopped = 'walk';
    },
    fault_walk_point: (c) => {
      if (m.walkIn === 'page-fault') c.stopped = 'walk';
    },
    nmi_walk_point: (c) => {
      if (m.walkIn === 'nmi') c.stopped = 'walk';
    },
    prepare_ftrace_return: (c) => {
      // prepare_ftrace_return(ip, parent, frame_pointer): parent is the return-address slot.
      const retp = c.r[RDI]!;
      const func = c.r[RSI]!;
      if (!tracing.fgraphEnabled) return;
      tracing.pushGraph({ ret: mem.read64(retp), func, retp });
      mem.write64(retp, addr(img, 'return_to_handler'));
    },
    ftrace_return_to_handler: (c) => {
      // The original return address leaves ret_stack and sits in a register chosen by the compiler.
      c.r[RBX] = tracing.popGraph().ret;
    },
    int3: (c, i: Insn) => {
      // A kprobe's int3 traps with ip after the int3 byte; the handler resumes after the probed insn.
      // (The kernel probes an fentry site through ftrace when KPROBES_ON_FTRACE; the int3 path
      // leaves the same kretprobe state and adds an exception a walk can be taken in.)
      c.exception('int3', { vector: addr(img, 'asm_exc_int3') }, i.addr + 1, i.addr + i.size);
    },
    schedule_tail: () => undefined,
    syscall_exit_to_user_mode: () => undefined,
    kprobe_pre_handler: (c) => {
      // A kprobe breakpoint taken as the scene's moment: walk from inside its handler.
      if (m.walkIn === 'brk') {
        c.stopped = 'walk';
        return;
      }
      const regs = c.r[RDI]!;
      const probe = mem.read64(regs + ABI.PT_RIP) - 1;
      const kp = img.kprobes.get(probe);
      if (!kp) throw new Error(`x86_64: int3 at ${hex(probe)} is no kprobe`);
      // pre_handler_kretprobe -> rethook_hook -> arch_rethook_prepare(rh, regs): rh->frame = regs->sp,
      // rh->ret_addr = *regs->sp, then the node goes on the head of current->rethooks.
      const sara = mem.read64(regs + ABI.PT_RSP);
      tracing.pushKretprobe({ ret: mem.read64(sara), func: kp.addr, retp: sara });
      mem.write64(sara, addr(img, 'arch_rethook_trampoline'));
      mem.write64(regs + ABI.PT_RIP, probe + 5);
    },
    arch_rethook_fixup_regs: (c) => {
      // arch_rethook_trampoline_callback(regs): cs, ip (the trampoline), orig_ax, sp += 8; the
      // fake return address lies at &regs->sp + 1, which is rethook's frame.
      const regs = c.r[RBX]!;
      mem.write64(regs + ABI.PT_CS, ABI.KERNEL_CS);
      mem.write64(regs + ABI.PT_RIP, addr(img, 'arch_rethook_trampoline'));
      mem.write64(regs + ABI.PT_RSP, mem.read64(regs + ABI.PT_RSP) + 8);
      c.r[RDI] = regs;
      c.r[RSI] = regs + ABI.PT_RSP + 8;
    },
    rethook_find_correct_ret: (c) => {
      // rethook_trampoline_handler(regs, frame): the first node not holding the trampoline itself
      // is this return's; regs->ip gets its address. Nodes stay linked while the handlers run, so
      // a stack walk from a handler still recovers the return address.
      const regs = c.r[RBX]!;
      const tramp = addr(img, 'arch_rethook_trampoline');
      const node = tracing.kretprobes.find((r) => r.ret !== tramp);
      if (!node) throw new Error('x86_64: rethook: return address not found');
      if (node.retp !== regs + ABI.PT_RSP + 8) throw new Error(`x86_64: rethook node for ${hex(node.retp)} found at frame ${hex(regs + ABI.PT_RSP + 8)}`);
      mem.write64(regs + ABI.PT_RIP, node.ret);
    },
    arch_rethook_fixup_return: (c) => {
      // Write the real return address over the fake one, then unlink the used nodes.
      const regs = c.r[RBX]!;
      const tramp = addr(img, 'arch_rethook_trampoline');
      const k = tracing.kretprobes.findIndex((r) => r.ret !== tramp);
      const node = tracing.kretprobes[k]!;
      mem.write64(regs + ABI.PT_RSP + 8, node.ret);
      tracing.kretprobes.splice(0, k + 1);
    },
    arch_rethook_flags_to_sp: (c) => {
      // regs->sp = regs->flags, so that the trampoline can RET right after its POPF.
      const regs = c.r[RBX]!;
      mem.write64(regs + ABI.PT_RSP, mem.read64(regs + ABI.PT_EFLAGS));
    },
    optprobe_callback: () => undefined,
  };
  const cpu = new Cpu(mem, img.code, shadow, img.syms, hooks);
  m.cpu = cpu;
  if (img.src.kthread) {
    // copy_thread(): a new kthread starts in ret_from_fork_asm with its (zeroed) pt_regs at the
    // top, the thread function in rbx and its argument in r12.
    cpu.rip = addr(img, 'ret_from_fork_asm');
    cpu.rsp = PT_REGS;
    cpu.r[RBX] = addr(img, 'kthread');
    cpu.r[12] = 0;
    cpu.eflags = 0x202;
  } else {
    // The SYSCALL instruction: rcx = user rip, r11 = user rflags, IF masked, kernel CS.
    cpu.rip = addr(img, 'entry_SYSCALL_64');
    cpu.rsp = LAYOUT.USER_RSP;
    cpu.r[5] = LAYOUT.USER_RBP;
    cpu.r[1] = LAYOUT.USER_RIP;
    cpu.r[11] = 0x246;
    cpu.r[RAX] = 35;
    cpu.eflags = 0x2;
  }
  cpu.cs = ABI.KERNEL_CS;
  return m;
}

const STEP_LIMIT = 100_000;

/** Feature names of the kretprobe trampoline and its handler, as this (rethook) kernel names them. */
export const canonicalFn = rethookName;

function fnInstructions(img: Image, name: string) {
  const fn = canonicalFn(name);
  const list = img.prog.bySym.get(fn) ?? (img.symInfo.has(fn) ? [...img.code.values()].filter((i) => i.fn === fn).sort((a, b) => a.addr - b.addr) : undefined);
  if (!list) throw new Error(`x86_64: no function ${fn}`);
  return list;
}

function pointAddr(img: Image, fn: string, index: number): number {
  const list = fnInstructions(img, fn);
  const i = list[index];
  if (!i) throw new Error(`x86_64: ${fn} has no instruction ${index} (it has ${list.length})`);
  return i.addr;
}

function insnText(m: Machine, a: number): string {
  const i = m.img.code.get(a);
  return `${m.img.syms.describe(a)}${i ? ` (${i.text})` : ''}`;
}

/** Run to the moment. Returns a description of it. */
function reach(m: Machine, moment: Moment): string {
  const { cpu } = m;
  if (moment.kind === 'blocked') {
    const why = cpu.run(STEP_LIMIT);
    if (why !== 'blocked') throw new Error(`x86_64 ${m.img.workload}: the task never blocks (${why})`);
    return 'blocked in schedule()';
  }
  if (moment.kind === 'kretprobe-handler') throw new Error('x86_64: a walk of current from a rethook return handler is not modelled (arm64 only)');
  let until: (c: Cpu) => boolean;
  if (moment.kind === 'exception') {
    const a = pointAddr(m.img, moment.at.fn, moment.at.index);
    const want = moment.at.occurrence ?? 1;
    let seen = 0;
    until = (c) => c.rip === a && ++seen === want;
  } else {
    const step = moment.step;
    until = (c) => c.steps === step;
  }
  const why = cpu.run(STEP_LIMIT, until);
  if (why !== 'until') throw new Error(`x86_64 ${m.img.workload}: the moment is never reached (${why})`);
  const where = insnText(m, cpu.rip);
  const exc = moment.exception;
  if (exc === 'irq' && !(cpu.eflags & EFLAGS_IF)) throw new Error(`x86_64: IRQs are masked before ${where}`);
  if (exc === 'nmi' && moment.nested) throw new Error('x86_64: an NMI cannot nest an NMI');
  if (exc === 'nmi' && moment.walk === 'preempted') throw new Error('x86_64: an NMI never preempts the task (nmi exit does not schedule)');
  if (moment.walk === 'in-handler') {
    m.walkIn = moment.nested === 'nmi' ? 'nmi' : exc;
    m.nestedNmi = moment.nested === 'nmi';
  } else {
    if (m.preemptCount > 0) throw new Error(`x86_64: preemption is disabled before ${where}: an IRQ there cannot preempt the task`);
    m.preempt = true;
    if (moment.nested === 'nmi') throw new Error('x86_64: nested NMI walks are taken in the handler (walk: in-handler)');
  }
  if (exc === 'brk' && (moment.walk === 'preempted' || moment.nested)) throw new Error('x86_64: a kprobe int3 is walked from its handler (no preemption on its return, no nested NMI)');
  if (exc === 'page-fault' && moment.nested) throw new Error('x86_64: a page fault is walked from its handler or blocked in it (no nested NMI)');
  if (exc === 'brk') cpu.exception('int3', { vector: addr(m.img, 'asm_exc_int3') });
  else if (exc === 'page-fault') cpu.exception('page-fault', { vector: addr(m.img, 'asm_exc_page_fault') });
  else if (exc === 'irq') cpu.exception('irq', { vector: addr(m.img, 'asm_common_interrupt') });
  else cpu.exception('nmi', { vector: addr(m.img, 'asm_exc_nmi'), ist: NMI_TOP });
  // The entry code completes pt_regs below the iret frame the CPU just pushed.
  // An NMI's pt_regs lie below its copies of the hardware frame (asm_exc_nmi): rdx's slot,
  // "NMI executing", the "iret" frame; pt_regs' iret part is the "outermost" copy.
  if (moment.nested !== 'nmi') m.excRegs = cpu.rsp - (exc === 'nmi' ? NMI_FRAME_COPIES : 0) - ABI.PT_RIP;
  if (moment.nested === 'nmi' && moment.nestedAfter !== undefined) {
    // An NMI `k` instructions into the handling of this exception (entry, stack switch, handler, exit).
    const k = moment.nestedAfter;
    const depth = m.shadow.entries.length;
    const entry = m.shadow.entries[depth - 1];
    m.walkIn = null;
    m.nestedNmi = false;
    if (k > 0) {
      const r = cpu.run(k);
      if (r !== 'step limit' && m.shadow.entries[depth - 1] === entry) throw new Error(`x86_64: handling the ${exc} stopped (${r}) before its instruction ${k}`);
    }
    if (m.shadow.entries[depth - 1] !== entry) throw new MomentPastException(`x86_64: the ${exc} has returned before instruction ${k} of its handling`);
    const nmiAt = insnText(m, cpu.rip);
    cpu.exception('nmi', { vector: addr(m.img, 'asm_exc_nmi'), ist: NMI_TOP });
    m.walkIn = 'nmi';
    const end = cpu.run(STEP_LIMIT);
    if (end !== 'walk') throw new Error(`x86_64 ${m.img.workload}: the NMI walk point was not reached (${end})`);
    return `${exc.toUpperCase()} before ${where}, NMI before ${nmiAt} (instruction ${k} of its handling), walk from the NMI handler`;
  }
  const end = cpu.run(STEP_LIMIT);
  const expect = moment.walk === 'in-handler' ? 'walk' : 'blocked';
  if (end !== expect) throw new Error(`x86_64 ${m.img.workload}: after the ${exc} the run ended with "${end}", not "${expect}"`);
  const nested = moment.nested === 'nmi' ? ', NMI nested in the IRQ handler' : '';
  return `${exc === 'brk' ? 'kprobe int3' : exc === 'page-fault' ? 'kernel page fault' : exc.toUpperCase()} before ${where}${nested}, ${moment.walk === 'in-handler' ? 'walk from the handler' : exc === 'page-fault' ? 'the task sleeps in the fault handler' : 'task preempted and switched out'}`;
}

const UNMAPPED = 0xffffdead0000;
/** How far below the hardware frame asm_exc_nmi puts the "outermost" copy (pt_regs' iret part): rdx, "NMI executing", the "iret" and "outermost" frames. */
const NMI_FRAME_COPIES = 8 + 8 + 40 + 40;

function momentTag(mo: Moment): string {
  if (mo.kind === 'blocked' || mo.kind === 'kretprobe-handler') return mo.kind;
  const at = mo.kind === 'exception' ? `${mo.at.fn}[${mo.at.index}]${mo.at.occurrence && mo.at.occurrence > 1 ? `#${mo.at.occurrence}` : ''}` : `step${mo.step}`;
  return `${mo.exception}${mo.nested ? `+nmi${mo.nestedAfter !== undefined ? `@${mo.nestedAfter}` : ''}` : ''}/${mo.walk}/${at}`;
}

function instrTag(spec: SceneSpec): string {
  const i = spec.instrument;
  if (!i) return '';
  const parts: string[] = [];
  if (i.fgraph?.length) parts.push(`fgraph=${i.fgraph.join(',')}`);
  if (i.kretprobe?.length) parts.push(`kretprobe=${i.kretprobe.join(',')}`);
  if (i.optprobe?.length) parts.push(`optprobe=${i.optprobe.map((o) => `${o.fn}[${o.index}]`).join(',')}`);
  return parts.length ? `/${parts.join(';')}` : '';
}

export function buildScene(spec: SceneSpec): Scene {
  if (spec.instrument?.ftraceRegs?.length) throw new Error('x86_64: ftraceRegs is an arm64 instrumentation');
  const img = image(spec.workload, spec.instrument ?? {});
  const m = boot(img);
  const moment = reach(m, spec.moment);
  const { cpu, mem } = m;
  const blocked = cpu.stopped === 'blocked';
  let regs: Record<string, number>;
  if (blocked) {
    // What the kernel keeps for a switched-out task: thread.sp -> struct inactive_task_frame.
    const sp = mem.read64(TASK.current + TASK.threadsp);
    regs = {
      rsp: sp,
      rip: mem.read64(sp + ABI.ITF_RET_ADDR),
      rbp: mem.read64(sp + ABI.ITF_RBP),
      rbx: mem.read64(sp + ABI.ITF_RBX),
      r12: mem.read64(sp + ABI.ITF_R12),
      r13: mem.read64(sp + ABI.ITF_R13),
      r14: mem.read64(sp + ABI.ITF_R14),
      r15: mem.read64(sp + ABI.ITF_R15),
      cs: ABI.KERNEL_CS,
    };
    // The task resumes in __switch_to_asm (omissible), which returns into __schedule at the saved rip.
    const top = m.shadow.entries[m.shadow.entries.length - 1];
    if (!top || top.resume !== regs['rip'] || img.syms.lookup(cpu.rip)?.name !== '__switch_to_asm') throw new Error('x86_64: blocked task not switched out in __switch_to_asm');
  } else regs = cpu.regsRecord();
  const truth = m.shadow.truth(cpu.rip, blocked ? SWITCH_OMISSIBLE : undefined);
  if (spec.corrupt) {
    const targets = { otherRecord: OTHER_RECORD, unmapped: UNMAPPED };
    if (isTracingCorruption(spec.corrupt)) redirectTruth(truth, corruptTracing(m.tracing, spec.corrupt, returnTrampolines(img.syms)));
    else if (isExceptionFrameCorruption(spec.corrupt)) {
      if ('exception' in spec.moment && spec.moment.exception === 'nmi') throw new Error(`${spec.corrupt}: an x86_64 NMI returns through its "iret" copy, so corrupting its pt_regs does not redirect the return`);
      const at = checkExceptionFrame(mem, m.excRegs, PT_REGS_LAYOUT, truth, spec.corrupt);
      if (mem.read64(at + ABI.PT_CS) !== ABI.KERNEL_CS) throw new Error(`${spec.corrupt}: the exception frame is not kernel-mode`);
      redirectTruth(truth, corruptExceptionFrame(mem, at, PT_REGS_LAYOUT, spec.corrupt, targets));
    } else if (spec.corrupt === 'frame-pointer-to-stale-final') {
      const { at } = regsCopyOf(mem, img, regs['rbp']!, spec.corrupt);
      linkToStaleRegs(mem, recordAtDepth(mem, regs['rbp']!, spec.corruptDepth), { from: PT_REGS, at, size: ABI.PT_REGS_SIZE, link: at + ABI.FP_REGS_ENCODE_BIT });
    } else if (spec.corrupt === 'return-address-to-stale-user-regs') {
      redirectTruth(truth, returnIntoEntryAboveStaleRegs(mem, img, regs['rbp']!));
    } else redirectTruthAtDepth(truth, corruptFrameRecord(m.mem, recordAtDepth(m.mem, regs['rbp']!, spec.corruptDepth, spec.corrupt), spec.corrupt, targets), spec.corruptDepth, (k) => m.mem.read64(recordAtDepth(m.mem, regs['rbp']!, k) + 8), { t: m.tracing, trampolines: returnTrampolines(img.syms) });
  }
  const user = !img.src.kthread;
  // The machine was built for this scene alone: its memory is handed over, not copied.
  const snapshot = makeSnapshot({
    owned: true,
    id: `x86_64/${spec.workload}/${momentTag(spec.moment)}${instrTag(spec)}${spec.corrupt ? `/${spec.corrupt}` : ''}${spec.corruptDepth && spec.corruptDepth > 1 ? `@depth${spec.corruptDepth}` : ''}`,
    arch: 'x86_64',
    task: { pid: user ? 1234 : 42, comm: user ? 'sleeper' : 'kworker/0:1', kind: user ? 'user' : 'kthread', state: blocked ? 'blocked' : 'running', ...(blocked ? { threadSp: hex(regs['rsp']!) } : {}) },
    percpu: Object.fromEntries(Object.entries(PERCPU).map(([k, a]) => [k, mem.read64(a)])),
    context: walkContext(spec, !blocked, truth, img.syms),
    regs,
    mem,
    syms: img.syms,
    stacks: RUNNING_STACKS.map((st) => ({ ...st })),
    ptRegs: PT_REGS,
    finalFrame: PT_REGS,
    abi: { ...ABI },
    unwind: { orc: img.analysis.orc },
    ...m.tracing.toSnapshot(),
  });
  const extra = [spec.instrument && instrTag(spec).slice(1), spec.corrupt].filter(Boolean).join('; ');
  return { spec, arch: 'x86_64', snapshot, truth, findings: img.analysis.findings, moment: extra ? `${moment} [${extra}]` : moment };
}

/** Instruction boundaries the task executes on its own (no exception), with IF and preempt_count at each. */
export function boundaries(workload: Workload, instrument: SceneSpec['instrument'] = {}): Boundary[] {
  const img = image(workload, instrument ?? {});
  const m = boot(img);
  const out: Boundary[] = [];
  const end = m.cpu.run(STEP_LIMIT, (c) => {
    out.push({ step: c.steps, pc: c.rip, fn: img.syms.lookup(c.rip)?.name ?? '?', irqMasked: (c.eflags & EFLAGS_IF) === 0, preemptDisabled: m.preemptCount > 0 });
    return false;
  });
  // A run that ends any other way (shadow mismatch, no instruction, step limit) is a machine bug.
  if (end !== 'blocked' && end !== 'returned to user space') throw new Error(`x86_64 ${workload}: sweep run ended with "${end}" at ${insnText(m, m.cpu.rip)}`);
  return out;
}

export function sweep(spec: SweepSpec): Iterable<Scene> {
  if (spec.functions) spec = { ...spec, functions: spec.functions.map(canonicalFn) };
  return exceptionAtEachStep(spec, sweepSteps(boundaries(spec.workload, spec.instrument), spec), buildScene);
}

export function analyseWorkload(workload: Workload): Finding[] {
  return baseImage(workload).analysis.findings;
}

export const kit: ArchKit = {
  arch: 'x86_64',
  workloads: X86_64_WORKLOADS,
  buildScene,
  sweep,
  analyse: analyseWorkload,
  instructions: (workload, instrument, fn) => fnInstructions(image(workload, instrument ?? {}), fn).map((i) => i.text),
};
