/**
 * Reaching a scene's moment on a machine that runs a workload to a breakpoint, takes an exception and
 * runs on to a walk point or until the task blocks: the arch-neutral part of a kit's buildScene() (the
 * checks on the moment, the breakpoint by instruction or step, the nested NMI during an exception's
 * handling) and of its sweeps' boundaries; and the kit plumbing around it (image cache, sweep, analyse,
 * instructions). Used by riscv64, loongarch64, s390x and powerpc64.
 */
import type { SymbolTable } from '../machine/symbols';
import { exceptionAtEachStep, MomentPastException } from '../scene/sweep';
import type { ExceptionKind, Finding, Instrumentation, Scene, SceneSpec, SweepSpec, Workload } from '../scene/types';
import type { ShadowStack } from '../truth/shadow';
import { insnTexts, sweepSteps, type Boundary } from './boundary';

export interface MomentMachine {
  readonly cpu: { run(limit?: number, breakAt?: number, breakStep?: number): string; readonly pc: number; readonly sp: number; readonly irqMasked: boolean; readonly steps: number };
  readonly shadow: ShadowStack;
  readonly syms: SymbolTable;
  readonly img: { workload: Workload; prog: { insnAt(addr: number): unknown } };
  cfg: { walkAt?: ExceptionKind; nestedNmi?: boolean; preempt?: boolean };
  preemptCount: number;
  describe(addr: number): string;
  takeException(kind: ExceptionKind): void;
}

export interface MomentArch<M extends MomentMachine> {
  arch: string;
  /** Steps a run may take before the machine is judged stuck. */
  limit: number;
  /** How each exception kind is named in moments ("IRQ", "kprobe trap", ...). */
  exc: Record<ExceptionKind, string>;
  /** What the NMI is called in nested moments and errors, bare and with its article (default "NMI", "an NMI"). */
  nmi?: { name: string; a: string };
  /** The arch has no NMI: moments with one, or nested in an exception, are refused. */
  noNmi?: boolean;
  /** The kprobe trap's name where a preempted or nested one is refused (default exc.brk). */
  brkName?: string;
  /** IRQs cannot be taken at a boundary (default the CPU's IRQ mask; s390x: also in user mode). */
  irqsOff?(m: M): boolean;
  /** The address whose symbol names the code at addr, in slugs and boundaries (default addr itself). */
  codeAt?(m: M, addr: number): number;
  /** A function name as features spell it -> this kernel's. */
  canonicalFn(fn: string): string;
  /** The moment text of a task blocked in schedule(). */
  blocked(m: M): string;
  /** Where the exception about to be taken will put its pt_regs (for exception-frame corruptions). */
  excRegs(kind: ExceptionKind, m: M): number;
  /**
   * Where an NMI nested in an exception's handling puts its pt_regs, when the arch knows (an NMI on its own
   * stack): a nested moment then has an innermost exception frame to corrupt. Without it, none is recorded.
   */
  nmiRegs?(m: M): number;
}

const NMI = { name: 'NMI', a: 'an NMI' };

export interface Reached<M> {
  m: M;
  state: 'running' | 'blocked';
  moment: string;
  slug: string;
  excRegs?: number;
}

/** Run to a stop the moment expects; a stuck or faulting machine is an error. */
export function runTo<M extends MomentMachine>(a: MomentArch<M>, m: M, breakAt = -1, breakStep = -1): string {
  const stop = m.cpu.run(a.limit, breakAt, breakStep);
  if (stop === 'limit' || stop === 'undef' || stop === 'fault') throw new Error(`${a.arch} machine stopped (${stop}) at ${m.describe(m.cpu.pc)} running ${m.img.workload}`);
  return stop;
}

export function reachMoment<M extends MomentMachine>(a: MomentArch<M>, spec: SceneSpec, m: M): Reached<M> {
  const mo = spec.moment;
  if (mo.kind === 'blocked') {
    const stop = runTo(a, m);
    if (stop !== 'blocked') throw new Error(`workload ${spec.workload} never blocks on ${a.arch} (it ${stop === 'user' ? 'returns to user space' : `stops: ${stop}`})`);
    return { m, state: 'blocked', moment: a.blocked(m), slug: 'blocked' };
  }
  if (mo.kind === 'kretprobe-handler') throw new Error(`${a.arch}: a walk of current from a rethook return handler is not modelled`);
  const nmi = a.nmi ?? NMI;
  if (a.noNmi && (mo.exception === 'nmi' || mo.nested)) throw new Error(`${a.arch} has no NMI`);
  if (mo.exception === 'nmi' && mo.walk === 'preempted' && !mo.nested) throw new Error(`${nmi.a} cannot preempt the task (walk: preempted needs an IRQ)`);
  if (mo.exception === 'page-fault' && mo.nested) throw new Error(`a page fault is walked from its handler or blocked in it (no nested ${nmi.name})`);
  if (mo.exception === 'brk' && (mo.walk === 'preempted' || mo.nested)) throw new Error(`a ${a.brkName ?? a.exc.brk} is walked from its handler (no preemption on its return${a.noNmi ? '' : `, no nested ${nmi.name}`})`);
  let where: number;
  let at = '';
  if (mo.kind === 'exception') {
    const sym = m.syms.get(a.canonicalFn(mo.at.fn));
    const addr = sym.start + 4 * mo.at.index;
    if (addr >= sym.end || !m.img.prog.insnAt(addr)) throw new Error(`${mo.at.fn} has no instruction ${mo.at.index}`);
    const want = mo.at.occurrence ?? 1;
    for (let seen = 0; ; ) {
      const stop = runTo(a, m, addr);
      if (stop !== 'break') throw new Error(`${m.syms.describe(addr)} (occurrence ${seen + 1}) is not executed before the task ${stop === 'user' ? 'returns to user' : stop}`);
      if (++seen === want) break;
      const past = m.cpu.run(1);
      if (past !== 'limit') throw new Error(`stepping past ${m.syms.describe(addr)} stopped the machine (${past})`);
    }
    where = addr;
    if (want > 1) at = `#${want}`;
  } else {
    const stop = runTo(a, m, -1, mo.step);
    if (stop !== 'break') throw new Error(`step ${mo.step} is past the end of ${spec.workload} (${stop})`);
    where = m.cpu.pc;
    at = `@step${mo.step}`;
  }
  if (mo.exception === 'irq' && m.cpu.irqMasked) throw new Error(`IRQs are masked at ${m.describe(where)}`);
  if (mo.walk === 'preempted' && !mo.nested && m.preemptCount > 0) throw new Error(`preemption is disabled at ${m.describe(where)}: an IRQ there cannot preempt the task`);
  const desc = `${a.exc[mo.exception]} before ${m.describe(where)}`;
  const excRegs = a.excRegs(mo.exception, m);
  const place = `${m.syms.describe(a.codeAt ? a.codeAt(m, where) : where)}${at}`;
  m.takeException(mo.exception);
  if (mo.nested === 'nmi' && mo.nestedAfter !== undefined) return nmiDuringException(a, m, mo.exception, mo.nestedAfter, desc, place);
  if (mo.nested === 'nmi') {
    m.cfg = { walkAt: 'nmi', nestedNmi: mo.exception === 'irq' };
    const stop = runTo(a, m);
    if (stop !== 'walk') throw new Error(`nested ${nmi.name} walk point not reached (${stop})`);
    return { m, state: 'running', moment: `${desc}, ${nmi.name} nested in the handler, walk from the ${nmi.name} handler`, slug: `${mo.exception}+nmi/${place}`, ...(a.nmiRegs ? { excRegs: a.nmiRegs(m) } : {}) };
  }
  if (mo.walk === 'in-handler') {
    m.cfg = { walkAt: mo.exception };
    const stop = runTo(a, m);
    if (stop !== 'walk') throw new Error(`handler walk point not reached (${stop})`);
    return { m, state: 'running', moment: `${desc}, walk from the handler`, slug: `${mo.exception}/${place}`, excRegs };
  }
  m.cfg = { preempt: true };
  const stop = runTo(a, m);
  if (stop !== 'blocked') throw new Error(`preempted task did not block (${stop})`);
  return { m, state: 'blocked', moment: `${desc}, ${mo.exception === 'page-fault' ? 'the task sleeps in the fault handler' : 'task preempted on IRQ return and blocked'}`, slug: `${mo.exception}-preempt/${place}`, excRegs };
}

/** An NMI before the k-th instruction of the exception's handling, walked from the NMI handler. */
function nmiDuringException<M extends MomentMachine>(a: MomentArch<M>, m: M, exc: string, k: number, desc: string, where: string): Reached<M> {
  const depth = m.shadow.entries.length;
  const entry = m.shadow.entries[depth - 1];
  m.cfg = {};
  if (k > 0) {
    const stop = m.cpu.run(k);
    if (stop !== 'limit' && m.shadow.entries[depth - 1] === entry) throw new Error(`handling the ${exc} stopped (${stop}) before its instruction ${k}`);
  }
  if (m.shadow.entries[depth - 1] !== entry) throw new MomentPastException(`the ${exc} has returned before instruction ${k} of its handling`);
  const nmiAt = m.describe(m.cpu.pc);
  const excRegs = a.nmiRegs?.(m);
  m.takeException('nmi');
  m.cfg = { walkAt: 'nmi' };
  const stop = runTo(a, m);
  const nmi = a.nmi ?? NMI;
  if (stop !== 'walk') throw new Error(`${nmi.name} walk point not reached (${stop})`);
  return { m, state: 'running', moment: `${desc}, ${nmi.name} before ${nmiAt} (instruction ${k} of its handling), walk from the ${nmi.name} handler`, slug: `${exc}+nmi@${k}/${where}`, ...(excRegs !== undefined ? { excRegs } : {}) };
}

/** Every instruction boundary of the workload's run until the task blocks or returns to user space. */
export function boundariesOf<M extends MomentMachine>(a: MomentArch<M>, m: M): Boundary[] {
  const out: Boundary[] = [];
  for (let k = 0; k < a.limit; k++) {
    const pc = m.cpu.pc;
    out.push({ step: m.cpu.steps, pc, fn: m.syms.lookup(a.codeAt ? a.codeAt(m, pc) : pc)?.name ?? '?', irqMasked: a.irqsOff ? a.irqsOff(m) : m.cpu.irqMasked, preemptDisabled: m.preemptCount > 0 });
    const stop = m.cpu.run(1);
    if (stop === 'blocked' || stop === 'user') return out;
    if (stop !== 'limit') throw new Error(`sweep of ${m.img.workload} stopped (${stop}) at ${m.describe(m.cpu.pc)}`);
  }
  throw new Error(`sweep of ${m.img.workload}: no end within ${a.limit} steps`);
}

/** What a kit's sweep(), analyse() and instructions() need from it. */
export interface KitRuns<Img extends { prog: { insnAt(addr: number): { text: string } | undefined } }> {
  imageFor(w: Workload, ins?: Instrumentation): { img: Img; analysis: { findings: Finding[] } };
  symbolsOf(img: Img): SymbolTable;
  canonicalFn(fn: string): string;
  boundaries(w: Workload, ins?: Instrumentation): Boundary[];
  buildScene(spec: SceneSpec): Scene;
}

/** A kit's sweep (an exception at each boundary in the named functions), build-time findings and instruction texts. */
export function kitRuns<Img extends { prog: { insnAt(addr: number): { text: string } | undefined } }>(k: KitRuns<Img>) {
  return {
    sweep(spec: SweepSpec): Iterable<Scene> {
      const s = spec.functions ? { ...spec, functions: spec.functions.map(k.canonicalFn) } : spec;
      return exceptionAtEachStep(spec, sweepSteps(k.boundaries(spec.workload, spec.instrument), s), k.buildScene);
    },
    analyse(w: Workload): Finding[] {
      return k.imageFor(w).analysis.findings;
    },
    instructions(w: Workload, ins: Instrumentation | undefined, fn: string): string[] {
      const { img } = k.imageFor(w, ins);
      return insnTexts(img.prog, k.symbolsOf(img).get(k.canonicalFn(fn)));
    },
  };
}

/** imageFor(w, ins) for one arch: each image (and its analysis) built once per workload and instrumentation. */
export type ImageCache<E> = ((w: Workload, ins?: Instrumentation) => E) & {
  /** Forget the cached images of workloads `drop` selects (generated programs, which a long run never reuses). */
  forget(drop: (w: Workload) => boolean): void;
};

export function imageCache<E>(noOptprobes: string, build: (w: Workload, ins?: Instrumentation) => E): ImageCache<E> {
  const images = new Map<string, { w: Workload; e: E }>();
  const get = (w: Workload, ins?: Instrumentation): E => {
    const key = JSON.stringify([w, ins?.fgraph ?? [], ins?.ftraceRegs ?? [], ins?.kretprobe ?? []]);
    let hit = images.get(key);
    if (!hit) {
      if (ins?.optprobe?.length) throw new Error(noOptprobes);
      hit = { w, e: build(w, ins) };
      images.set(key, hit);
    }
    return hit.e;
  };
  return Object.assign(get, {
    forget(drop: (w: Workload) => boolean): void {
      for (const [k, hit] of images) if (drop(hit.w)) images.delete(k);
    },
  });
}
