/**
 * The arm64 ArchKit: builds scenes by running workloads on the simulated machine to a moment,
 * applying instrumentation and corruption, and packaging snapshot + ground truth + findings.
 */
import { walkContext } from '../context';
import { sceneSlug } from '../slug';
import { exceptionAtEachStep, MomentPastException } from '../../scene/sweep';
import { analyseArm64, type Arm64Analysis } from '../../analyser/arm64';
import { ARM64_ABI } from '../../isa/arm64/abi';
import type { StopReason } from '../../isa/arm64/interpreter';
import type { ArchKit, Finding, Instrumentation, Scene, SceneSpec, SweepSpec, Workload } from '../../scene/types';
import { makeSnapshot } from '../../snapshot/io';
import type { SnapshotStack } from '../../snapshot/types';
import type { GroundTruth } from '../../truth/shadow';
import { buildImage, MAP, REGS_COPY_OFFSET, TASK_PT_REGS, type Image } from './image';
import { sweepSteps, type Boundary, insnTexts } from '../boundary';
import { checkExceptionFrame, corruptExceptionFrame, corruptFrameRecord, corruptTracing, returnTrampolines, framePointerOf, isExceptionFrameCorruption, isTracingCorruption, linkToStaleRegs, recordAtDepth, redirectTruth, redirectTruthAtDepth, type ExceptionFrameLayout } from '../corrupt';
import { Arm64Machine, symbolsOf } from './machine';

export const ARM64_WORKLOADS: readonly Workload[] = [
  'syscall-sleep',
  'kthread-sleep',
  'work-chain',
  'module-sleep',
  'bpf-sleep',
  'efi-call',
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
export const CONTEXT_SWITCH_OMISSIBLE = 'context switch: a blocked task resumes in cpu_switch_to, which a trace may leave out';

const images = new Map<string, { img: Image; analysis: Arm64Analysis }>();

/** Forget the cached images of workloads `drop` selects (generated programs, which a long campaign never reuses). */
export function forgetImages(drop: (w: Workload) => boolean): void {
  for (const [k, e] of images) if (drop(e.img.workload)) images.delete(k);
}

/** The kernel image (and its analysis) for a workload and instrumentation, cached. */
export function imageFor(w: Workload, ins?: Instrumentation): { img: Image; analysis: Arm64Analysis } {
  const key = JSON.stringify([w, ins?.fgraph ?? [], ins?.ftraceRegs ?? [], ins?.kretprobe ?? []]);
  let e = images.get(key);
  if (!e) {
    if (ins?.optprobe?.length) throw new Error('arm64 has no optprobes');
    const img = buildImage(w, ins);
    e = { img, analysis: analyseArm64(img.prog) };
    images.set(key, e);
  }
  return e;
}

function run(m: Arm64Machine, breakAt = -1, breakStep = -1): StopReason {
  const stop = m.cpu.run(STEP_LIMIT, breakAt, breakStep);
  if (stop === 'limit' || stop === 'undef' || stop === 'fault') {
    throw new Error(`arm64 machine stopped (${stop}) at ${m.describe(m.cpu.pc)} running ${m.img.workload}`);
  }
  return stop;
}

const EXC = { irq: 'IRQ', nmi: 'NMI', brk: 'kprobe BRK', 'page-fault': 'kernel page fault' } as const;

interface Reached {
  m: Arm64Machine;
  state: 'running' | 'blocked';
  moment: string;
  slug: string;
  /** The pt_regs kernel_entry builds for the moment's exception (not for a nested NMI). */
  excRegs?: number;
}

/** pt_regs: x29, sp, pc (pt_regs->stackframe is a zeroed meta record since v6.13: no copies). */
const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: ARM64_ABI.S_PC, sp: ARM64_ABI.S_SP, fp: ARM64_ABI.S_FP };

/** Run a fresh machine to the spec's moment. */
function reach(spec: SceneSpec, img: Image): Reached {
  const m = new Arm64Machine(img);
  const mo = spec.moment;
  if (mo.kind === 'blocked') {
    const stop = run(m);
    if (stop !== 'blocked') throw new Error(`workload ${spec.workload} never blocks on arm64 (it ${stop === 'user' ? 'returns to user space' : `stops: ${stop}`})`);
    return { m, state: 'blocked', moment: `blocked in schedule() (saved pc ${m.syms.describe(m.savedContext().pc!)})`, slug: 'blocked' };
  }
  if (mo.kind === 'kretprobe-handler') {
    m.cfg = { walkAt: 'kretprobe' };
    const stop = run(m);
    if (stop !== 'walk') throw new Error(`no kretprobe return handler runs in ${spec.workload} (${stop}): put a kretprobe on a function that returns`);
    return { m, state: 'running', moment: 'a kretprobe return handler walks current', slug: 'kretprobe-handler' };
  }
  if (mo.exception === 'nmi' && mo.walk === 'preempted' && !mo.nested) throw new Error('an NMI cannot preempt the task (walk: preempted needs an IRQ)');
  if (mo.exception === 'page-fault' && mo.nested) throw new Error('a page fault is walked from its handler or blocked in it (no nested NMI)');
  if (mo.exception === 'brk' && (mo.walk === 'preempted' || mo.nested)) throw new Error('a kprobe BRK is walked from its handler (no preemption on its return, no nested NMI)');
  let where: number;
  let at = '';
  if (mo.kind === 'exception') {
    const sym = m.syms.get(mo.at.fn);
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
  // kernel_entry pushes pt_regs on the interrupted stack (SUB SP, SP, #PT_REGS_SIZE).
  const excRegs = m.cpu.sp - ARM64_ABI.PT_REGS_SIZE;
  m.takeException(mo.exception);
  if (mo.nested === 'nmi' && mo.nestedAfter !== undefined) return nmiDuringException(m, mo.exception, mo.nestedAfter, desc, `${m.syms.describe(where)}${at}`);
  if (mo.nested === 'nmi') {
    m.cfg = { walkAt: 'nmi', nestedNmi: mo.exception === 'irq' };
    const stop = run(m);
    if (stop !== 'walk') throw new Error(`nested NMI walk point not reached (${stop})`);
    return { m, state: 'running', moment: `${desc}, NMI nested in the handler, walk from the NMI handler`, slug: `${mo.exception}+nmi/${m.syms.describe(where)}${at}` };
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

/**
 * An NMI `k` instructions into the handling of the exception just taken (its vector, entry code, the
 * IRQ stack switch, the handler, its exit), walked from the NMI handler.
 */
function nmiDuringException(m: Arm64Machine, exc: string, k: number, desc: string, where: string): Reached {
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
  if (stop !== 'walk') throw new Error(`NMI walk point not reached (${stop})`);
  return { m, state: 'running', moment: `${desc}, NMI before ${nmiAt} (instruction ${k} of its handling), walk from the NMI handler`, slug: `${exc}+nmi@${k}/${where}` };
}

const slugOf = (spec: SceneSpec, base: string): string => sceneSlug('arm64', spec, base);

export function buildScene(spec: SceneSpec): Scene {
  const { img, analysis } = imageFor(spec.workload, spec.instrument);
  const r = reach(spec, img);
  const m = r.m;
  let regs: Record<string, number>;
  let truth: GroundTruth;
  const stacks: SnapshotStack[] = [{ region: MAP.task.name, type: 'task' }];
  if (r.state === 'blocked') {
    regs = m.savedContext();
    // The task resumes at cpu_switch_to's RET (context-switch code, omissible), which returns into
    // __schedule at the saved pc: __schedule and everything below it are required.
    const top = m.shadow.entries[m.shadow.entries.length - 1];
    if (!top || top.resume !== regs.pc || m.syms.lookup(m.cpu.pc)?.name !== 'cpu_switch_to') throw new Error('blocked task: not switched out in cpu_switch_to');
    truth = m.shadow.truth(m.cpu.pc, CONTEXT_SWITCH_OMISSIBLE);
  } else {
    regs = m.cpu.regsRecord();
    truth = m.shadow.truth(m.cpu.pc);
    // current: this CPU's stacks too, as stackinfo_get_irq/overflow/sdei_*() give them to kunwind.
    stacks.push(
      { region: MAP.irq.name, type: 'irq' },
      { region: MAP.overflow.name, type: 'overflow' },
      { region: MAP.sdeiNormal.name, type: 'sdei' },
      { region: MAP.sdeiCritical.name, type: 'sdei' },
    );
  }
  if (spec.corrupt) {
    const targets = { otherRecord: m.otherRecord, unmapped: 0x800080ff0000 };
    if (isTracingCorruption(spec.corrupt)) redirectTruth(truth, corruptTracing(m.tracing, spec.corrupt, returnTrampolines(m.syms)));
    else if (isExceptionFrameCorruption(spec.corrupt)) {
      const at = checkExceptionFrame(m.mem, r.excRegs, PT_REGS_LAYOUT, truth, spec.corrupt);
      if ((m.mem.read64(at + ARM64_ABI.S_PSTATE) & ARM64_ABI.PSR_MODE_MASK) !== ARM64_ABI.PSR_MODE_EL1h) throw new Error(`${spec.corrupt}: the exception frame is not kernel-mode`);
      redirectTruth(truth, corruptExceptionFrame(m.mem, at, PT_REGS_LAYOUT, spec.corrupt, targets));
    } else if (spec.corrupt === 'frame-pointer-to-stale-final') {
      const sym = m.syms.get('regscopy_fn');
      const fp = framePointerOf(m.mem, regs.x29!, (ra) => ra >= sym.start && ra < sym.end);
      const at = fp + REGS_COPY_OFFSET;
      linkToStaleRegs(m.mem, recordAtDepth(m.mem, regs.x29!, spec.corruptDepth), { from: TASK_PT_REGS, at, size: ARM64_ABI.PT_REGS_SIZE, link: at + ARM64_ABI.S_STACKFRAME });
    } else if (spec.corrupt === 'return-address-to-stale-user-regs') {
      throw new Error(`${spec.corrupt}: x86_64 only (arm64 finds pt_regs through frame records, not through an entry point's return address)`);
    } else redirectTruthAtDepth(truth, corruptFrameRecord(m.mem, recordAtDepth(m.mem, regs.x29!, spec.corruptDepth, spec.corrupt), spec.corrupt, targets), spec.corruptDepth, (k) => m.mem.read64(recordAtDepth(m.mem, regs.x29!, k) + 8), { t: m.tracing, trampolines: returnTrampolines(m.syms) });
  }
  // The machine was built for this scene alone: its memory is handed over, not copied.
  const snapshot = makeSnapshot({
    owned: true,
    id: slugOf(spec, r.slug),
    arch: 'arm64',
    task: { pid: 100, comm: img.code.kthread ? 'kworker/0:1' : 'conformance', kind: img.code.kthread ? 'kthread' : 'user', state: r.state },
    context: walkContext(spec, r.state === 'running', truth, m.syms),
    regs,
    mem: m.mem,
    syms: m.syms,
    stacks,
    ptRegs: TASK_PT_REGS,
    finalFrame: TASK_PT_REGS + ARM64_ABI.S_STACKFRAME,
    abi: { ...ARM64_ABI },
    unwind: { arm64: analysis.table },
    ...m.tracing.toSnapshot(),
  });
  return { spec, arch: 'arm64', snapshot, truth, findings: analysis.findings, moment: r.moment };
}

/** Every instruction boundary the task executes on the workload's path, with pstate and preempt_count at each. */
export function boundaries(w: Workload, ins?: Instrumentation): Boundary[] {
  const { img } = imageFor(w, ins);
  const m = new Arm64Machine(img);
  const out: Boundary[] = [];
  for (let k = 0; k < STEP_LIMIT; k++) {
    out.push({ step: m.cpu.steps, pc: m.cpu.pc, fn: m.syms.lookup(m.cpu.pc)?.name ?? '?', irqMasked: m.cpu.irqMasked, preemptDisabled: m.preemptCount > 0 });
    const stop = m.cpu.run(1);
    if (stop === 'blocked' || stop === 'user') return out;
    if (stop !== 'limit') throw new Error(`sweep of ${w} stopped (${stop}) at ${m.describe(m.cpu.pc)}`);
  }
  throw new Error(`sweep of ${w}: no end within ${STEP_LIMIT} steps`);
}

export function sweep(spec: SweepSpec): Iterable<Scene> {
  return exceptionAtEachStep(spec, sweepSteps(boundaries(spec.workload, spec.instrument), spec), buildScene);
}

export function analyse(w: Workload): Finding[] {
  return imageFor(w).analysis.findings;
}

export function instructions(w: Workload, ins: Instrumentation | undefined, fn: string): string[] {
  const { img } = imageFor(w, ins);
  return insnTexts(img.prog, symbolsOf(img).get(fn));
}

export const kit: ArchKit = {
  arch: 'arm64',
  workloads: ARM64_WORKLOADS,
  buildScene,
  sweep,
  analyse,
  instructions,
};
