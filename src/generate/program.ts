/**
 * Generated programs (issue 13): random call graphs of kernel-like C functions, arch-neutral. Each arch
 * emits one as assembly with its own helpers (src/generate/emit.ts) and runs it as the workload
 * `generated:<id>` (src/generate/registry.ts).
 *
 * Shape: the entry `gen_sys` (a syscall handler, or the thread function of a kernel thread) starts a
 * spine of functions ending in a call to schedule(), so the task blocks at the spine's last function
 * (the leaf of the chain), or in a noreturn function the leaf calls last. Spine functions may tail-call
 * the next one (a jump after tearing down their frame: they are gone from the stack), sit in module text
 * (reached back into the kernel through a PLT / veneer), in BPF JIT code, or in foreign (EFI runtime)
 * code, and may keep a shrink-wrapped prologue (instructions before the frame is set up and after it is
 * torn down). Along the way any function may call helpers that return before the chain goes deeper:
 * helpers with and without frames (frameless ones call nothing; on arm64 some keep their return address
 * in another register), of random body lengths, themselves calling or tail-calling helpers. fgraph and
 * kretprobes go on random functions.
 */
import { Prng, subSeed } from './prng';
import type { Arch } from '../snapshot/types';

export type Step =
  /** BODY n: n ordinary instructions (clobbering caller-saved registers). */
  | { op: 'body'; n: number }
  /** A call that returns (BL / call). `schedule` is the kernel's. */
  | { op: 'call'; fn: string }
  /**
   * Recursion: the function calls itself `times` times (a depth counter in kernel data, slot `slot`,
   * counts its entries), then its deepest instance calls `next`. The task's stack then holds it times+1 times.
   */
  | { op: 'recurse'; times: number; slot: number; next: string }
  /** A call that never returns (the callee is `noreturn`): the function's last instruction, no epilogue follows. */
  | { op: 'noreturn'; fn: string };

/** Where a function's code sits: kernel text (default), module text, BPF JIT code, foreign (EFI runtime) code. */
export type Placement = 'kernel' | 'module' | 'bpf' | 'efi';

export interface GenFunction {
  name: string;
  /** Whether it builds a frame record (prologue/epilogue). Frameless functions call nothing. */
  frame: boolean;
  steps: Step[];
  /** Ends by tearing down its frame and jumping to this function (a tail call), not by returning. */
  tail?: string;
  /** Shrink-wrapped: this many instructions run before the prologue, and `post` after the epilogue. */
  pre?: number;
  post?: number;
  /**
   * A frameless leaf that moves its return address to another register and uses the link register as a
   * scratch register holding a text address (spec 3.3): arm64 X9 / X30 (RET X9), riscv64 t2 / ra (jr t2),
   * loongarch64 $t2 / $ra (jr $t2), s390x %r5 / %r14, powerpc64 r11 / LR (src/generate/emit-*.ts). The arm64
   * analyser flags it (return with modified stack frame): the program says so in `expectFindings`; the other
   * arches' analysers do not (a leaf makes no call: the frame-pointer protocol holds; loongarch64's ORC
   * entries there are undefined). On x86_64, where the return address is on the stack, it is an ordinary
   * frameless leaf.
   */
  lrReg?: boolean;
  /** Where the code sits (default kernel text). Module, BPF and EFI functions are spine functions. */
  placement?: Placement;
  /** Never returns: blocks in schedule() in a loop. */
  noreturn?: boolean;
}

/** An analyser finding the generator means to provoke: the program is deliberately not analysable there. */
export interface ExpectedFinding {
  arch: Arch;
  fn: string;
  why: string;
}

export interface GenProgram {
  /** `<seed>-<n>` for generated programs; shrunk variants add a suffix. */
  id: string;
  seed: number;
  /** The syscall handler (first function). */
  entry: string;
  functions: GenFunction[];
  instrument: { fgraph: string[]; kretprobe: string[] };
  /** A kernel thread (ret_from_fork -> kthread -> gen_sys) rather than a syscall of a user task. */
  kthread?: boolean;
  /**
   * Whether every arch's analyser is meant to accept all the generated code: false when the generator put
   * in a construct some arch's analyser flags on purpose, listed in `expectFindings` by arch (the tests check
   * each analyser reports exactly those functions). For one arch, see analysableOn().
   */
  analysable: boolean;
  expectFindings: ExpectedFinding[];
}

export interface GenOptions {
  /** Longest spine (functions from gen_sys to the one calling schedule), at least 1. */
  maxDepth: number;
  /** Most helpers in one program. */
  maxHelpers: number;
  /** Longest BODY run. */
  maxBody: number;
  pTail: number;
  /** Chance that a spine function recurses (1-3 times) before calling the next one. */
  pRecurse: number;
  pFrameless: number;
  pHelperCall: number;
  /** Per function: chance of an fgraph / kretprobe on it. */
  pFgraph: number;
  pKretprobe: number;
  /**
   * Allow a kretprobe on a function reached by tail calls from an fgraph-traced one (both rewrite the one
   * return slot, kretprobe outermost). An unwinder that recovers as the kernel does (ftrace_graph_ret_addr,
   * then kretprobe_find_ret_addr, once each) reports return_to_handler in place of the real caller: found
   * by this generator (docs/generate.md); the reference unwinders recover the fgraph address behind the
   * kretprobe too. Off by default: a program is built for both arches, and arm64 kernels (frame
   * pointers, -fno-optimize-sibling-calls) never tail-call from a traced C function; the x86_64 case is a
   * feature scenario (kretprobe-behind-fgraph-tail-call).
   */
  fgraphUnderKretprobe: boolean;
  /** Chance that the spine is much deeper (up to `maxDeepDepth`, the 64 functions). */
  pDeep: number;
  maxDeepDepth: number;
  /** Per spine function below gen_sys: chance it sits in module text / BPF JIT code / EFI runtime code. */
  pModule: number;
  pBpf: number;
  pEfi: number;
  /** Chance that the chain ends in a noreturn call (the leaf calls a function that never returns). */
  pNoreturn: number;
  /** Per function with a frame: chance of a shrink-wrapped prologue. */
  pShrinkWrap: number;
  /** Per frameless helper: chance it keeps its return address in another register (arm64). */
  pLrReg: number;
  /** Chance that the task is a kernel thread. */
  pKthread: number;
}

export const DEFAULT_OPTIONS: GenOptions = {
  maxDepth: 12,
  maxHelpers: 6,
  maxBody: 4,
  pTail: 0.2,
  pRecurse: 0.15,
  pFrameless: 0.35,
  pHelperCall: 0.35,
  pFgraph: 0.12,
  pKretprobe: 0.08,
  fgraphUnderKretprobe: false,
  pDeep: 0.06,
  maxDeepDepth: 64,
  pModule: 0.04,
  pBpf: 0.03,
  pEfi: 0.02,
  pNoreturn: 0.1,
  pShrinkWrap: 0.15,
  pLrReg: 0.2,
  pKthread: 0.2,
};

/** The first slice's programs (no module / BPF / EFI, noreturn, shrink-wrapping, LR in a register, kthreads, deep spines). */
export const PLAIN_OPTIONS: Partial<GenOptions> = { pDeep: 0, pModule: 0, pBpf: 0, pEfi: 0, pNoreturn: 0, pShrinkWrap: 0, pLrReg: 0, pKthread: 0 };

const body = (r: Prng, max: number): Step[] => {
  const n = r.int(0, max);
  return n ? [{ op: 'body', n }] : [];
};

/** Spine functions (gen_f*, and regscopy_fn: a spine function with a local struct pt_regs). */
export const isSpineName = (n: string): boolean => n.startsWith('gen_f') || n === REGS_COPY_FN;
/** The name the kits know a function with an on-stack struct pt_regs by (frame-pointer-to-stale-final). */
export const REGS_COPY_FN = 'regscopy_fn';
/** The noreturn function a chain may end in. */
export const NORETURN_FN = 'gen_noreturn';

/** The analyser findings a program's own constructs provoke on purpose (recomputed when shrinking drops functions). */
export function expectedFindings(functions: readonly GenFunction[]): ExpectedFinding[] {
  const out: ExpectedFinding[] = [];
  for (const f of functions) {
    if (f.lrReg) out.push({ arch: 'arm64', fn: f.name, why: 'returns with RET X9: its return address is in X9, not the LR (spec 3.3)' });
  }
  return out;
}

/** Whether `arch`'s analyser is meant to accept all of `p`'s code (no finding expected on that arch). */
export const analysableOn = (p: GenProgram, arch: Arch): boolean => !p.expectFindings.some((e) => e.arch === arch);

/** Program `n` of the run seeded with `seed`: the same on every machine. */
export function generateProgram(seed: number, n: number, opts: Partial<GenOptions> = {}): GenProgram {
  const o = { ...DEFAULT_OPTIONS, ...opts };
  const r = new Prng(subSeed(seed, n));
  // The features added after the first slice draw from their own stream.
  const r2 = new Prng(subSeed(subSeed(seed, n), 3));
  let depth = r.int(1, Math.max(1, o.maxDepth));
  if (r2.chance(o.pDeep)) depth = r2.int(Math.max(1, o.maxDepth) + 1, Math.max(o.maxDepth + 1, o.maxDeepDepth));
  const spine = Array.from({ length: depth }, (_, i) => (i === 0 ? 'gen_sys' : `gen_f${i}`));
  const nHelpers = r.int(0, o.maxHelpers);
  const helpers = Array.from({ length: nHelpers }, (_, i) => `gen_h${i}`);
  const fns = new Map<string, GenFunction>();

  // Helpers, last first: helper i may call or tail-call only helpers j > i (no cycles: every call returns).
  for (let i = nHelpers - 1; i >= 0; i--) {
    const later = helpers.slice(i + 1);
    const frame = !r.chance(o.pFrameless);
    const steps: Step[] = [...body(r, o.maxBody)];
    if (frame) {
      for (let k = 0; k < 2 && later.length; k++) {
        if (r.chance(o.pHelperCall)) steps.push({ op: 'call', fn: r.pick(later) }, ...body(r, o.maxBody));
      }
    }
    const f: GenFunction = { name: helpers[i]!, frame, steps };
    if (later.length && r.chance(o.pTail)) f.tail = r.pick(later);
    if (!f.steps.length && !f.tail) f.steps.push({ op: 'body', n: 1 });
    if (!frame && !f.tail && r2.chance(o.pLrReg)) f.lrReg = true;
    fns.set(f.name, f);
  }

  let slots = 0;
  // The spine: each function reaches the next by a call (or a tail call); the last calls schedule().
  const spineFns: GenFunction[] = spine.map((name, i) => {
    const steps: Step[] = [...body(r, o.maxBody)];
    if (helpers.length && r.chance(o.pHelperCall)) steps.push({ op: 'call', fn: r.pick(helpers) }, ...body(r, o.maxBody));
    const last = i === spine.length - 1;
    const next = last ? 'schedule' : spine[i + 1]!;
    const f: GenFunction = { name, frame: true, steps };
    // gen_sys is reached by BLR from invoke_syscall and stays a plain caller; schedule() is never tail-called.
    if (!last && i > 0 && r.chance(o.pTail)) f.tail = next;
    else {
      if (i > 0 && r.chance(o.pRecurse)) steps.push({ op: 'recurse', times: r.int(1, 3), slot: slots++, next });
      else steps.push({ op: 'call', fn: next });
      steps.push(...body(r, o.maxBody));
      if (helpers.length && r.chance(o.pHelperCall / 2)) steps.push({ op: 'call', fn: r.pick(helpers) });
    }
    return f;
  });

  // Spine functions placed in module text or BPF JIT code: plain callers of the next function (no tail call
  // into or out of them, no recursion, no helper calls); in EFI runtime code: a leaf called on the way.
  for (let i = 1; i < spineFns.length; i++) {
    const roll = r2.next();
    const placement: Placement | undefined = roll < o.pModule ? 'module' : roll < o.pModule + o.pBpf ? 'bpf' : roll < o.pModule + o.pBpf + o.pEfi ? 'efi' : undefined;
    if (!placement) continue;
    const f = spineFns[i]!;
    const next = i === spineFns.length - 1 ? 'schedule' : spineFns[i + 1]!.name;
    const prev = spineFns[i - 1]!;
    // Firmware never calls into the kernel: an EFI runtime service is a leaf its caller calls, and the chain goes
    // on from that caller (only an exception can find it on the stack, as in the kernel).
    const link = prev.steps.findIndex((s) => s.op === 'call' && s.fn === f.name);
    if (placement === 'efi' && prev.tail !== f.name && link < 0) continue;
    f.placement = placement;
    delete f.tail;
    if (prev.tail === f.name) {
      delete prev.tail;
      prev.steps.push({ op: 'call', fn: f.name });
    }
    if (placement === 'efi') {
      f.steps = [{ op: 'body', n: r2.int(1, Math.max(1, o.maxBody)) }];
      const at = prev.steps.findIndex((s) => s.op === 'call' && s.fn === f.name);
      prev.steps.splice(at + 1, 0, { op: 'call', fn: next });
    } else f.steps = [...body(r2, o.maxBody), { op: 'call', fn: next }, ...body(r2, o.maxBody)];
  }
  // A spine function with a local struct pt_regs (a stale copy may be left there: frame-pointer-to-stale-final).
  if (spineFns.length > 1 && r2.chance(0.3)) {
    const i = r2.int(1, spineFns.length - 1);
    const f = spineFns[i]!;
    if (!f.placement && !f.steps.some((s) => s.op === 'recurse')) {
      const old = f.name;
      f.name = REGS_COPY_FN;
      for (const g of spineFns) {
        if (g.tail === old) g.tail = REGS_COPY_FN;
        g.steps = g.steps.map((s) => (s.op === 'call' && s.fn === old ? { ...s, fn: REGS_COPY_FN } : s.op === 'recurse' && s.next === old ? { ...s, next: REGS_COPY_FN } : s));
      }
    }
  }
  const extra: GenFunction[] = [];
  // A noreturn end: the leaf's last instruction calls a function that blocks in schedule() forever.
  const leaf = spineFns[spineFns.length - 1]!;
  const sched = leaf.steps.findIndex((s) => s.op === 'call' && s.fn === 'schedule');
  if (!leaf.placement && sched >= 0 && r2.chance(o.pNoreturn)) {
    leaf.steps = [...leaf.steps.slice(0, sched), { op: 'noreturn', fn: NORETURN_FN }];
    extra.push({ name: NORETURN_FN, frame: true, noreturn: true, steps: [...body(r2, o.maxBody), { op: 'call', fn: 'schedule' }] });
  }
  // Shrink-wrapped prologues: instructions before the frame is set up, and after it is torn down.
  for (const f of [...spineFns, ...helpers.map((h) => fns.get(h)!)]) {
    if (!f.frame || (f.placement && f.placement !== 'kernel' && f.placement !== 'module')) continue;
    if (r2.chance(o.pShrinkWrap)) {
      f.pre = r2.int(1, 3);
      if (!f.noreturn && !f.steps.some((s) => s.op === 'noreturn')) f.post = r2.int(0, 2) || undefined;
      if (f.post === undefined) delete f.post;
    }
  }

  const functions = [...spineFns, ...helpers.map((h) => fns.get(h)!), ...extra];
  // Instrumentation: fgraph and kretprobes on disjoint random functions (x86_64 supports one per function),
  // never on BPF or EFI code.
  const fgraph: string[] = [];
  const kretprobe: string[] = [];
  for (const f of functions) {
    const traceable = !f.placement || f.placement === 'module';
    if (r.chance(o.pFgraph)) {
      if (traceable) fgraph.push(f.name);
    } else if (r.chance(o.pKretprobe) && traceable) kretprobe.push(f.name);
  }
  if (!o.fgraphUnderKretprobe) {
    const byName = new Map(functions.map((f) => [f.name, f]));
    const under = new Set<string>();
    for (const f of fgraph) for (let t = byName.get(f)?.tail; t; t = byName.get(t)?.tail) under.add(t);
    for (let i = kretprobe.length - 1; i >= 0; i--) if (under.has(kretprobe[i]!)) kretprobe.splice(i, 1);
  }
  const kthread = r2.chance(o.pKthread) ? { kthread: true } : {};
  const expectFindings = expectedFindings(functions);
  return { id: `${seed}-${n}`, seed, entry: 'gen_sys', functions, instrument: { fgraph, kretprobe }, ...kthread, analysable: expectFindings.length === 0, expectFindings };
}

/** Instruction-ish size of a program (for shrinking and reports). */
export function programSize(p: GenProgram): number {
  return p.functions.reduce((s, f) => s + 2 + (f.pre ?? 0) + (f.post ?? 0) + (f.lrReg ? 1 : 0) + (f.placement ? 1 : 0) + f.steps.reduce((t, x) => t + (x.op === 'body' ? x.n : x.op === 'recurse' ? 8 : 1), 0), 0) + p.instrument.fgraph.length + p.instrument.kretprobe.length + (p.kthread ? 1 : 0);
}
