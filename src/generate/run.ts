/**
 * Generated scenes (issue 13): programs from src/generate/program.ts run on each arch's kit to random
 * moments (the task blocked at the leaf's schedule(), IRQs and NMIs at random instruction boundaries,
 * walked from the handler or with the task preempted), each walk judged by the oracle against the
 * interpreter's ground truth under the core rule (complete-or-unreliable, section 2) and the cover
 * letter's exact-or-unreliable. Scenes are built once per arch and shared by every profile of it.
 */
import * as arm64Kit from '../kernel/arm64/kit';
import * as x86Kit from '../kernel/x86_64/kit';
import * as riscv64Kit from '../kernel/riscv64/kit';
import * as loongarch64Kit from '../kernel/loongarch64/kit';
import * as s390xKit from '../kernel/s390x/kit';
import * as powerpc64Kit from '../kernel/powerpc64/kit';
import { sweepSteps, type Boundary } from '../kernel/boundary';
import { applyRule, type Rule } from '../conformance/expect';
import { judge, type Judgement, type Outcome, type WalkRecord } from '../oracle/oracle';
import { toWalkReport, type ScenarioResult, type WalkKind, type WalkReport } from '../report/results';
import { EXCEPTION_FRAME_CORRUPTIONS, TRACING_CORRUPTIONS } from '../kernel/corrupt';
import type { Corruption, ExceptionKind, Moment, Scene, SceneSpec, SweepSpec, Workload } from '../scene/types';
import { loadSnapshot, type LoadedSnapshot } from '../snapshot/io';
import { ARCHES, type Arch } from '../snapshot/types';
import { walkInProcess } from '../unwinders/registry';
import type { Walker } from '../unwinders/walker';
import { applicability, byId } from '../catalogue/catalogue';
import type { Profile, Unwinder } from '../unwinders/types';
import { Prng, subSeed } from './prng';
import { generateProgram, programSize, REGS_COPY_FN, type GenOptions, type GenProgram } from './program';
import { MomentPastException } from '../scene/sweep';
import { forgetPrograms, isGenerated, registerProgram } from './registry';
import * as x86Image from '../kernel/x86_64/image';

export interface GenMoment {
  exception?: ExceptionKind;
  walk?: 'in-handler' | 'preempted';
  /** An NMI nested in the IRQ's handler, walked from the NMI handler. */
  nested?: 'nmi';
  /** The nested NMI arrives before the k-th instruction of the IRQ's handling (entry, handler, exit), not at the handler's walk point. */
  nestedAfter?: number;
  /** blocked, or an exception before this step of the workload run. */
  step?: number;
  /**
   * A corruption (src/kernel/corrupt.ts) applied at the moment: of a frame record `corruptDepth` deep on
   * the walked chain, of the innermost exception frame, or of the task's tracing state.
   */
  corrupt?: Corruption;
  corruptDepth?: number;
}

/** Frame-record corruptions (src/kernel/corrupt.ts), at a random depth of the walked chain. */
export const GENERATED_CORRUPTIONS: readonly Corruption[] = [
  'frame-pointer-zeroed',
  'frame-chain-cycle',
  'frame-pointer-misaligned',
  'frame-pointer-unmapped',
  'frame-pointer-other-task',
  'frame-pointer-downward',
  'return-address-garbage',
];

/** Every corruption kind the generator applies: frame records, the stale pt_regs link, exception frames, tracing state. */
export const ALL_GENERATED_CORRUPTIONS: readonly Corruption[] = [...GENERATED_CORRUPTIONS, 'frame-pointer-to-stale-final', ...EXCEPTION_FRAME_CORRUPTIONS, ...TRACING_CORRUPTIONS];

export interface GenScene {
  scene: Scene;
  snap: LoadedSnapshot;
  kind: WalkKind;
}

export interface GeneratedCase {
  arch: Arch;
  program: GenProgram;
  moments: GenMoment[];
  scenes: GenScene[];
  /** Moments chosen but not built (a corruption the moment does not have, an NMI after the IRQ returned). */
  dropped: number;
}

/** Moments per program besides the blocked one: exceptions at random boundaries, then corruptions of the blocked task. */
export const DEFAULT_MOMENTS = 8;
export const DEFAULT_CORRUPTIONS = 2;

/**
 * What generated programs need from an arch's kit. An arch is in GENERATED_ARCHES when its image builder
 * emits `generated:<id>` workloads (src/generate/emit*.ts) and it has an entry here.
 */
export interface GeneratedKit {
  buildScene: typeof arm64Kit.buildScene;
  boundaries: typeof arm64Kit.boundaries;
  /** Drop the kit's cached images of the workloads `drop` selects. */
  forgetImages(drop: (w: Workload) => boolean): void;
  /** The exceptions the arch has (default all: irq, nmi, brk, page-fault). */
  exceptions?: readonly ExceptionKind[];
}

const kits: Partial<Record<Arch, GeneratedKit>> = {
  arm64: { buildScene: arm64Kit.buildScene, boundaries: arm64Kit.boundaries, forgetImages: arm64Kit.forgetImages },
  x86_64: { buildScene: x86Kit.buildScene, boundaries: x86Kit.boundaries, forgetImages: x86Image.forgetImages },
  riscv64: { buildScene: riscv64Kit.buildScene, boundaries: riscv64Kit.boundaries, forgetImages: riscv64Kit.imageFor.forget },
  loongarch64: { buildScene: loongarch64Kit.buildScene, boundaries: loongarch64Kit.boundaries, forgetImages: loongarch64Kit.imageFor.forget, exceptions: loongarch64Kit.kit.exceptions },
  s390x: { buildScene: s390xKit.buildScene, boundaries: s390xKit.boundaries, forgetImages: s390xKit.imageFor.forget },
  powerpc64: { buildScene: powerpc64Kit.buildScene, boundaries: powerpc64Kit.boundaries, forgetImages: powerpc64Kit.imageFor.forget },
};
/** The arches generated programs are emitted for, in a fixed order (campaigns alternate them in it). */
export const GENERATED_ARCHES: readonly Arch[] = ARCHES.filter((a) => kits[a]);
/** The kit of an arch generated programs are emitted for. */
export function kitOf(arch: Arch): GeneratedKit {
  const k = kits[arch];
  if (!k) throw new Error(`no generated programs for ${arch} (only ${GENERATED_ARCHES.join(', ')})`);
  return k;
}
/** Each arch's stream of moments (arm64 and x86_64 keep the streams they always had). */
const ARCH_SEED: Record<Arch, number> = { arm64: 1, x86_64: 2, riscv64: 3, loongarch64: 4, s390x: 5, powerpc64: 6 };

export function specOf(program: GenProgram, mo: GenMoment): SceneSpec {
  const workload = registerProgram(program);
  const ins = program.instrument;
  const instrument = { ...(ins.fgraph.length ? { fgraph: ins.fgraph } : {}), ...(ins.kretprobe.length ? { kretprobe: ins.kretprobe } : {}) };
  const moment: Moment =
    mo.step === undefined ? { kind: 'blocked' } : { kind: 'exception-at-step', exception: mo.exception!, step: mo.step, walk: mo.walk!, ...(mo.nested ? { nested: mo.nested } : {}), ...(mo.nestedAfter ? { nestedAfter: mo.nestedAfter } : {}) };
  const corrupt = mo.corrupt ? { corrupt: mo.corrupt, ...(mo.corruptDepth && mo.corruptDepth > 1 ? { corruptDepth: mo.corruptDepth } : {}) } : {};
  return { workload, ...(Object.keys(instrument).length ? { instrument } : {}), moment, ...corrupt };
}

/** Random moments of `program` on `arch`: instruction boundaries chosen by the PRNG, mostly in generated code. */
export function chooseMoments(arch: Arch, program: GenProgram, r: Prng, count = DEFAULT_MOMENTS, corruptions = DEFAULT_CORRUPTIONS): GenMoment[] {
  const spec = specOf(program, {});
  const bs: Boundary[] = kitOf(arch).boundaries(spec.workload, spec.instrument);
  const mine = new Set(program.functions.map((f) => f.name));
  const hasNmi = kitOf(arch).exceptions?.includes('nmi') ?? true;
  const out: GenMoment[] = [{}];
  for (let k = 0; k < count; k++) {
    const roll = r.next();
    // IRQs (some preempting the task, some with an NMI nested in them), NMIs, and synchronous exceptions in
    // generated code: a kprobe's breakpoint (walked from its handler) and a kernel page fault (whose handler
    // may sleep: walked from the handler or with the task blocked under it).
    let exception: ExceptionKind = roll < 0.18 ? 'nmi' : roll < 0.36 ? 'irq' : roll < 0.43 ? 'brk' : roll < 0.5 ? 'page-fault' : 'irq';
    let nested = roll >= 0.18 && roll < 0.28 ? ('nmi' as const) : undefined;
    // An arch without an NMI (loongarch64) takes an IRQ where the others take an NMI, alone or nested.
    if (!hasNmi) [exception, nested] = [exception === 'nmi' ? 'irq' : exception, undefined];
    const sync = exception === 'brk' || exception === 'page-fault';
    const walk = (exception === 'irq' && !nested) || exception === 'page-fault' ? (r.chance(0.35) ? 'preempted' : 'in-handler') : 'in-handler';
    const sw: SweepSpec = { workload: spec.workload, exception, walk, ...(nested ? { nested } : {}), ...(sync || r.chance(0.75) ? { functions: [...mine] } : {}) };
    let steps = sweepSteps(bs, sw);
    if (!steps.length && !sync) steps = sweepSteps(bs, { ...sw, functions: undefined });
    if (!steps.length) continue;
    const step = r.pick(steps);
    // Half the nested NMIs arrive at a random instruction of the IRQ's entry, handler or exit.
    const nestedAfter = nested && r.chance(0.5) ? r.int(1, 80) : undefined;
    out.push({ exception, walk, ...(nested ? { nested } : {}), ...(nestedAfter ? { nestedAfter } : {}), step });
  }
  const exceptions = out.filter((m) => m.step !== undefined);
  // Corruptions at random depths: of the blocked task, or of a task stopped at one of the exception
  // moments above; every kind of src/kernel/corrupt.ts (a kind the moment does not have, such as a
  // tracing corruption with no return trampoline on the stack, is dropped when the case is built).
  const depthOf = (c: Corruption): number | undefined =>
    c === 'frame-pointer-downward' ? 1 : c === 'frame-pointer-to-stale-final' ? r.int(1, 2) : GENERATED_CORRUPTIONS.includes(c) ? r.int(1, program.functions.length + 2) : undefined;
  for (let k = 0; k < corruptions; k++) {
    const roll = r.next();
    const traced = program.instrument.fgraph.length + program.instrument.kretprobe.length > 0;
    const pool: readonly Corruption[] =
      roll < 0.4 ? GENERATED_CORRUPTIONS : roll < 0.7 && traced ? TRACING_CORRUPTIONS : roll < 0.85 && exceptions.length ? EXCEPTION_FRAME_CORRUPTIONS : roll < 0.95 && program.functions.some((f) => f.name === REGS_COPY_FN) ? ['frame-pointer-to-stale-final'] : GENERATED_CORRUPTIONS;
    const corrupt = r.pick(pool);
    const d = depthOf(corrupt);
    // Exception-frame corruptions need an exception moment; the others go under one a third of the time
    // (tracing ones mostly on the blocked task, where the traced functions are live).
    const under = EXCEPTION_FRAME_CORRUPTIONS.includes(corrupt) || (exceptions.length > 0 && r.chance(TRACING_CORRUPTIONS.includes(corrupt) ? 0.15 : 0.3));
    const at = under && exceptions.length ? r.pick(exceptions) : {};
    out.push({ ...at, corrupt, ...(d !== undefined && d > 1 ? { corruptDepth: d } : {}) });
  }
  return out;
}

/**
 * Forget the generated programs and the kits' cached images of them: a long run (a campaign, the
 * million-walk soak) calls it between batches so memory stays flat. Cases already built stay valid.
 */
export function forgetGenerated(): void {
  for (const a of GENERATED_ARCHES) kitOf(a).forgetImages(isGenerated);
  forgetPrograms();
}

/**
 * Called before building the k-th of a run of programs: a program's images serve only its own case, so
 * every 50 programs they are dropped, which keeps the heap (and garbage collection) small.
 */
export function forgetGeneratedImagesBefore(k: number): void {
  if (k % 50 === 49) forgetGenerated();
}

const kindOf = (mo: GenMoment): WalkKind => (mo.step === undefined ? 'blocked' : mo.walk === 'preempted' ? 'preempted' : 'in-handler');

export function buildCase(arch: Arch, program: GenProgram, moments: GenMoment[]): GeneratedCase {
  const kept: GenMoment[] = [];
  const scenes: GenScene[] = [];
  let dropped = 0;
  for (const mo of moments) {
    let scene: Scene;
    try {
      scene = kitOf(arch).buildScene(specOf(program, mo));
    } catch (e) {
      // A corruption this moment does not have (deeper than the frame chain, no return trampoline on the
      // stack, no kernel-mode exception frame of the task), or a nested NMI after the IRQ has returned, is
      // no moment of this program: dropped.
      if (mo.corrupt || (mo.nestedAfter && e instanceof MomentPastException)) {
        dropped++;
        continue;
      }
      throw e;
    }
    kept.push(mo);
    scenes.push({ scene, snap: loadSnapshot(scene.snapshot, scene.snapshot.id), kind: kindOf(mo) });
  }
  return { arch, program, moments: kept, scenes, dropped };
}

/** Case `n` of the run seeded with `seed` on `arch`: the same program (for both arches) and moments everywhere. */
export function generatedCase(arch: Arch, seed: number, n: number, opts: { gen?: Partial<GenOptions>; moments?: number; corruptions?: number } = {}): GeneratedCase {
  const program = generateProgram(seed, n, opts.gen);
  const r = new Prng(subSeed(subSeed(seed, n), ARCH_SEED[arch]));
  return buildCase(arch, program, chooseMoments(arch, program, r, opts.moments, opts.corruptions));
}

export interface CaseJudgement {
  /** Per scene, in order. */
  judgements: Judgement[];
  /** Per rule, the index of the first failing scene (or -1). */
  firstFailure: Record<Rule, number>;
}

export const GENERATED_RULES: readonly { rule: Rule; requirement: string; level: 'must' | 'should'; except?: readonly Outcome[] }[] = [
  { rule: 'complete-or-unreliable', requirement: 'trace-complete-or-nonzero', level: 'must' },
  // A trace that faithfully follows a corrupted return address is the real chain: it misses "detect such
  // cases" (corruption-detected-nonzero, a scoped row), not the true order.
  { rule: 'exact-or-unreliable', requirement: 'reliable-trace-in-true-order', level: 'should', except: ['undetected-corruption'] },
];

const CORRUPTION_SHOULD = { requirement: 'corruption-detected-nonzero', level: 'should' } as const;

/** The requirement a generated walk failing `rule` with `outcome` is filed under. */
export function failureRequirement(rule: Rule, outcome: Outcome): { requirement: string; level: 'must' | 'should' } {
  const g = GENERATED_RULES.find((r) => r.rule === rule)!;
  return g.except?.includes(outcome) ? CORRUPTION_SHOULD : g;
}

/**
 * Requirements a generated walk also decides, by what its scene holds: the same section-2 rule
 * (complete-or-unreliable), filed under the requirement that governs the situation the walk is in, as the
 * feature scenarios of those requirements judge it. A case gets a row for each that some walk of it is
 * in, when the requirement applies to the profile.
 */
export const SCOPED_RULES: readonly { requirement: string; level: 'must' | 'should'; rule: Rule; what: string; applies: (c: GeneratedCase, i: number) => boolean; only?: readonly Outcome[] }[] = [
  { requirement: 'robust-to-corrupt-unwind-state', level: 'must', rule: 'complete-or-unreliable', what: 'corrupted stacks', applies: (c, i) => !!c.moments[i]!.corrupt },
  { ...CORRUPTION_SHOULD, rule: 'exact-or-unreliable', what: 'corrupted stacks (a faithful trace of the corruption is not detection)', applies: (c, i) => !!c.moments[i]!.corrupt, only: ['undetected-corruption'] },
  { requirement: 'exception-walks-sound', level: 'must', rule: 'complete-or-unreliable', what: 'walks across IRQs and NMIs', applies: (c, i) => c.moments[i]!.step !== undefined },
  {
    requirement: 'rewritten-return-unreliable-unless-recovered',
    level: 'must',
    rule: 'complete-or-unreliable',
    what: 'walks with a graph-traced or kretprobed function live',
    applies: (c, i) => {
      const traced = new Set([...c.program.instrument.fgraph, ...c.program.instrument.kretprobe]);
      return c.scenes[i]!.scene.truth.frames.some((f) => traced.has(f.fn));
    },
  },
];

/** An in-process unwinder (walked here) or a walker (an external one through the plugin protocol). */
export type GeneratedWalker = Unwinder | Walker;

/** Walk one generated scene with `w`. */
export function walkScene(w: GeneratedWalker, scene: Scene, snap: LoadedSnapshot): WalkRecord | Promise<WalkRecord> {
  return 'close' in w ? w.walk(scene.snapshot, snap) : walkInProcess(w, snap);
}

function caseJudgement(judgements: Judgement[]): CaseJudgement {
  const firstFailure = {} as Record<Rule, number>;
  for (const { rule } of GENERATED_RULES) firstFailure[rule] = judgements.findIndex((j) => !applyRule(rule, j).pass);
  return { judgements, firstFailure };
}

export function judgeCase(c: GeneratedCase, unwinder: Unwinder): CaseJudgement {
  return caseJudgement(c.scenes.map((s) => judge(s.snap, s.scene.truth, walkInProcess(unwinder, s.snap))));
}

/** judgeCase for any walker: an external one answers each walk in turn. */
export async function judgeCaseWith(c: GeneratedCase, w: GeneratedWalker): Promise<CaseJudgement> {
  if (!('close' in w)) return judgeCase(c, w);
  const judgements: Judgement[] = [];
  for (const s of c.scenes) judgements.push(judge(s.snap, s.scene.truth, await walkScene(w, s.scene, s.snap)));
  return caseJudgement(judgements);
}

export const scenarioId = (p: GenProgram): string => `generated-${p.id}`;

/** Where a `lrReg` leaf keeps its return address, as scenario names say it (arm64's text on the arches that had it first). */
const LR_REG: Partial<Record<Arch, string>> = { riscv64: 'return address kept in t2', loongarch64: 'return address kept in $t2', s390x: 'return address kept in %r5', powerpc64: 'return address kept in r11' };

export function describeProgram(p: GenProgram, arch?: Arch): string {
  const tails = p.functions.filter((f) => f.tail).length;
  const frameless = p.functions.filter((f) => !f.frame).length;
  const placed = p.functions.filter((f) => f.placement).map((f) => `${f.name} in ${f.placement}`);
  const extras = [
    p.kthread ? 'kernel thread' : '',
    ...placed,
    p.functions.some((f) => f.noreturn) ? 'noreturn call' : '',
    p.functions.some((f) => f.pre) ? 'shrink-wrapped' : '',
    p.functions.some((f) => f.lrReg) ? ((arch && LR_REG[arch]) ?? 'LR kept in X9 (arm64)') : '',
  ].filter(Boolean);
  const ins = [...p.instrument.fgraph.map((f) => `fgraph ${f}`), ...p.instrument.kretprobe.map((f) => `kretprobe ${f}`)];
  return `${p.functions.length} functions (${tails} tail calls, ${frameless} frameless), size ${programSize(p)}${ins.length ? `, ${ins.join(', ')}` : ''}${extras.length ? `; ${extras.join(', ')}` : ''}`;
}

/**
 * The ScenarioResults of one case for one profile: one per rule, filed under that rule's requirement; with
 * the Profile (not only its name), also one per SCOPED_RULES requirement that applies to it and that some
 * walk of the case is in.
 */
export function caseResults(prof: string | Profile, c: GeneratedCase, cj: CaseJudgement, durationMs: number): ScenarioResult[] {
  const profile = typeof prof === 'string' ? prof : prof.name;
  const outcomes: Partial<Record<Outcome, number>> = {};
  const byKind: Partial<Record<WalkKind, { walks: number; sound: number }>> = {};
  cj.judgements.forEach((j, i) => {
    outcomes[j.outcome] = (outcomes[j.outcome] ?? 0) + 1;
    const k = (byKind[c.scenes[i]!.kind] ??= { walks: 0, sound: 0 });
    k.walks++;
    if (j.outcome === 'sound-reliable') k.sound++;
  });
  const rows: ScenarioResult[] = GENERATED_RULES.map(({ rule, requirement, level, except }, ri): ScenarioResult => {
    const walks: WalkReport[] = [];
    const messages: string[] = [];
    let failed = false;
    cj.judgements.forEach((j, i) => {
      if (except?.includes(j.outcome)) return;
      const v = applyRule(rule, j);
      if (v.pass) return;
      failed = true;
      if (walks.length >= 5) return;
      const s = c.scenes[i]!.scene;
      walks.push(toWalkReport(s.snapshot.id, s.moment, j));
      messages.push(`${s.moment}: ${v.message}`);
    });
    return {
      profile,
      id: `${scenarioId(c.program)}`,
      name: `generated program ${c.program.id} on ${c.arch} (seed ${c.program.seed}): ${describeProgram(c.program, c.arch)}; ${c.scenes.length} walks`,
      uri: `generated/${c.arch}/seed-${c.program.seed}`,
      topic: 'core-contract',
      requirement,
      level,
      status: failed ? 'failed' : 'passed',
      ...(failed ? { message: messages[0] } : {}),
      walks,
      // Usefulness counts each walk once: on the core rule's record only.
      ...(ri === 0 ? { byKind, sweep: { walks: cj.judgements.length, reliable: outcomes['sound-reliable'] ?? 0, outcomes } } : {}),
      durationMs: ri === 0 ? durationMs : 0,
    };
  });
  if (typeof prof === 'string') return rows;
  for (const sr of SCOPED_RULES) {
    const req = byId(sr.requirement);
    if (!req || !applicability(req, prof).applies) continue;
    const idx = c.scenes.map((_, i) => i).filter((i) => sr.applies(c, i));
    if (!idx.length) continue;
    const walks: WalkReport[] = [];
    const messages: string[] = [];
    for (const i of idx) {
      if (sr.only && !sr.only.includes(cj.judgements[i]!.outcome)) continue;
      const v = applyRule(sr.rule, cj.judgements[i]!);
      if (v.pass || walks.length >= 5) continue;
      const s = c.scenes[i]!.scene;
      walks.push(toWalkReport(s.snapshot.id, s.moment, cj.judgements[i]!));
      messages.push(`${s.moment}: ${v.message}`);
    }
    rows.push({
      profile,
      id: scenarioId(c.program),
      name: `generated program ${c.program.id} on ${c.arch} (seed ${c.program.seed}): ${idx.length} ${sr.what}`,
      uri: `generated/${c.arch}/seed-${c.program.seed}`,
      topic: req.topic,
      requirement: sr.requirement,
      level: sr.level,
      status: walks.length ? 'failed' : 'passed',
      ...(walks.length ? { message: messages[0] } : {}),
      walks,
      durationMs: 0,
    });
  }
  return rows;
}
