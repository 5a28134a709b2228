/**
 * The powerpc64 ArchKit: builds scenes by running workloads on the simulated machine to a moment,
 * applying instrumentation and corruption, and packaging snapshot + ground truth. No build-time
 * analyser's findings (src/analyser/powerpc64.ts, a modelling assumption: upstream powerpc has no objtool
 * stack validation).
 */
import { rethookName } from '../tracing';
import { walkContext } from '../context';
import { sceneSlug } from '../slug';
import { boundariesOf, imageCache, kitRuns, reachMoment, type MomentArch } from '../moment';
import { analysePowerpc64, type Powerpc64Analysis } from '../../analyser/powerpc64';
import { POWERPC64_ABI as A } from '../../isa/powerpc64/abi';
import type { ArchKit, Instrumentation, Scene, SceneSpec, Workload } from '../../scene/types';
import { hex, makeSnapshot } from '../../snapshot/io';
import type { SnapshotStack } from '../../snapshot/types';
import type { GroundTruth } from '../../truth/shadow';
import type { Boundary } from '../boundary';
import { checkExceptionFrame, corruptExceptionFrame, corruptTracing, isExceptionFrameCorruption, isTracingCorruption, linkToStaleRegs, recordAtDepth, redirectTruth, redirectTruthAtDepth, returnTrampolines, type ExceptionFrameLayout } from '../corrupt';
import { corruptBackChain, savedLrSlot } from './frames';
import { watchFrame } from '../live-frame';
import { buildImage, FTRACE_CALLSITE, MAP, PPC_CALLER, PPC_FUNCTION, USER_STACK_END, type Image } from './image';
import { Powerpc64Machine, symbolsOf } from './machine';

export const POWERPC64_WORKLOADS: readonly Workload[] = [
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
  'stale-marker-sleep',
  'livepatch-sleep',
];

const STEP_LIMIT = 100_000;
export const CONTEXT_SWITCH_OMISSIBLE = 'context switch: a blocked task resumes in _switch, which a trace may leave out';


/** Feature names of the kretprobe trampoline and its handler, as this (rethook) kernel names them. */
export const canonicalFn = rethookName;

export const imageFor = imageCache('powerpc64 has no optprobes', (w, ins): { img: Image; analysis: Powerpc64Analysis } => {
  const img = buildImage(w, ins);
  return { img, analysis: analysePowerpc64(img.prog) };
});

const EXC = { irq: 'external interrupt', nmi: 'NMI (system reset)', brk: 'kprobe trap', 'page-fault': 'kernel page fault' } as const;

/** pt_regs: nip, gpr[1]; the frame link is the interrupt frame's back chain, below pt_regs. */
const PT_REGS_LAYOUT: ExceptionFrameLayout = { pc: A.NIP, sp: A.GPR1, fp: -A.STACK_INT_FRAME_REGS };

const MOMENTS: MomentArch<Powerpc64Machine> = {
  arch: 'powerpc64',
  limit: STEP_LIMIT,
  exc: EXC,
  canonicalFn,
  blocked: (m) => `blocked in schedule() (thread.ksp ${m.syms.describe(m.returnInto(m.savedContext().r1!))})`,
  // interrupt_common builds its frame below the interrupted r1 and its red zone; system_reset_common at
  // the top of the emergency stack.
  excRegs: (kind, m) => (kind === 'nmi' ? MAP.nmi.base + MAP.nmi.size : m.cpu.sp) - A.STACK_INT_FRAME_SIZE + A.STACK_INT_FRAME_REGS,
};

const slugOf = (spec: SceneSpec, base: string): string => sceneSlug('powerpc64', spec, base);

export function buildScene(spec: SceneSpec): Scene {
  const { img, analysis } = imageFor(spec.workload, spec.instrument);
  const machine = new Powerpc64Machine(img);
  // regscopy_fn's frame (its r1 while its body runs), for the stale copy in its locals.
  const regscopy = spec.corrupt === 'frame-pointer-to-stale-final' ? watchFrame(machine.shadow, machine.syms, 'regscopy_fn', (a) => img.prog.insnAt(a), () => machine.cpu.sp, /^stdu r1, -\d+\(r1\)$/, /^addi r1, r1, \d+$/) : undefined;
  const r = reachMoment(MOMENTS, spec, machine);
  const m = r.m;
  let regs: Record<string, number>;
  let truth: GroundTruth;
  const stacks: SnapshotStack[] = [{ region: MAP.task.name, type: 'task' }];
  if (r.state === 'blocked') {
    regs = m.savedContext();
    // The task resumes in _switch (context-switch code, omissible), which returns into __schedule.
    const top = m.shadow.entries[m.shadow.entries.length - 1];
    if (!top || top.resume !== m.returnInto(regs.r1!) || m.syms.lookup(m.cpu.pc)?.name !== '_switch') throw new Error('blocked task: not switched out in _switch');
    truth = m.shadow.truth(m.cpu.pc, CONTEXT_SWITCH_OMISSIBLE);
  } else {
    regs = m.regsRecord();
    truth = m.shadow.truth(m.cpu.pc);
    // current: this CPU's hardirq, softirq and emergency stacks too.
    stacks.push({ region: MAP.irq.name, type: 'irq' }, { region: MAP.softirq.name, type: 'irq' }, { region: MAP.nmi.name, type: 'nmi' });
  }
  if (spec.corrupt) {
    const targets = { otherRecord: m.otherRecord, unmapped: 0xc00fff000000 };
    if (isTracingCorruption(spec.corrupt)) redirectTruth(truth, corruptTracing(m.tracing, spec.corrupt, returnTrampolines(m.syms)));
    else if (isExceptionFrameCorruption(spec.corrupt)) {
      const at = checkExceptionFrame(m.mem, r.excRegs, PT_REGS_LAYOUT, truth, spec.corrupt);
      if ((m.mem.read64(at + A.MSR) & A.MSR_PR) !== 0) throw new Error(`${spec.corrupt}: the exception frame is not from kernel mode`);
      redirectTruth(truth, corruptExceptionFrame(m.mem, at, PT_REGS_LAYOUT, spec.corrupt, targets));
    } else if (spec.corrupt === 'frame-pointer-to-stale-final') {
      // A copy of the frame at stack_end in regscopy_fn's locals, and a back chain pointing at it: a user
      // task's interrupt frame there (back chain = user r1, "regs" marker, pt_regs), or a kernel thread's
      // initial minimal frame (zero back chain), which copy_thread() leaves at its stack_end.
      // regscopy_fn's own frame: live, it is calling down the chain or was interrupted in its body.
      const frame = regscopy!.frame();
      if (frame === undefined) throw new Error('frame-pointer-to-stale-final: regscopy_fn has no live frame at this moment');
      const at = frame + A.STACK_FRAME_MIN_SIZE;
      linkToStaleRegs(m.mem, recordAtDepth(m.mem, regs.r1!, spec.corruptDepth), { from: m.stackEnd, at, size: img.code.kthread ? A.STACK_FRAME_MIN_SIZE : A.STACK_USER_INT_FRAME_SIZE, link: at });
    } else if (spec.corrupt === 'return-address-to-stale-user-regs') {
      throw new Error(`${spec.corrupt}: x86_64 only (powerpc64 finds interrupt frames by their marker, not through an entry point's return address)`);
    } else redirectTruthAtDepth(truth, corruptBackChain(m.mem, regs.r1!, spec.corruptDepth, spec.corrupt, targets), spec.corruptDepth, (k) => m.mem.read64(savedLrSlot(m.mem, recordAtDepth(m.mem, regs.r1!, k))), { t: m.tracing, trampolines: returnTrampolines(m.syms) });
  }
  // The machine was built for this scene alone: its memory is handed over, not copied.
  const snapshot = makeSnapshot({
    owned: true,
    id: slugOf(spec, r.slug),
    arch: 'powerpc64',
    task: { pid: 100, comm: img.code.kthread ? 'kworker/0:1' : 'conformance', kind: img.code.kthread ? 'kthread' : 'user', state: r.state, livepatchSp: hex(m.livepatchSp) },
    context: walkContext(spec, r.state === 'running', truth, m.syms),
    regs,
    mem: m.mem,
    syms: m.syms,
    stacks,
    ptRegs: USER_STACK_END + A.STACK_INT_FRAME_REGS,
    finalFrame: m.stackEnd,
    abi: { ...A },
    unwind: {},
    ...m.tracing.toSnapshot(),
  });
  return { spec, arch: 'powerpc64', snapshot, truth, findings: analysis.findings, moment: r.moment };
}

export function boundaries(w: Workload, ins?: Instrumentation): Boundary[] {
  return boundariesOf(MOMENTS, new Powerpc64Machine(imageFor(w, ins).img));
}

export const { sweep, analyse, instructions } = kitRuns({ imageFor, symbolsOf, canonicalFn, boundaries, buildScene });

export const kit: ArchKit = {
  arch: 'powerpc64',
  workloads: POWERPC64_WORKLOADS,
  buildScene,
  sweep,
  analyse,
  instructions,
  examples: {
    'function:': { text: PPC_FUNCTION, workload: 'spec-function' },
    'caller:': { text: PPC_CALLER, workload: 'spec-caller' },
    'ftrace call site': { text: FTRACE_CALLSITE.join('\n') },
  },
};
