/**
 * The s390x ArchKit: builds scenes by running workloads on the simulated machine to a moment,
 * applying instrumentation and corruption, and packaging snapshot + ground truth + findings.
 */
import { rethookName } from '../tracing';
import { walkContext } from '../context';
import { sceneSlug } from '../slug';
import { boundariesOf, imageCache, kitRuns, reachMoment, type MomentArch } from '../moment';
import { analyseS390x, type S390xAnalysis } from '../../analyser/s390x';
import { S390X_ABI as A, userMode } from '../../isa/s390x/abi';
import type { ArchKit, Instrumentation, Scene, SceneSpec, Workload } from '../../scene/types';
import { makeSnapshot } from '../../snapshot/io';
import type { SnapshotStack } from '../../snapshot/types';
import type { GroundTruth } from '../../truth/shadow';
import type { Boundary } from '../boundary';
import { checkExceptionFrame, corruptExceptionFrame, corruptTracing, isExceptionFrameCorruption, isTracingCorruption, linkToStaleRegs, redirectTruth, redirectTruthAtDepth, returnTrampolines, type ExceptionFrameLayout } from '../corrupt';
import { corruptFrame, frameAtDepth, savedR14 } from './frames';
import { watchFrame } from '../live-frame';
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

export const imageFor = imageCache('s390x has no optprobes', (w, ins): { img: Image; analysis: S390xAnalysis } => {
  const img = buildImage(w, ins);
  return { img, analysis: analyseS390x(img.prog) };
});

const EXC = { irq: 'external interrupt', nmi: 'machine check', brk: 'kprobe breakpoint (program check)', 'page-fault': 'kernel page fault (program check)' } as const;

/** pt_regs: psw.addr, r15, and r11 (the s390 frame pointer register when one is used). */
const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: A.PT_PSW_ADDR, sp: A.PT_R15, fp: A.PT_GPRS + 8 * 11 };

const MOMENTS: MomentArch<S390xMachine> = {
  arch: 's390x',
  limit: STEP_LIMIT,
  exc: EXC,
  nmi: { name: 'machine check', a: 'a machine check' },
  brkName: 'kprobe breakpoint',
  canonicalFn,
  blocked: (m) => `blocked in schedule() (saved r14 ${m.syms.describe(m.savedContext().r14!)})`,
  // Kernel-mode interruptions push a frame and pt_regs below the interrupted %r15; a machine check uses the mcck stack.
  excRegs: (kind, m) => (kind === 'nmi' ? initSp(MAP.mcck) + A.STACK_FRAME_OVERHEAD : m.cpu.sp - A.PT_REGS_SIZE),
  irqsOff: (m) => m.cpu.irqMasked || m.cpu.user,
};

const slugOf = (spec: SceneSpec, base: string): string => sceneSlug('s390x', spec, base);

export function buildScene(spec: SceneSpec): Scene {
  const { img, analysis } = imageFor(spec.workload, spec.instrument);
  const machine = new S390xMachine(img);
  // regscopy_fn's frame (its %r15 while its body runs), for the stale copy in its locals.
  const regscopy = spec.corrupt === 'frame-pointer-to-stale-final' ? watchFrame(machine.shadow, machine.syms, 'regscopy_fn', (a) => img.prog.insnAt(a), () => machine.cpu.sp, /^stg %r1,152\(%r15\)$/, /^lmg %r6,%r15,/) : undefined;
  const r = reachMoment(MOMENTS, spec, machine);
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
      // regscopy_fn's own frame (live: it is calling down the chain, or was interrupted in its body); its locals lie above the save area.
      const own = regscopy!.frame();
      if (own === undefined) throw new Error('frame-pointer-to-stale-final: regscopy_fn has no live frame at this moment');
      const at = own + A.STACK_FRAME_OVERHEAD;
      const top = initSp(MAP.task);
      const sp = frameAtDepth(m.mem, regs.r15!, spec.corruptDepth);
      linkToStaleRegs(m.mem, sp + A.SF_BACKCHAIN, { from: top, at, size: A.STACK_FRAME_OVERHEAD + A.PT_REGS_SIZE, link: at });
    } else if (spec.corrupt === 'return-address-to-stale-user-regs') {
      throw new Error(`${spec.corrupt}: x86_64 only (s390x finds pt_regs through a zero back chain, not through an entry point's return address)`);
    } else redirectTruthAtDepth(truth, corruptFrame(m.mem, frameAtDepth(m.mem, regs.r15!, spec.corruptDepth, spec.corrupt), spec.corrupt, targets), spec.corruptDepth, (k) => savedR14(m.mem, frameAtDepth(m.mem, regs.r15!, k)), { t: m.tracing, trampolines: returnTrampolines(m.syms) });
  }
  // The machine was built for this scene alone: its memory is handed over, not copied.
  const snapshot = makeSnapshot({
    owned: true,
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
  return boundariesOf(MOMENTS, new S390xMachine(imageFor(w, ins).img));
}

export const { sweep, analyse, instructions } = kitRuns({ imageFor, symbolsOf, canonicalFn, boundaries, buildScene });

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
