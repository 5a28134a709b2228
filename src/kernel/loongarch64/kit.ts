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
import { boundariesOf, imageCache, kitRuns, reachMoment, type MomentArch } from '../moment';
import { analyseLoongarch64, type Loongarch64Analysis } from '../../analyser/loongarch64';
import { LOONGARCH64_ABI as A } from '../../isa/loongarch64/abi';
import type { ArchKit, Instrumentation, Scene, SceneSpec, Workload } from '../../scene/types';
import { makeSnapshot } from '../../snapshot/io';
import type { SnapshotStack } from '../../snapshot/types';
import type { GroundTruth } from '../../truth/shadow';
import type { Boundary } from '../boundary';
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

export const imageFor = imageCache('loongarch64: optprobes are not modelled', (w, ins): { img: Image; analysis: Loongarch64Analysis } => {
  const img = buildImage(w, ins);
  return { img, analysis: analyseLoongarch64(img.prog, img.prog.labels.get('ftrace_caller')) };
});

const EXC = { irq: 'IRQ', brk: 'kprobe break', 'page-fault': 'kernel page fault' } as const;

const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: A.PT_ERA, sp: A.PT_R3, fp: A.PT_R22 };

const MOMENTS: MomentArch<Loongarch64Machine> = {
  arch: 'loongarch64',
  limit: STEP_LIMIT,
  // No NMI: moments with one are refused before it is named.
  exc: { ...EXC, nmi: 'NMI' },
  noNmi: true,
  canonicalFn,
  blocked: (m) => `blocked in schedule() (saved ra ${m.syms.describe(m.savedContext().ra!)})`,
  // SAVE_ALL builds pt_regs right below the interrupted sp (an exception in the kernel keeps its stack).
  excRegs: (_kind, m) => m.cpu.sp - A.PT_REGS_SIZE,
  // Code in a vector copy is named as its handler's (see the file comment).
  codeAt: (m, addr) => vectorHandlerAddress(m.syms, addr) ?? addr,
};

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
  const r = reachMoment(MOMENTS, spec, new Loongarch64Machine(img));
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
  // The machine was built for this scene alone: its memory is handed over, not copied.
  const snapshot = makeSnapshot({
    owned: true,
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
  return boundariesOf(MOMENTS, new Loongarch64Machine(imageFor(w, ins).img));
}

export const { sweep, analyse, instructions } = kitRuns({ imageFor, symbolsOf, canonicalFn, boundaries, buildScene });

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
