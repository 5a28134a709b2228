/**
 * Shrinking a failing generated case: greedy reductions of the program (drop instrumentation, helper calls,
 * helpers, spine functions, tail calls, frames; shorten bodies) kept while the failure stays the same: the
 * same rule fails with the same outcome at a moment of the same kind (blocked, or the same exception and
 * walk kind at some instruction boundary of the generated code; boundaries move as the program shrinks).
 */
import type { Rule } from '../conformance/expect';
import { applyRule } from '../conformance/expect';
import { judge, type Outcome } from '../oracle/oracle';
import { sweepSteps } from '../kernel/boundary';
import type { Arch } from '../snapshot/types';
import { loadSnapshot } from '../snapshot/io';
import { expectedFindings, isSpineName, NORETURN_FN, programSize, type GenFunction, type GenProgram } from './program';
import { isExceptionFrameCorruption } from '../kernel/corrupt';
import { registerProgram } from './registry';
import { kitOf, specOf, walkScene, type GeneratedCase, type GeneratedWalker, type GenMoment } from './run';


export interface Failure {
  rule: Rule;
  outcome: Outcome;
  /** The moment's kind: blocked, or exception + walk. */
  moment: GenMoment;
}

export interface Shrunk {
  arch: Arch;
  program: GenProgram;
  moment: GenMoment;
  failure: Failure;
  /** Sizes before and after (programSize). */
  from: number;
  to: number;
  tries: number;
}

/** The first failure of `rule` in a judged case, or undefined. */
export async function failureOf(c: GeneratedCase, unwinder: GeneratedWalker, rule: Rule): Promise<Failure | undefined> {
  for (const [i, s] of c.scenes.entries()) {
    const j = judge(s.snap, s.scene.truth, await walkScene(unwinder, s.scene, s.snap));
    if (!applyRule(rule, j).pass) return { rule, outcome: j.outcome, moment: c.moments[i]! };
  }
  return undefined;
}

/** A moment of `program` failing the same way as `f`, or undefined (a program the machine rejects does not fail). */
async function reproduce(arch: Arch, program: GenProgram, f: Failure, unwinder: GeneratedWalker, prefer?: GenMoment): Promise<GenMoment | undefined> {
  const kit = kitOf(arch);
  const fails = async (mo: GenMoment): Promise<boolean> => {
    try {
      const scene = kit.buildScene(specOf(program, mo));
      const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
      const j = judge(snap, scene.truth, await walkScene(unwinder, scene, snap));
      return !applyRule(f.rule, j).pass && j.outcome === f.outcome;
    } catch {
      // A moment this program does not have (a corruption deeper than its chain, an NMI after the IRQ returned).
      return false;
    }
  };
  const fm = f.moment;
  const corrupt = fm.corrupt ? { corrupt: fm.corrupt } : {};
  // Depths a frame-record corruption may take: the one it had first, then any the chain may have.
  const depths = fm.corrupt ? [...new Set([prefer?.corruptDepth ?? fm.corruptDepth ?? 1, fm.corruptDepth ?? 1, ...Array.from({ length: program.functions.length + 2 }, (_, i) => i + 1)])] : [undefined];
  const withDepth = (mo: GenMoment, d: number | undefined): GenMoment => (d !== undefined && d > 1 ? { ...mo, corruptDepth: d } : mo);
  let budget = 80;
  const attempt = async (mo: GenMoment): Promise<GenMoment | undefined> => (budget-- > 0 && (await fails(mo)) ? mo : undefined);
  if (fm.step === undefined) {
    for (const d of depths) {
      const mo = await attempt(withDepth({ ...corrupt }, d));
      if (mo) return mo;
    }
    return undefined;
  }
  let steps: number[];
  try {
    const spec = specOf(program, {});
    const bs = kit.boundaries(spec.workload, spec.instrument);
    const mine = program.functions.map((x) => x.name);
    const nested = fm.nested ? { nested: fm.nested } : {};
    steps = [
      ...(prefer?.step !== undefined ? [prefer.step] : []),
      ...sweepSteps(bs, { workload: spec.workload, exception: fm.exception!, walk: fm.walk!, ...nested, functions: mine }),
      ...sweepSteps(bs, { workload: spec.workload, exception: fm.exception!, walk: fm.walk!, ...nested }),
    ];
  } catch {
    return undefined;
  }
  const base = (step: number): GenMoment => ({ exception: fm.exception!, walk: fm.walk!, ...(fm.nested ? { nested: fm.nested } : {}), ...(fm.nestedAfter ? { nestedAfter: prefer?.nestedAfter ?? fm.nestedAfter } : {}), step, ...corrupt });
  const uniq = [...new Set(steps)];
  // Every step at the preferred depth, then every depth at the preferred step.
  for (const step of uniq) {
    const mo = await attempt(withDepth(base(step), depths[0]));
    if (mo) return mo;
  }
  if (uniq.length) {
    for (const d of depths.slice(1)) {
      const mo = await attempt(withDepth(base(uniq[0]!), d));
      if (mo) return mo;
    }
  }
  return undefined;
}

/** Simpler moments than `mo` (no corruption, no nested-NMI offset, the task blocked), most simplifying first. */
function* simplerMoments(mo: GenMoment): Iterable<GenMoment> {
  if (mo.corrupt) {
    const { corrupt: _c, corruptDepth: _d, ...rest } = mo;
    yield rest;
  }
  if (mo.corruptDepth && mo.corruptDepth > 1) {
    const { corruptDepth: _d, ...rest } = mo;
    yield rest;
  }
  if (mo.nestedAfter) {
    const { nestedAfter: _n, ...rest } = mo;
    yield rest;
  }
  if (mo.nested) {
    const { nested: _n, nestedAfter: _a, ...rest } = mo;
    yield rest;
  }
  if (mo.step !== undefined) yield mo.corrupt && !isExceptionFrameCorruption(mo.corrupt) ? { corrupt: mo.corrupt, ...(mo.corruptDepth ? { corruptDepth: mo.corruptDepth } : {}) } : {};
}

/** FNV-1a of a string, as 8 hex digits: shrunk variants are named by their content. */
function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Smaller variants of `p`, most reducing first. */
function* candidates(p: GenProgram): Iterable<GenProgram> {
  const mk = (functions: GenFunction[], instrument = p.instrument): GenProgram => {
    // Drop functions nothing reaches any more, and instrumentation of dropped functions.
    const byName = new Map(functions.map((f) => [f.name, f]));
    const live = new Set<string>();
    const visit = (n: string): void => {
      const f = byName.get(n);
      if (!f || live.has(n)) return;
      live.add(n);
      for (const s of f.steps) if (s.op === 'call') visit(s.fn);
      else if (s.op === 'recurse') visit(s.next);
      if (f.tail) visit(f.tail);
    };
    visit(p.entry);
    // No empty function (the generator's rule): an emptied one keeps one body instruction.
    const fs = functions.filter((f) => live.has(f.name)).map((x) => (x.steps.length || x.tail ? x : { ...x, steps: [{ op: 'body' as const, n: 1 }] }));
    const keep = (xs: string[]) => xs.filter((x) => live.has(x));
    const ins = { fgraph: keep(instrument.fgraph), kretprobe: keep(instrument.kretprobe) };
    const expectFindings = expectedFindings(fs);
    const kthread = p.kthread ? { kthread: true } : {};
    const { kthread: _k, ...rest } = p;
    return { ...rest, ...kthread, id: `${p.id.split('~')[0]}~${fnv(JSON.stringify([fs, ins, p.kthread ?? false]))}`, functions: fs, instrument: ins, analysable: expectFindings.length === 0, expectFindings };
  };
  const fns = p.functions;
  // A kernel thread becomes a syscall of a user task.
  if (p.kthread) {
    const { kthread: _k, ...user } = p;
    yield { ...user, id: `${p.id.split('~')[0]}~${fnv(JSON.stringify([fns, p.instrument, false]))}` };
  }
  // Instrumentation, one at a time.
  for (const k of ['fgraph', 'kretprobe'] as const) {
    for (const x of p.instrument[k]) yield mk(fns, { ...p.instrument, [k]: p.instrument[k].filter((y) => y !== x) });
  }
  // A spine function: its caller reaches its callee directly (by call, or by tail call where it tail-called).
  const untail = (g: GenFunction): GenFunction => {
    const { tail: _t, ...rest } = g;
    return rest;
  };
  for (const f of fns) {
    if (f.name === p.entry || !isSpineName(f.name)) continue;
    let target = f.tail;
    for (const s of f.steps) {
      if (s.op === 'recurse') target ??= s.next;
      else if (s.op === 'call' && (s.fn === 'schedule' || isSpineName(s.fn))) target ??= s.fn;
      else if (s.op === 'noreturn') target ??= s.fn;
    }
    if (!target) continue;
    const to = target === NORETURN_FN ? 'schedule' : target;
    yield mk(
      fns.map((g) => {
        const steps = g.steps.map((s) => (s.op === 'call' && s.fn === f.name ? { ...s, fn: to } : s.op === 'recurse' && s.next === f.name ? { ...s, next: to } : s));
        if (g.tail !== f.name) return { ...g, steps };
        return to === 'schedule' ? untail({ ...g, steps: [...steps, { op: 'call', fn: 'schedule' }] }) : { ...g, steps, tail: to };
      }),
    );
  }
  const edit = (f: GenFunction, g: (x: GenFunction) => GenFunction): GenProgram => mk(fns.map((x) => (x === f ? g(x) : x)));
  // Placement in module / BPF / EFI code, a noreturn end, shrink-wrapping, the LR kept in X9: back to plain.
  for (const f of fns) {
    if (f.placement) yield edit(f, ({ placement: _p, ...x }) => x);
    if (f.steps.some((s) => s.op === 'noreturn')) yield edit(f, (x) => ({ ...x, steps: x.steps.map((s) => (s.op === 'noreturn' ? { op: 'call' as const, fn: 'schedule' } : s)) }));
    if (f.pre || f.post) yield edit(f, ({ pre: _a, post: _b, ...x }) => x);
    if (f.lrReg) yield edit(f, ({ lrReg: _l, ...x }) => x);
  }
  // Recursion: fewer times, then none (a plain call of the next function).
  for (const f of fns) {
    for (let i = 0; i < f.steps.length; i++) {
      const s = f.steps[i]!;
      if (s.op !== 'recurse') continue;
      if (s.times > 1) yield mk(fns.map((g) => (g === f ? { ...g, steps: g.steps.map((x, k) => (k === i ? { ...s, times: 1 } : x)) } : g)));
      yield mk(fns.map((g) => (g === f ? { ...g, steps: g.steps.map((x, k) => (k === i ? { op: 'call' as const, fn: s.next } : x)) } : g)));
    }
  }
  // Calls to helpers, one at a time.
  for (const f of fns) {
    for (let i = 0; i < f.steps.length; i++) {
      const s = f.steps[i]!;
      if (s.op === 'call' && s.fn.startsWith('gen_h')) yield mk(fns.map((g) => (g === f ? { ...g, steps: g.steps.filter((_, k) => k !== i) } : g)));
    }
  }
  // A helper's tail call dropped (it returns instead).
  for (const f of fns) if (f.tail && f.name.startsWith('gen_h')) yield mk(fns.map((g) => (g === f ? untail(g) : g)));
  // Bodies: removed, then shortened to 1.
  for (const f of fns) {
    for (let i = 0; i < f.steps.length; i++) {
      const s = f.steps[i]!;
      if (s.op !== 'body') continue;
      yield mk(fns.map((g) => (g === f ? { ...g, steps: g.steps.filter((_, k) => k !== i) } : g)));
      if (s.n > 1) yield mk(fns.map((g) => (g === f ? { ...g, steps: g.steps.map((x, k) => (k === i ? { op: 'body' as const, n: 1 } : x)) } : g)));
    }
  }
}

/** Reduce `c`'s program while it still fails as `f` does; bounded by `maxTries` candidate runs. */
export async function shrink(c: GeneratedCase, unwinder: GeneratedWalker, f: Failure, maxTries = 400): Promise<Shrunk> {
  let program = c.program;
  let moment = f.moment;
  let tries = 0;
  const from = programSize(program);
  for (let progress = true; progress && tries < maxTries; ) {
    progress = false;
    for (const cand of candidates(program)) {
      if (++tries > maxTries) break;
      if (programSize(cand) >= programSize(program) && cand.functions.length >= program.functions.length) continue;
      // A candidate with no frameless function calling anything, no empty function: the generator's rules.
      if (cand.functions.some((x) => !x.frame && x.steps.some((s) => s.op === 'call'))) continue;
      const fixed = cand;
      registerProgram(fixed);
      const mo = await reproduce(c.arch, fixed, f, unwinder, moment);
      if (mo) {
        program = fixed;
        moment = mo;
        progress = true;
        break;
      }
    }
  }
  // Then the moment: no corruption, no nested NMI, the task blocked, where the failure stays the same.
  for (let progress = true; progress && tries < maxTries + 40; ) {
    progress = false;
    for (const mo of simplerMoments(moment)) {
      tries++;
      const got = await reproduce(c.arch, program, { ...f, moment: mo }, unwinder, mo);
      if (got) {
        moment = got;
        progress = true;
        break;
      }
    }
  }
  return { arch: c.arch, program, moment, failure: { ...f, moment }, from, to: programSize(program), tries };
}

/** The shrunk case as a JSON spec (program, moment, seed), to paste into a test or rebuild with buildCase. */
export function shrunkSpec(s: Shrunk): string {
  return JSON.stringify({ arch: s.arch, seed: s.program.seed, program: s.program, moment: s.moment, fails: { rule: s.failure.rule, outcome: s.failure.outcome } }, null, 2);
}
