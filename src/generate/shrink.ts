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
import { walkInProcess } from '../unwinders/registry';
import type { Unwinder } from '../unwinders/types';
import { programSize, type GenFunction, type GenProgram } from './program';
import { registerProgram } from './registry';
import { kitOf, specOf, type GeneratedCase, type GenMoment } from './run';


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
export function failureOf(c: GeneratedCase, unwinder: Unwinder, rule: Rule): Failure | undefined {
  for (const [i, s] of c.scenes.entries()) {
    const j = judge(s.snap, s.scene.truth, walkInProcess(unwinder, s.snap));
    if (!applyRule(rule, j).pass) return { rule, outcome: j.outcome, moment: c.moments[i]! };
  }
  return undefined;
}

/** A moment of `program` failing the same way as `f`, or undefined (a program the machine rejects does not fail). */
function reproduce(arch: Arch, program: GenProgram, f: Failure, unwinder: Unwinder, prefer?: GenMoment): GenMoment | undefined {
  const kit = kitOf(arch);
  const fails = (mo: GenMoment): boolean => {
    const scene = kit.buildScene(specOf(program, mo));
    const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
    const j = judge(snap, scene.truth, walkInProcess(unwinder, snap));
    return !applyRule(f.rule, j).pass && j.outcome === f.outcome;
  };
  try {
    if (f.moment.corrupt) {
      // The same corruption, at the depth it had if that still fails, else at any depth the chain has.
      const depths = [f.moment.corruptDepth ?? 1, ...Array.from({ length: program.functions.length + 2 }, (_, i) => i + 1)];
      for (const d of new Set(depths)) {
        const mo = { corrupt: f.moment.corrupt, corruptDepth: d };
        try {
          if (fails(mo)) return mo;
        } catch {
          // deeper than the chain
        }
      }
      return undefined;
    }
    if (f.moment.step === undefined) return fails({}) ? {} : undefined;
    const spec = specOf(program, {});
    const bs = kit.boundaries(spec.workload, spec.instrument);
    const mine = program.functions.map((x) => x.name);
    const nested = f.moment.nested ? { nested: f.moment.nested } : {};
    const steps = sweepSteps(bs, { workload: spec.workload, exception: f.moment.exception!, walk: f.moment.walk!, ...nested, functions: mine });
    const all = sweepSteps(bs, { workload: spec.workload, exception: f.moment.exception!, walk: f.moment.walk!, ...nested });
    const order = [...(prefer?.step !== undefined ? [prefer.step] : []), ...steps, ...all];
    const seen = new Set<number>();
    for (const step of order) {
      if (seen.has(step)) continue;
      seen.add(step);
      const mo = { exception: f.moment.exception!, walk: f.moment.walk!, ...nested, step };
      if (fails(mo)) return mo;
    }
  } catch {
    return undefined;
  }
  return undefined;
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
    return { ...p, id: `${p.id.split('~')[0]}~${fnv(JSON.stringify([fs, ins]))}`, functions: fs, instrument: ins };
  };
  const fns = p.functions;
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
    if (f.name === p.entry || !f.name.startsWith('gen_f')) continue;
    let target = f.tail;
    for (const s of f.steps) {
      if (s.op === 'recurse') target ??= s.next;
      else if (s.op === 'call' && (s.fn === 'schedule' || s.fn.startsWith('gen_f'))) target ??= s.fn;
    }
    if (!target) continue;
    const to = target;
    yield mk(
      fns.map((g) => {
        const steps = g.steps.map((s) => (s.op === 'call' && s.fn === f.name ? { ...s, fn: to } : s.op === 'recurse' && s.next === f.name ? { ...s, next: to } : s));
        if (g.tail !== f.name) return { ...g, steps };
        return to === 'schedule' ? untail({ ...g, steps: [...steps, { op: 'call', fn: 'schedule' }] }) : { ...g, steps, tail: to };
      }),
    );
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
export function shrink(c: GeneratedCase, unwinder: Unwinder, f: Failure, maxTries = 400): Shrunk {
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
      const mo = reproduce(c.arch, fixed, f, unwinder, moment);
      if (mo) {
        program = fixed;
        moment = mo;
        progress = true;
        break;
      }
    }
  }
  return { arch: c.arch, program, moment, failure: f, from, to: programSize(program), tries };
}

/** The shrunk case as a JSON spec (program, moment, seed), to paste into a test or rebuild with buildCase. */
export function shrunkSpec(s: Shrunk): string {
  return JSON.stringify({ arch: s.arch, seed: s.program.seed, program: s.program, moment: s.moment, fails: { rule: s.failure.rule, outcome: s.failure.outcome } }, null, 2);
}
