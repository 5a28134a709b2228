/**
 * The loongarch64 ArchKit: builds scenes by running workloads on the simulated machine to a moment,
 * applying instrumentation and corruption, and packaging snapshot + ground truth + findings.
 *
 * Ground truth names code by what it is: a frame resuming inside an exception vector (EENTRY + ecode *
 * VECSIZE, where trap_init() copied the handler) resumes in that handler's code, and is listed as the
 * handler at the same offset, the way the kernel's own symbolization (bt_address()) names it.
 */
import { rethookName } from '../tracing';
import { walkContext } from '../context';
import { sceneSlug } from '../slug';
import { exceptionAtEachStep } from '../../scene/sweep';
import { analyseLoongarch64, type Loongarch64Analysis } from '../../analyser/loongarch64';
import { LOONGARCH64_ABI as A } from '../../isa/loongarch64/abi';
import type { StopReason } from '../../isa/loongarch64/interpreter';
import type { ArchKit, Finding, Instrumentation, Scene, SceneSpec, SweepSpec, Workload } from '../../scene/types';
import { makeSnapshot } from '../../snapshot/io';
import type { SnapshotStack } from '../../snapshot/types';
import type { GroundTruth } from '../../truth/shadow';
import { sweepSteps, type Boundary, insnTexts } from '../boundary';
import { checkExceptionFrame, corruptExceptionFrame, corruptTracing, isExceptionFrameCorruption, isTracingCorruption, linkToStaleRegs, redirectTruth, redirectTruthAtDepth, returnTrampolines, type ExceptionFrameLayout } from '../corrupt';
import { corruptRecord, framePointerOf, recordAtDepth } from './frames';
import { buildImage, FTRACE_CALLSITE, MAP, REGS_COPY_OFFSET, TASK_PT_REGS, type Image } from './image';
import { Loongarch64Machine, symbolsOf, vectorHandlerAddress } from './machine';

export const LOONGARCH64_WORKLOADS: readonly Workload[] = [
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
  'lr-in-gpr',
];

const STEP_LIMIT = 100_000;
export const CONTEXT_SWITCH_OMISSIBLE = 'context switch: a blocked task resumes in __switch_to, which a trace may leave out';

/** Feature names of the kretprobe trampoline and its handler, as this (rethook) kernel names them. */
export const canonicalFn = rethookName;

const images = new Map<string, { img: Image; analysis: Loongarch64Analysis }>();

export function imageFor(w: Workload, ins?: Instrumentation): { img: Image; analysis: Loongarch64Analysis } {
  const key = JSON.stringify([w, ins?.fgraph ?? [], ins?.ftraceRegs ?? [], ins?.kretprobe ?? []]);
  let e = images.get(key);
  if (!e) {
    if (ins?.optprobe?.length) throw new Error('loongarch64: optprobes are not modelled');
    const img = buildImage(w, ins);
    e = { img, analysis: analyseLoongarch64(img.prog, img.prog.labels.get('ftrace_caller')) };
    images.set(key, e);
  }
  return e;
}

function run(m: Loongarch64Machine, breakAt = -1, breakStep = -1): StopReason {
  const stop = m.cpu.run(STEP_LIMIT, breakAt, breakStep);
  if (stop === 'limit' || stop === 'undef' || stop === 'fault') throw new Error(`loongarch64 machine stopped (${stop}) at ${m.describe(m.cpu.pc)} running ${m.img.workload}`);
  return stop;
}

const EXC = { irq: 'IRQ', brk: 'kprobe break', 'page-fault': 'kernel page fault' } as const;

interface Reached {
  m: Loongarch64Machine;
  state: 'running' | 'blocked';
  moment: string;
  slug: string;
  excRegs?: number;
}

const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: A.PT_ERA, sp: A.PT_R3, fp: A.PT_R22 };

function reach(spec: SceneSpec, img: Image): Reached {
  const m = new Loongarch64Machine(img);
  const mo = spec.moment;
  if (mo.kind === 'blocked') {
    const stop = run(m);
    if (stop !== 'blocked') throw new Error(`workload ${spec.workload} never blocks on loongarch64 (it ${stop === 'user' ? 'returns to user space' : `stops: ${stop}`})`);
    return { m, state: 'blocked', moment: `blocked in schedule() (saved ra ${m.syms.describe(m.savedContext().ra!)})`, slug: 'blocked' };
  }
  if (mo.kind === 'kretprobe-handler') throw new Error('loongarch64: a walk of current from a rethook return handler is not modelled');
  if (mo.exception === 'nmi' || mo.nested) throw new Error('loongarch64 has no NMI');
  if (mo.exception === 'brk' && mo.walk === 'preempted') throw new Error('a kprobe break is walked from its handler (no preemption on its return)');
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
  if (mo.walk === 'preempted' && m.preemptCount > 0) throw new Error(`preemption is disabled at ${m.describe(where)}: an IRQ there cannot preempt the task`);
  const desc = `${EXC[mo.exception]} before ${m.describe(where)}`;
  // SAVE_ALL builds pt_regs right below the interrupted sp (an exception in the kernel keeps its stack).
  const excRegs = m.cpu.sp - A.PT_REGS_SIZE;
  m.takeException(mo.exception);
  const slugAt = `${m.syms.describe(vectorHandlerAddress(m.syms, where) ?? where)}${at}`;
  if (mo.walk === 'in-handler') {
    m.cfg = { walkAt: mo.exception };
    const stop = run(m);
    if (stop !== 'walk') throw new Error(`handler walk point not reached (${stop})`);
    return { m, state: 'running', moment: `${desc}, walk from the handler`, slug: `${mo.exception}/${slugAt}`, excRegs };
  }
  m.cfg = { preempt: true };
  const stop = run(m);
  if (stop !== 'blocked') throw new Error(`preempted task did not block (${stop})`);
  return { m, state: 'blocked', moment: `${desc}, ${mo.exception === 'page-fault' ? 'the task sleeps in the fault handler' : 'task preempted on IRQ return and blocked'}`, slug: `${mo.exception}-preempt/${slugAt}`, excRegs };
}

const slugOf = (spec: SceneSpec, base: string): string => sceneSlug('loongarch64', spec, base);

/** Frames resuming in a vector copy are the handler's code at the same offset (see the file comment). */
function nameVectorCode(m: Loongarch64Machine, truth: GroundTruth): GroundTruth {
  for (const f of truth.frames) {
    const h = vectorHandlerAddress(m.syms, f.addr);
    if (h === undefined) continue;
    f.addr = h;
    f.fn = m.syms.lookup(h)!.name;
  }
  return truth;
}

export function buildScene(spec: SceneSpec): Scene {
  const { img, analysis } = imageFor(spec.workload, spec.instrument);
  const r = reach(spec, img);
  const m = r.m;
  let regs: Record<string, number>;
  let truth: GroundTruth;
  const stacks: SnapshotStack[] = [{ region: MAP.task.name, type: 'task' }];
  if (r.state === 'blocked') {
    regs = m.savedContext();
    // The task resumes at __switch_to's `jr $ra` (context-switch code, omissible), which returns into
    // __schedule at thread.reg01: __schedule and everything below it are required.
    const top = m.shadow.entries[m.shadow.entries.length - 1];
    if (!top || top.resume !== regs.ra || m.syms.lookup(m.cpu.pc)?.name !== '__switch_to') throw new Error('blocked task: not switched out in __switch_to');
    truth = nameVectorCode(m, m.shadow.truth(m.cpu.pc, CONTEXT_SWITCH_OMISSIBLE));
  } else {
    regs = m.regsRecord();
    truth = nameVectorCode(m, m.shadow.truth(m.cpu.pc));
    // current: this CPU's IRQ stack too.
    stacks.push({ region: MAP.irq.name, type: 'irq' });
  }
  if (spec.corrupt) {
    const targets = { otherRecord: m.otherRecord, unmapped: 0xffc600ff0000 };
    if (isTracingCorruption(spec.corrupt)) redirectTruth(truth, corruptTracing(m.tracing, spec.corrupt, returnTrampolines(m.syms)));
    else if (isExceptionFrameCorruption(spec.corrupt)) {
      const at = checkExceptionFrame(m.mem, r.excRegs, PT_REGS_LAYOUT, truth, spec.corrupt);
      if ((m.mem.read64(at + A.PT_PRMD) & A.PLV_MASK) !== 0) throw new Error(`${spec.corrupt}: the exception frame is not from kernel mode`);
      redirectTruth(truth, corruptExceptionFrame(m.mem, at, PT_REGS_LAYOUT, spec.corrupt, targets));
    } else if (spec.corrupt === 'frame-pointer-to-stale-final') {
      const sym = m.syms.get('regscopy_fn');
      const fp = framePointerOf(m.mem, regs.fp!, (ra) => ra >= sym.start && ra < sym.end);
      const at = fp - REGS_COPY_OFFSET;
      // The copy's "frame pointer" is the address its regs[1] / regs[22] slots would make a record of.
      linkToStaleRegs(m.mem, recordAtDepth(m.mem, regs.fp!, spec.corruptDepth), { from: TASK_PT_REGS, at, size: A.PT_REGS_SIZE, link: at + A.PT_REGS_SIZE });
    } else if (spec.corrupt === 'return-address-to-stale-user-regs') {
      throw new Error('return-address-to-stale-user-regs is an x86_64 corruption');
    } else redirectTruthAtDepth(truth, corruptRecord(m.mem, recordAtDepth(m.mem, regs.fp!, spec.corruptDepth, spec.corrupt), spec.corrupt, targets), spec.corruptDepth, (k) => m.mem.read64(recordAtDepth(m.mem, regs.fp!, k) + 8), { t: m.tracing, trampolines: returnTrampolines(m.syms) });
  }
  const snapshot = makeSnapshot({
    id: slugOf(spec, r.slug),
    arch: 'loongarch64',
    task: { pid: 100, comm: img.code.kthread ? 'kworker/0:1' : 'conformance', kind: img.code.kthread ? 'kthread' : 'user', state: r.state },
    context: walkContext(spec, r.state === 'running', truth, m.syms),
    regs,
    mem: m.mem,
    syms: m.syms,
    stacks,
    ptRegs: TASK_PT_REGS,
    finalFrame: TASK_PT_REGS,
    abi: { ...A, EENTRY: MAP.vectors.base },
    unwind: { loongarchOrc: analysis.orc },
    ...m.tracing.toSnapshot(),
  });
  return { spec, arch: 'loongarch64', snapshot, truth, findings: analysis.findings, moment: r.moment };
}

export function boundaries(w: Workload, ins?: Instrumentation): Boundary[] {
  const { img } = imageFor(w, ins);
  const m = new Loongarch64Machine(img);
  const out: Boundary[] = [];
  for (let k = 0; k < STEP_LIMIT; k++) {
    const pc = m.cpu.pc;
    const fnAt = vectorHandlerAddress(m.syms, pc) ?? pc;
    out.push({ step: m.cpu.steps, pc, fn: m.syms.lookup(fnAt)?.name ?? '?', irqMasked: m.cpu.irqMasked, preemptDisabled: m.preemptCount > 0 });
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
  arch: 'loongarch64',
  workloads: LOONGARCH64_WORKLOADS,
  buildScene,
  sweep,
  analyse,
  instructions,
  exceptions: ['irq', 'brk', 'page-fault'],
  examples: {
    'ftrace call site': { text: FTRACE_CALLSITE.join('\n') },
  },
};
