/**
 * The s390x ArchKit: builds scenes by running workloads on the simulated machine to a moment,
 * applying instrumentation and corruption, and packaging snapshot + ground truth + findings.
 */
import { rethookName } from '../tracing';
import { walkContext } from '../context';
import { sceneSlug } from '../slug';
import { exceptionAtEachStep, MomentPastException } from '../../scene/sweep';
import { analyseS390x, type S390xAnalysis } from '../../analyser/s390x';
import { S390X_ABI as A, userMode } from '../../isa/s390x/abi';
import type { StopReason } from '../../isa/s390x/interpreter';
import type { ArchKit, Finding, Instrumentation, Scene, SceneSpec, SweepSpec, Workload } from '../../scene/types';
import { makeSnapshot } from '../../snapshot/io';
import type { SnapshotStack } from '../../snapshot/types';
import type { GroundTruth } from '../../truth/shadow';
import { sweepSteps, type Boundary, insnTexts } from '../boundary';
import { checkExceptionFrame, corruptExceptionFrame, corruptTracing, isExceptionFrameCorruption, isTracingCorruption, linkToStaleRegs, redirectTruth, redirectTruthAtDepth, returnTrampolines, type ExceptionFrameLayout } from '../corrupt';
import { corruptFrame, frameAtDepth, frameReturningInto, savedR14 } from './frames';
import { buildImage, FTRACE_CALLSITE, MAP, S390_CALLER, S390_FUNCTION, TASK_PT_REGS, initSp, type Image } from './image';
import { S390xMachine, symbolsOf } from './machine';

export const S390X_WORKLOADS: readonly Workload[] = [
  'syscall-sleep',
  'kthread-sleep',
  'work-chain',
  'module-sleep',
  'bpf-sleep',
  'nonstandard-sleep',
  'fp-violation',
  'spec-function',
  'spec-caller',
  'tail-call',
  'unreachable-code',
  'hint-undefined',
  'regs-copy-sleep',
  'lr-in-gpr',
];

const STEP_LIMIT = 100_000;
export const CONTEXT_SWITCH_OMISSIBLE = 'context switch: a blocked task resumes in __switch_to, which a trace may leave out';

/** Feature names of the kretprobe trampoline and its handler, as this (rethook) kernel names them. */
export const canonicalFn = rethookName;

const images = new Map<string, { img: Image; analysis: S390xAnalysis }>();

export function imageFor(w: Workload, ins?: Instrumentation): { img: Image; analysis: S390xAnalysis } {
  const key = JSON.stringify([w, ins?.fgraph ?? [], ins?.ftraceRegs ?? [], ins?.kretprobe ?? []]);
  let e = images.get(key);
  if (!e) {
    if (ins?.optprobe?.length) throw new Error('s390x has no optprobes');
    const img = buildImage(w, ins);
    e = { img, analysis: analyseS390x(img.prog) };
    images.set(key, e);
  }
  return e;
}

function run(m: S390xMachine, breakAt = -1, breakStep = -1): StopReason {
  const stop = m.cpu.run(STEP_LIMIT, breakAt, breakStep);
  if (stop === 'limit' || stop === 'undef' || stop === 'fault') throw new Error(`s390x machine stopped (${stop}) at ${m.describe(m.cpu.pc)} running ${m.img.workload}`);
  return stop;
}

const EXC = { irq: 'external interrupt', nmi: 'machine check', brk: 'kprobe breakpoint (program check)', 'page-fault': 'kernel page fault (program check)' } as const;

interface Reached {
  m: S390xMachine;
  state: 'running' | 'blocked';
  moment: string;
  slug: string;
  excRegs?: number;
}

/** pt_regs: psw.addr, r15, and r11 (the s390 frame pointer register when one is used). */
const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: A.PT_PSW_ADDR, sp: A.PT_R15, fp: A.PT_GPRS + 8 * 11 };

function reach(spec: SceneSpec, img: Image): Reached {
  const m = new S390xMachine(img);
  const mo = spec.moment;
  if (mo.kind === 'blocked') {
    const stop = run(m);
    if (stop !== 'blocked') throw new Error(`workload ${spec.workload} never blocks on s390x (it ${stop === 'user' ? 'returns to user space' : `stops: ${stop}`})`);
    return { m, state: 'blocked', moment: `blocked in schedule() (saved r14 ${m.syms.describe(m.savedContext().r14!)})`, slug: 'blocked' };
  }
  if (mo.kind === 'kretprobe-handler') throw new Error('s390x: a walk of current from a rethook return handler is not modelled');
  if (mo.exception === 'nmi' && mo.walk === 'preempted' && !mo.nested) throw new Error('a machine check cannot preempt the task (walk: preempted needs an IRQ)');
  if (mo.exception === 'page-fault' && mo.nested) throw new Error('a page fault is walked from its handler or blocked in it (no nested machine check)');
  if (mo.exception === 'brk' && (mo.walk === 'preempted' || mo.nested)) throw new Error('a kprobe breakpoint is walked from its handler (no preemption on its return, no nested machine check)');
  let where: number;
  let at = '';
  if (mo.kind === 'exception') {
    const sym = m.syms.get(canonicalFn(mo.at.fn));
    const addr = sym.start + 4 * mo.at.index;
    if (addr >= sym.end || !img.prog.insnAt(addr)) throw new Error(`${mo.at.fn} has no instruction ${mo.at.index}`);
    const want = mo.at.occurrence ?? 1;
    for (let seen = 0; ; ) {
      const stop = run(m, addr);
      if (stop !== 'break') throw new Error(`${m.syms.describe(addr)} (occurrence ${seen + 1}) is not executed before the task ${stop === 'user' ? 'returns to user' : stop}`);
      if (++seen === want) break;
      const past = m.cpu.run(1);
      if (past !== 'limit') throw new Error(`stepping past ${m.syms.describe(addr)} stopped the machine (${past})`);
    }
    where = addr;
    if (want > 1) at = `#${want}`;
  } else {
    const stop = run(m, -1, mo.step);
    if (stop !== 'break') throw new Error(`step ${mo.step} is past the end of ${spec.workload} (${stop})`);
    where = m.cpu.pc;
    at = `@step${mo.step}`;
  }
  if (mo.exception === 'irq' && m.cpu.irqMasked) throw new Error(`IRQs are masked at ${m.describe(where)}`);
  if (mo.walk === 'preempted' && !mo.nested && m.preemptCount > 0) throw new Error(`preemption is disabled at ${m.describe(where)}: an IRQ there cannot preempt the task`);
  const desc = `${EXC[mo.exception]} before ${m.describe(where)}`;
  // Kernel-mode interruptions push a frame and pt_regs below the interrupted %r15; a machine check uses the mcck stack.
  const excRegs = mo.exception === 'nmi' ? initSp(MAP.mcck) + A.STACK_FRAME_OVERHEAD : m.cpu.sp - A.PT_REGS_SIZE;
  m.takeException(mo.exception);
  if (mo.nested === 'nmi' && mo.nestedAfter !== undefined) return nmiDuringException(m, mo.exception, mo.nestedAfter, desc, `${m.syms.describe(where)}${at}`);
  if (mo.nested === 'nmi') {
    m.cfg = { walkAt: 'nmi', nestedNmi: mo.exception === 'irq' };
    const stop = run(m);
    if (stop !== 'walk') throw new Error(`nested machine check walk point not reached (${stop})`);
    return { m, state: 'running', moment: `${desc}, machine check nested in the handler, walk from the machine check handler`, slug: `${mo.exception}+nmi/${m.syms.describe(where)}${at}` };
  }
  if (mo.walk === 'in-handler') {
    m.cfg = { walkAt: mo.exception };
    const stop = run(m);
    if (stop !== 'walk') throw new Error(`handler walk point not reached (${stop})`);
    return { m, state: 'running', moment: `${desc}, walk from the handler`, slug: `${mo.exception}/${m.syms.describe(where)}${at}`, excRegs };
  }
  m.cfg = { preempt: true };
  const stop = run(m);
  if (stop !== 'blocked') throw new Error(`preempted task did not block (${stop})`);
  return { m, state: 'blocked', moment: `${desc}, ${mo.exception === 'page-fault' ? 'the task sleeps in the fault handler' : 'task preempted on IRQ return and blocked'}`, slug: `${mo.exception}-preempt/${m.syms.describe(where)}${at}`, excRegs };
}

function nmiDuringException(m: S390xMachine, exc: string, k: number, desc: string, where: string): Reached {
  const depth = m.shadow.entries.length;
  const entry = m.shadow.entries[depth - 1];
  m.cfg = {};
  if (k > 0) {
    const stop = m.cpu.run(k);
    if (stop !== 'limit' && m.shadow.entries[depth - 1] === entry) throw new Error(`handling the ${exc} stopped (${stop}) before its instruction ${k}`);
  }
  if (m.shadow.entries[depth - 1] !== entry) throw new MomentPastException(`the ${exc} has returned before instruction ${k} of its handling`);
  const nmiAt = m.describe(m.cpu.pc);
  m.takeException('nmi');
  m.cfg = { walkAt: 'nmi' };
  const stop = run(m);
  if (stop !== 'walk') throw new Error(`machine check walk point not reached (${stop})`);
  return { m, state: 'running', moment: `${desc}, machine check before ${nmiAt} (instruction ${k} of its handling), walk from the machine check handler`, slug: `${exc}+nmi@${k}/${where}` };
}

const slugOf = (spec: SceneSpec, base: string): string => sceneSlug('s390x', spec, base);

export function buildScene(spec: SceneSpec): Scene {
  const { img, analysis } = imageFor(spec.workload, spec.instrument);
  const r = reach(spec, img);
  const m = r.m;
  let regs: Record<string, number>;
  let truth: GroundTruth;
  const stacks: SnapshotStack[] = [{ region: MAP.task.name, type: 'task' }];
  if (r.state === 'blocked') {
    regs = m.savedContext();
    // The task resumes in __switch_to (context-switch code, omissible), which returns into
    // __schedule at the r14 it saved: __schedule and everything below it are required.
    const top = m.shadow.entries[m.shadow.entries.length - 1];
    if (!top || top.resume !== regs.r14 || m.syms.lookup(m.cpu.pc)?.name !== '__switch_to') throw new Error('blocked task: not switched out in __switch_to');
    truth = m.shadow.truth(m.cpu.pc, CONTEXT_SWITCH_OMISSIBLE);
  } else {
    regs = m.regsRecord();
    truth = m.shadow.truth(m.cpu.pc);
    // current: this CPU's async, nodat, restart and machine-check stacks too.
    stacks.push({ region: MAP.async.name, type: 'irq' }, { region: MAP.nodat.name, type: 'exception' }, { region: MAP.restart.name, type: 'exception' }, { region: MAP.mcck.name, type: 'nmi' });
  }
  if (spec.corrupt) {
    const targets = { otherRecord: m.otherRecord, unmapped: 0x03ff80ff0000 };
    if (isTracingCorruption(spec.corrupt)) redirectTruth(truth, corruptTracing(m.tracing, spec.corrupt, returnTrampolines(m.syms)));
    else if (isExceptionFrameCorruption(spec.corrupt)) {
      const at = checkExceptionFrame(m.mem, r.excRegs, PT_REGS_LAYOUT, truth, spec.corrupt);
      if (userMode(m.mem.read64(at + A.PT_PSW))) throw new Error(`${spec.corrupt}: the exception frame is not from kernel mode`);
      redirectTruth(truth, corruptExceptionFrame(m.mem, at, PT_REGS_LAYOUT, spec.corrupt, targets));
    } else if (spec.corrupt === 'frame-pointer-to-stale-final') {
      // A copy of the task's top frame (zero back chain) and its pt_regs in regscopy_fn's locals, and a back chain pointing at it.
      const sym = m.syms.get('regscopy_fn');
      // regscopy_fn's own frame: the one whose r14 slot (filled by its callee) returns into it; its locals lie above the save area.
      const own = frameReturningInto(m.mem, regs.r15!, (ra) => ra >= sym.start && ra < sym.end);
      const at = own + A.STACK_FRAME_OVERHEAD;
      const top = initSp(MAP.task);
      const sp = frameAtDepth(m.mem, regs.r15!, spec.corruptDepth);
      linkToStaleRegs(m.mem, sp + A.SF_BACKCHAIN, { from: top, at, size: A.STACK_FRAME_OVERHEAD + A.PT_REGS_SIZE, link: at });
    } else if (spec.corrupt === 'return-address-to-stale-user-regs') {
      throw new Error(`${spec.corrupt}: x86_64 only (s390x finds pt_regs through a zero back chain, not through an entry point's return address)`);
    } else redirectTruthAtDepth(truth, corruptFrame(m.mem, frameAtDepth(m.mem, regs.r15!, spec.corruptDepth, spec.corrupt), spec.corrupt, targets), spec.corruptDepth, (k) => savedR14(m.mem, frameAtDepth(m.mem, regs.r15!, k)), { t: m.tracing, trampolines: returnTrampolines(m.syms) });
  }
  const snapshot = makeSnapshot({
    id: slugOf(spec, r.slug),
    arch: 's390x',
    task: { pid: 100, comm: img.code.kthread ? 'kworker/0:1' : 'conformance', kind: img.code.kthread ? 'kthread' : 'user', state: r.state },
    context: walkContext(spec, r.state === 'running', truth, m.syms),
    regs,
    mem: m.mem,
    syms: m.syms,
    stacks,
    ptRegs: TASK_PT_REGS,
    finalFrame: TASK_PT_REGS,
    abi: { ...A },
    unwind: {},
    ...m.tracing.toSnapshot(),
  });
  return { spec, arch: 's390x', snapshot, truth, findings: analysis.findings, moment: r.moment };
}

export function boundaries(w: Workload, ins?: Instrumentation): Boundary[] {
  const { img } = imageFor(w, ins);
  const m = new S390xMachine(img);
  const out: Boundary[] = [];
  for (let k = 0; k < STEP_LIMIT; k++) {
    out.push({ step: m.cpu.steps, pc: m.cpu.pc, fn: m.syms.lookup(m.cpu.pc)?.name ?? '?', irqMasked: m.cpu.irqMasked || m.cpu.user, preemptDisabled: m.preemptCount > 0 });
    const stop = m.cpu.run(1);
    if (stop === 'blocked' || stop === 'user') return out;
    if (stop !== 'limit') throw new Error(`sweep of ${w} stopped (${stop}) at ${m.describe(m.cpu.pc)}`);
  }
  throw new Error(`sweep of ${w}: no end within ${STEP_LIMIT} steps`);
}

export function sweep(spec: SweepSpec): Iterable<Scene> {
  const s = spec.functions ? { ...spec, functions: spec.functions.map(canonicalFn) } : spec;
  return exceptionAtEachStep(spec, sweepSteps(boundaries(spec.workload, spec.instrument), s), buildScene);
}

export function analyse(w: Workload): Finding[] {
  return imageFor(w).analysis.findings;
}

export function instructions(w: Workload, ins: Instrumentation | undefined, fn: string): string[] {
  const { img } = imageFor(w, ins);
  return insnTexts(img.prog, symbolsOf(img).get(canonicalFn(fn)));
}

export const kit: ArchKit = {
  arch: 's390x',
  workloads: S390X_WORKLOADS,
  buildScene,
  sweep,
  analyse,
  instructions,
  examples: {
    'function:': { text: S390_FUNCTION, workload: 'spec-function' },
    'caller:': { text: S390_CALLER, workload: 'spec-caller' },
    'ftrace call site': { text: FTRACE_CALLSITE.join('\n') },
  },
};
