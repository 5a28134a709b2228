/**
 * Generated programs (issue 13): random call graphs of kernel-like C functions, arch-neutral. Each arch
 * emits one as assembly with its own helpers (src/generate/emit-*.ts) and runs it as the workload
 * `generated:<id>` (src/generate/registry.ts).
 *
 * Shape: the syscall handler `gen_sys` starts a spine of functions ending in a call to schedule(), so
 * the task blocks at the spine's last function (the leaf of the chain). Spine functions may tail-call
 * the next one (a jump after tearing down their frame: they are gone from the stack). Along the way any
 * function may call helpers that return before the chain goes deeper: helpers with and without frames
 * (frameless ones call nothing), of random body lengths, themselves calling or tail-calling helpers.
 * fgraph and kretprobes go on random functions.
 */
import { Prng, subSeed } from './prng';

export type Step =
  /** BODY n: n ordinary instructions (clobbering caller-saved registers). */
  | { op: 'body'; n: number }
  /** A call that returns (BL / call). `schedule` is the kernel's. */
  | { op: 'call'; fn: string }
  /**
   * Recursion: the function calls itself `times` times (a depth counter in kernel data, slot `slot`,
   * counts its entries), then its deepest instance calls `next`. The task's stack then holds it times+1 times.
   */
  | { op: 'recurse'; times: number; slot: number; next: string };

export interface GenFunction {
  name: string;
  /** Whether it builds a frame record (prologue/epilogue). Frameless functions call nothing. */
  frame: boolean;
  steps: Step[];
  /** Ends by tearing down its frame and jumping to this function (a tail call), not by returning. */
  tail?: string;
}

export interface GenProgram {
  /** `<seed>-<n>` for generated programs; shrunk variants add a suffix. */
  id: string;
  seed: number;
  /** The syscall handler (first function). */
  entry: string;
  functions: GenFunction[];
  instrument: { fgraph: string[]; kretprobe: string[] };
  /**
   * Whether the arch's analyser is meant to accept the code. Always true today: the generator emits only
   * code that follows the frame-pointer and ABI rules, and the tests check the analyser agrees.
   */
  analysable: true;
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
};

const body = (r: Prng, max: number): Step[] => {
  const n = r.int(0, max);
  return n ? [{ op: 'body', n }] : [];
};

/** Program `n` of the run seeded with `seed`: the same on every machine. */
export function generateProgram(seed: number, n: number, opts: Partial<GenOptions> = {}): GenProgram {
  const o = { ...DEFAULT_OPTIONS, ...opts };
  const r = new Prng(subSeed(seed, n));
  const depth = r.int(1, Math.max(1, o.maxDepth));
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

  const functions = [...spineFns, ...helpers.map((h) => fns.get(h)!)];
  // Instrumentation: fgraph and kretprobes on disjoint random functions (x86_64 supports one per function).
  const fgraph: string[] = [];
  const kretprobe: string[] = [];
  for (const f of functions) {
    if (r.chance(o.pFgraph)) fgraph.push(f.name);
    else if (r.chance(o.pKretprobe)) kretprobe.push(f.name);
  }
  if (!o.fgraphUnderKretprobe) {
    const byName = new Map(functions.map((f) => [f.name, f]));
    const under = new Set<string>();
    for (const f of fgraph) for (let t = byName.get(f)?.tail; t; t = byName.get(t)?.tail) under.add(t);
    for (let i = kretprobe.length - 1; i >= 0; i--) if (under.has(kretprobe[i]!)) kretprobe.splice(i, 1);
  }
  return { id: `${seed}-${n}`, seed, entry: 'gen_sys', functions, instrument: { fgraph, kretprobe }, analysable: true };
}

/** Instruction-ish size of a program (for shrinking and reports). */
export function programSize(p: GenProgram): number {
  return p.functions.reduce((s, f) => s + 2 + f.steps.reduce((t, x) => t + (x.op === 'body' ? x.n : x.op === 'recurse' ? 8 : 1), 0), 0) + p.instrument.fgraph.length + p.instrument.kretprobe.length;
}
