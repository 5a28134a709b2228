/**
 * Hand-laid arm64 scenes for the protocol tests, generated from a seed: a chain of frame records
 * on the task stack ending at the FINAL record of task_pt_regs, optionally an exception boundary
 * (pt_regs + PT_REGS meta record) with handler frames below or on the IRQ stack, fgraph and
 * kretprobe return redirection, and corruption of stack words. The truth is the chain the
 * generator laid out (functions the task returns to), never an unwinder's answer.
 * Used until (and beside) the arch kits' scenes.
 */
import { ARM64_ABI as A } from '../src/isa/arm64/abi';
import { Memory } from '../src/machine/memory';
import { SymbolTable, type KSymbol } from '../src/machine/symbols';
import { hex, makeSnapshot } from '../src/snapshot/io';
import type { Snapshot } from '../src/snapshot/types';
import type { GroundTruth, TruthFrame } from '../src/truth/shadow';

const TEXT = 0x800080010000;
const MOD = 0x800080040000;
const BPF = 0x800080050000;
const EFI = 0x800080060000;
const STACK = 0x800080100000;
const IRQ = 0x800080200000;
const OTHER = 0x800080300000;
const SZ = A.THREAD_SIZE;
const FN = 0x40;

const FUNCS = ['sys_work', 'work_a', 'work_b', 'work_c', 'do_nanosleep', 'schedule', '__schedule', 'kthread_fn', 'helper_x', 'helper_y', 'nonstd_fn'];
const syms: KSymbol[] = [];
const add = (name: string, base: number, i: number, kind: KSymbol['kind'], region: string, extra: Partial<KSymbol> = {}) =>
  syms.push({ name, start: base + FN * i, end: base + FN * (i + 1), kind, region, ...extra });
add('el0_sync', TEXT, 0, 'code', 'ktext', { entry: true });
add('el1_irq', TEXT, 1, 'code', 'ktext');
add('irq_handler', TEXT, 2, 'func', 'ktext');
add('handle_irq', TEXT, 3, 'func', 'ktext');
add('return_to_handler', TEXT, 4, 'return-trampoline', 'ktext');
add('__kretprobe_trampoline', TEXT, 5, 'return-trampoline', 'ktext');
FUNCS.forEach((f, i) => add(f, TEXT, 6 + i, 'func', 'ktext', f === 'nonstd_fn' ? { nonStandard: true } : {}));
add('mod_fn', MOD, 0, 'func', 'mtext', { module: 'testmod' });
add('bpf_prog_1', BPF, 0, 'bpf', 'bpf');
add('efi_get_time', EFI, 0, 'foreign', 'efi');
export const SYMBOLS = new SymbolTable(syms);
const at = (fn: string, off = 0) => SYMBOLS.get(fn).start + off;
const CALLABLE = [...FUNCS, 'mod_fn', 'bpf_prog_1'];

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticScene {
  name: string;
  snapshot: Snapshot;
  truth: GroundTruth;
  /** What was laid out: 'irq' scenes have an exception boundary; `corrupt` names what was broken. */
  kind: {
    irq?: 'in-handler' | 'preempted';
    lr?: 'live' | 'stale' | 'clobbered';
    fgraph: number;
    kretprobe: number;
    corrupt?: string;
    state: 'running' | 'blocked';
    /** A live function is marked STACK_FRAME_NON_STANDARD. */
    nonStandard?: boolean;
  };
}

export interface SceneOptions {
  irq?: 'in-handler' | 'preempted' | 'none' | 'random';
  corrupt?: boolean | 'random';
  instrument?: boolean | 'random';
}

/** One scene from `seed`. */
export function syntheticScene(seed: number, o: SceneOptions = {}): SyntheticScene {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;

  const mem = new Memory();
  mem.map({ name: 'ktext', kind: 'kernel-text', base: TEXT, size: 0x1000 });
  mem.map({ name: 'mtext', kind: 'module-text', base: MOD, size: 0x1000 });
  mem.map({ name: 'bpf', kind: 'bpf-jit', base: BPF, size: 0x1000 });
  mem.map({ name: 'efi', kind: 'foreign-text', base: EFI, size: 0x1000 });
  mem.map({ name: 'stack-1', kind: 'task-stack', base: STACK, size: SZ, owner: '1' });
  mem.map({ name: 'irq-0', kind: 'irq-stack', base: IRQ, size: A.IRQ_STACK_SIZE, owner: '0' });
  mem.map({ name: 'stack-2', kind: 'task-stack', base: OTHER, size: SZ, owner: '2' });
  const w = (a: number, v: number) => mem.write64(a, v);
  const ptRegs = STACK + SZ - A.PT_REGS_SIZE;
  const finalFrame = ptRegs + A.S_STACKFRAME;
  w(finalFrame + 16, A.FRAME_META_TYPE_FINAL);
  w(ptRegs + A.S_PSTATE, A.PSR_MODE_EL0t);

  // The task's chain, outermost first: el0_sync calls fns[0], which calls fns[1], ...
  const depth = 1 + Math.floor(r() * 6);
  const fns = Array.from({ length: depth }, () => pick(CALLABLE));
  const callOff = () => 0x10 + 4 * Math.floor(r() * 8); // a return address inside the caller's body
  let sp = ptRegs;
  const recs: number[] = []; // recs[k] = frame record of fns[k]
  const rets: number[] = []; // rets[k] = return address stored in recs[k]
  let prevFp = finalFrame;
  let caller = 'el0_sync';
  for (let k = 0; k < depth; k++) {
    sp -= 0x10 * (2 + Math.floor(r() * 4));
    const ret = at(caller, k === 0 ? 0x20 : callOff());
    w(sp, prevFp);
    w(sp + 8, ret);
    recs.push(sp);
    rets.push(ret);
    prevFp = sp;
    caller = fns[k]!;
  }
  const inner = fns[depth - 1]!;
  const truthFrames: TruthFrame[] = [];
  for (let k = depth - 1; k >= 0; k--) truthFrames.push({ fn: k === 0 ? 'el0_sync' : fns[k - 1]!, addr: rets[k]!, why: 'call' });

  const kind: SyntheticScene['kind'] = { fgraph: 0, kretprobe: 0, state: 'blocked', ...(fns.includes('nonstd_fn') ? { nonStandard: true } : {}) };
  let regs: Record<string, number>;
  let stacks: Snapshot['stacks'] = [{ region: 'stack-1', type: 'task' }];
  const irqMode = o.irq === 'random' || o.irq === undefined ? pick(['none', 'none', 'in-handler', 'preempted'] as const) : o.irq;
  const innerPc = at(inner, 0x18 + 4 * Math.floor(r() * 6));

  if (irqMode === 'none') {
    kind.state = chance(0.5) ? 'blocked' : 'running';
    regs = { pc: innerPc, x29: recs[depth - 1]!, sp: sp - 0x20, x30: innerPc };
    truthFrames.unshift({ fn: inner, addr: innerPc, why: 'pc' });
  } else {
    // An exception taken in `inner`: pt_regs below its frame, handler frames below that.
    kind.irq = irqMode;
    const lrKind = pick(['live', 'stale', 'clobbered'] as const);
    kind.lr = lrKind;
    // live: at entry, before the frame record is made (x29 is still the caller's, LR the return address);
    // stale: in the body after a call (LR points into `inner` itself); clobbered: LR holds garbage text.
    const pc = lrKind === 'live' ? at(inner, 0) : innerPc;
    const fp = lrKind === 'live' ? (depth > 1 ? recs[depth - 2]! : finalFrame) : recs[depth - 1]!;
    const lr = lrKind === 'live' ? rets[depth - 1]! : lrKind === 'stale' ? at(inner, 0x14) : at('helper_y', 0x8);
    sp -= A.PT_REGS_SIZE + 0x20;
    const regsAt = sp;
    w(regsAt + A.S_PC, pc);
    w(regsAt + A.S_LR, lr);
    w(regsAt + A.S_FP, fp);
    w(regsAt + A.S_SP, regsAt + A.PT_REGS_SIZE);
    w(regsAt + A.S_PSTATE, A.PSR_MODE_EL1h);
    w(regsAt + A.S_STACKFRAME + 16, A.FRAME_META_TYPE_PT_REGS);
    // With a live LR the interrupted function has made no record yet; it is live all the same.
    truthFrames.unshift({ fn: inner, addr: pc, why: 'exception' });
    // el1_irq's frame links to the meta record; then the handlers.
    const onIrq = irqMode === 'in-handler' && chance(0.7);
    if (onIrq) stacks = [{ region: 'irq-0', type: 'irq' }, ...stacks];
    let hsp = onIrq ? IRQ + A.IRQ_STACK_SIZE : regsAt;
    const hchain = irqMode === 'in-handler' ? ['el1_irq', 'handle_irq', 'irq_handler'] : ['el1_irq', 'schedule', '__schedule'];
    let link = regsAt + A.S_STACKFRAME;
    const hrecs: number[] = [];
    for (let k = 0; k < hchain.length - 1; k++) {
      hsp -= 0x30;
      const ret = at(hchain[k]!, k === 0 ? 0x20 : 0x14);
      w(hsp, link);
      w(hsp + 8, ret);
      truthFrames.unshift({ fn: hchain[k]!, addr: ret, why: 'call' });
      link = hsp;
      hrecs.push(hsp);
    }
    const hpc = at(hchain[hchain.length - 1]!, 0x1c);
    truthFrames.unshift({ fn: hchain[hchain.length - 1]!, addr: hpc, why: 'pc' });
    kind.state = irqMode === 'in-handler' ? 'running' : 'blocked';
    regs = { pc: hpc, x29: link, sp: hsp - 0x20, x30: hpc };
    sp = Math.min(sp, hsp);
  }

  // Return-address rewriting: fgraph (return_to_handler) and kretprobes, keyed by the caller's fp.
  const fgraph: { ret: number; func: number; retp: number }[] = [];
  const krp: { ret: number; func: number; retp: number }[] = [];
  const instrument = o.instrument === 'random' || o.instrument === undefined ? chance(0.5) : o.instrument;
  let fgraphOn = false;
  if (instrument) {
    fgraphOn = chance(0.8);
    for (let k = 0; k < depth; k++) {
      if (k === depth - 1 && kind.lr === 'live') continue; // its record does not exist yet
      const roll = r();
      const key = k === 0 ? finalFrame : recs[k - 1]!;
      if (fgraphOn && roll < 0.4) {
        fgraph.push({ ret: rets[k]!, func: at(fns[k]!), retp: key });
        w(recs[k]! + 8, at('return_to_handler'));
      } else if (roll > 0.7) {
        krp.unshift({ ret: rets[k]!, func: at(fns[k]!), retp: key });
        w(recs[k]! + 8, at('__kretprobe_trampoline'));
      }
    }
    kind.fgraph = fgraph.length;
    kind.kretprobe = krp.length;
  }

  // Corruption of the stack or of the tracing state.
  const corrupt = o.corrupt === 'random' || o.corrupt === undefined ? chance(0.5) : o.corrupt;
  if (corrupt) {
    const allRecs = [...recs];
    const victim = pick(allRecs);
    const what = pick([
      'fp-zero', 'fp-misaligned', 'fp-unmapped', 'fp-other-task', 'fp-downward', 'fp-cycle', 'fp-irq-stack', 'fp-text',
      'lr-garbage', 'lr-foreign', 'lr-bpf', 'lr-module', 'lr-zero', 'lr-rth-without-entry', 'lr-kretprobe-without-instance',
      'record-zeroed', 'meta-type-garbage', 'final-type-pt-regs', 'retstack-wrong-key', 'random-word', 'pc-foreign', 'x29-unmapped',
    ] as const);
    kind.corrupt = what;
    switch (what) {
      case 'fp-zero': w(victim, 0); break;
      case 'fp-misaligned': w(victim, mem.read64(victim) + 4); break;
      case 'fp-unmapped': w(victim, 0x800080900000); break;
      case 'fp-other-task': w(victim, OTHER + 0x1000); w(OTHER + 0x1000, finalFrame); w(OTHER + 0x1008, at('el0_sync', 0x20)); break;
      case 'fp-downward': w(victim, victim - 0x40); w(victim - 0x40, finalFrame); w(victim - 0x38, at('work_a', 0x10)); break;
      case 'fp-cycle': w(victim, recs[depth - 1]!); break;
      case 'fp-irq-stack': w(victim, IRQ + 0x100); w(IRQ + 0x100, finalFrame); w(IRQ + 0x108, at('work_b', 0x10)); break;
      case 'fp-text': w(victim, TEXT + 0x100); break;
      case 'lr-garbage': w(victim + 8, 0xdeadbeef); break;
      case 'lr-foreign': w(victim + 8, at('efi_get_time', 0x10)); break;
      case 'lr-bpf': w(victim + 8, at('bpf_prog_1', 0x10)); break;
      case 'lr-module': w(victim + 8, at('mod_fn', 0x10)); break;
      case 'lr-zero': w(victim + 8, 0); break;
      case 'lr-rth-without-entry': w(victim + 8, at('return_to_handler')); break;
      case 'lr-kretprobe-without-instance': w(victim + 8, at('__kretprobe_trampoline')); break;
      case 'record-zeroed': w(victim, 0); w(victim + 8, 0); w(victim + 16, pick([0, 1, 2, 7])); break;
      case 'meta-type-garbage': w(finalFrame + 16, 9); break;
      case 'final-type-pt-regs': w(finalFrame + 16, A.FRAME_META_TYPE_PT_REGS); break;
      case 'retstack-wrong-key': if (fgraph.length) fgraph[0]!.retp += 0x10; else w(victim + 8, at('return_to_handler')); break;
      case 'random-word': {
        const lo = Math.min(sp, ...allRecs) & ~7;
        const a = lo + 8 * Math.floor(r() * ((STACK + SZ - lo) / 8));
        w(a, pick([0, 1, 0x800080100008, at('work_a', 4), finalFrame, ptRegs, STACK + SZ - 8, 0x7fffffff0000]));
        break;
      }
      case 'pc-foreign': regs.pc = at('efi_get_time', 0x8); break;
      case 'x29-unmapped': regs.x29 = 0x1000; break;
    }
  }

  const snapshot = makeSnapshot({
    id: `synthetic/arm64/${seed}`,
    arch: 'arm64',
    task: { pid: 1, comm: 'synthetic', kind: 'user', state: kind.state },
    regs,
    mem,
    syms: SYMBOLS,
    stacks,
    ptRegs,
    finalFrame,
    abi: { ...A },
    unwind: {},
    fgraph: fgraphOn || fgraph.length ? { stack: fgraph.map((e) => ({ ret: hex(e.ret), func: hex(e.func), retp: hex(e.retp) })) } : null,
    kretprobes: krp.map((e) => ({ ret: hex(e.ret), func: hex(e.func), retp: hex(e.retp) })),
  });
  return { name: `synthetic #${seed} ${JSON.stringify(kind)}`, snapshot, truth: { frames: truthFrames }, kind };
}

export function syntheticScenes(n: number, seed0 = 1, o: SceneOptions = {}): SyntheticScene[] {
  return Array.from({ length: n }, (_, i) => syntheticScene(seed0 + i, o));
}
