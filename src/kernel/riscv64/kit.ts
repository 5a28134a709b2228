/**
 * The riscv64 ArchKit: builds scenes by running workloads on the simulated machine to a moment,
 * applying instrumentation and corruption, and packaging snapshot + ground truth + findings.
 */
import { rethookName } from '../tracing';
import { walkContext } from '../context';
import { sceneSlug } from '../slug';
import { boundariesOf, imageCache, kitRuns, reachMoment, type MomentArch } from '../moment';
import { analyseRiscv64, type Riscv64Analysis } from '../../analyser/riscv64';
import { RISCV64_ABI as A } from '../../isa/riscv64/abi';
import type { ArchKit, Instrumentation, Scene, SceneSpec, Workload } from '../../scene/types';
import { makeSnapshot } from '../../snapshot/io';
import type { SnapshotStack } from '../../snapshot/types';
import type { GroundTruth } from '../../truth/shadow';
import type { Boundary } from '../boundary';
import { checkExceptionFrame, corruptExceptionFrame, corruptTracing, isExceptionFrameCorruption, isTracingCorruption, linkToStaleRegs, redirectTruth, redirectTruthAtDepth, returnTrampolines, type ExceptionFrameLayout } from '../corrupt';
import { corruptRecord, framePointerOf, recordAtDepth } from './frames';
import { buildImage, FTRACE_CALLSITE, MAP, REGS_COPY_OFFSET, RISCV_CALLER, RISCV_FUNCTION, TASK_PT_REGS, type Image } from './image';
import { Riscv64Machine, symbolsOf } from './machine';

export const RISCV64_WORKLOADS: readonly Workload[] = [
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
export const CONTEXT_SWITCH_OMISSIBLE = 'context switch: a blocked task resumes in __switch_to, which a trace may leave out';

/** Feature names of the kretprobe trampoline and its handler, as this (rethook) kernel names them. */
export const canonicalFn = rethookName;

export const imageFor = imageCache('riscv64 has no optprobes', (w, ins): { img: Image; analysis: Riscv64Analysis } => {
  const img = buildImage(w, ins);
  return { img, analysis: analyseRiscv64(img.prog) };
});

const EXC = { irq: 'IRQ', nmi: 'NMI (SBI SSE)', brk: 'kprobe ebreak', 'page-fault': 'kernel page fault' } as const;

/** pt_regs: s0, sp, epc. */
const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: A.PT_EPC, sp: A.PT_SP, fp: A.PT_S0 };

const MOMENTS: MomentArch<Riscv64Machine> = {
  arch: 'riscv64',
  limit: STEP_LIMIT,
  exc: EXC,
  canonicalFn,
  blocked: (m) => `blocked in schedule() (saved ra ${m.syms.describe(m.savedContext().ra!)})`,
  // handle_exception builds pt_regs below the interrupted sp (a kernel trap keeps its stack); handle_sse
  // at the top of the SSE stack.
  excRegs: (kind, m) => (kind === 'nmi' ? MAP.sse.base + MAP.sse.size - A.PT_REGS_SIZE : m.cpu.sp - A.PT_REGS_SIZE),
};

const slugOf = (spec: SceneSpec, base: string): string => sceneSlug('riscv64', spec, base);

export function buildScene(spec: SceneSpec): Scene {
  const { img, analysis } = imageFor(spec.workload, spec.instrument);
  const r = reachMoment(MOMENTS, spec, new Riscv64Machine(img));
  const m = r.m;
  let regs: Record<string, number>;
  let truth: GroundTruth;
  const stacks: SnapshotStack[] = [{ region: MAP.task.name, type: 'task' }];
  if (r.state === 'blocked') {
    regs = m.savedContext();
    // The task resumes at __switch_to's ret (context-switch code, omissible), which returns into
    // __schedule at thread.ra: __schedule and everything below it are required.
    const top = m.shadow.entries[m.shadow.entries.length - 1];
    if (!top || top.resume !== regs.ra || m.syms.lookup(m.cpu.pc)?.name !== '__switch_to') throw new Error('blocked task: not switched out in __switch_to');
    truth = m.shadow.truth(m.cpu.pc, CONTEXT_SWITCH_OMISSIBLE);
  } else {
    regs = m.regsRecord();
    truth = m.shadow.truth(m.cpu.pc);
    // current: this CPU's IRQ, overflow and SSE stacks too.
    stacks.push({ region: MAP.irq.name, type: 'irq' }, { region: MAP.overflow.name, type: 'overflow' }, { region: MAP.sse.name, type: 'nmi' });
  }
  if (spec.corrupt) {
    const targets = { otherRecord: m.otherRecord, unmapped: 0xffc600ff0000 };
    if (isTracingCorruption(spec.corrupt)) redirectTruth(truth, corruptTracing(m.tracing, spec.corrupt, returnTrampolines(m.syms)));
    else if (isExceptionFrameCorruption(spec.corrupt)) {
      const at = checkExceptionFrame(m.mem, r.excRegs, PT_REGS_LAYOUT, truth, spec.corrupt);
      if ((m.mem.read64(at + A.PT_STATUS) & A.SR_SPP) === 0) throw new Error(`${spec.corrupt}: the exception frame is not from S-mode`);
      redirectTruth(truth, corruptExceptionFrame(m.mem, at, PT_REGS_LAYOUT, spec.corrupt, targets));
    } else if (spec.corrupt === 'frame-pointer-to-stale-final') {
      const sym = m.syms.get('regscopy_fn');
      const fp = framePointerOf(m.mem, regs.s0!, (ra) => ra >= sym.start && ra < sym.end);
      const at = fp - REGS_COPY_OFFSET;
      linkToStaleRegs(m.mem, recordAtDepth(m.mem, regs.s0!, spec.corruptDepth), { from: TASK_PT_REGS, at, size: A.PT_REGS_SIZE, link: at + A.S_STACKFRAME + A.FRAME_RECORD_OFFSET });
    } else if (spec.corrupt === 'return-address-to-stale-user-regs') {
      throw new Error(`${spec.corrupt}: x86_64 only (riscv64 finds pt_regs through frame records, not through an entry point's return address)`);
    } else redirectTruthAtDepth(truth, corruptRecord(m.mem, recordAtDepth(m.mem, regs.s0!, spec.corruptDepth, spec.corrupt), spec.corrupt, targets), spec.corruptDepth, (k) => m.mem.read64(recordAtDepth(m.mem, regs.s0!, k) + 8), { t: m.tracing, trampolines: returnTrampolines(m.syms) });
  }
  // The machine was built for this scene alone: its memory is handed over, not copied.
  const snapshot = makeSnapshot({
    owned: true,
    id: slugOf(spec, r.slug),
    arch: 'riscv64',
    task: { pid: 100, comm: img.code.kthread ? 'kworker/0:1' : 'conformance', kind: img.code.kthread ? 'kthread' : 'user', state: r.state },
    context: walkContext(spec, r.state === 'running', truth, m.syms),
    regs,
    mem: m.mem,
    syms: m.syms,
    stacks,
    ptRegs: TASK_PT_REGS,
    finalFrame: TASK_PT_REGS + A.S_STACKFRAME,
    abi: { ...A },
    unwind: {},
    ...m.tracing.toSnapshot(),
  });
  return { spec, arch: 'riscv64', snapshot, truth, findings: analysis.findings, moment: r.moment };
}

export function boundaries(w: Workload, ins?: Instrumentation): Boundary[] {
  return boundariesOf(MOMENTS, new Riscv64Machine(imageFor(w, ins).img));
}

export const { sweep, analyse, instructions } = kitRuns({ imageFor, symbolsOf, canonicalFn, boundaries, buildScene });

export const kit: ArchKit = {
  arch: 'riscv64',
  workloads: RISCV64_WORKLOADS,
  buildScene,
  sweep,
  analyse,
  instructions,
  examples: {
    'function:': { text: RISCV_FUNCTION, workload: 'spec-function' },
    'caller:': { text: RISCV_CALLER, workload: 'spec-caller' },
    'ftrace call site': { text: FTRACE_CALLSITE.join('\n') },
  },
};
