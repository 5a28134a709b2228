/**
 * A conformance scenario session: what the Cucumber world delegates to. It gathers a declarative
 * scene (workload, instrumentation, moment, corruption), has the arch kit build it, walks it with
 * the run's Walker, judges each walk with the oracle and applies the requirement's rule.
 * Plain TypeScript: no Cucumber here (steps/support/world.ts is the only glue).
 */
import { parseSceneDoc } from '../generate/artifacts';
import { GENERATED_ARCHES, specOf } from '../generate/run';
import { hex, unhex } from '../machine/addr';
import { appendFileSync, mkdirSync, writeFileSync } from 'fs';
import { dirname, join } from 'path';
import { applicability, byId } from '../catalogue/catalogue';
import type { Requirement } from '../catalogue/types';
import { judge, type Judgement, type Outcome, type WalkRecord } from '../oracle/oracle';
import { stackDump } from '../report/stack-dump';
import { toWalkReport, type Level, type ScenarioResult, type ScenarioStatus, type SweepSummary, type WalkReport } from '../report/results';
import { kitFor } from '../scene';
import { nmiAtEachStepOfException } from '../scene/sweep';
import type { Corruption, ExceptionKind, Finding, Instrumentation, InstructionPoint, Scene, SceneSpec, SweepSpec, Workload } from '../scene/types';
import type { SymbolKind } from '../machine/symbols';
import { loadSnapshot, type LoadedSnapshot } from '../snapshot/io';
import type { Arch } from '../snapshot/types';
import type { Profile } from '../unwinders/types';
import { InProcessWalker, type Walker } from '../unwinders/walker';
import { applyRule, type Rule } from './expect';
import { isSpecQuote, specExample } from './spec-text';

/** Cucumber worldParameters, set by the runner (cli/conformance.ts). */
export interface WorldParameters {
  profile: Profile;
  /** External unwinder command (plugin protocol); the in-process reference unwinder otherwise. */
  unwinder?: string;
  resultsFile?: string;
  reportDir?: string;
  /** No stack dumps of failing walks (mutant scoring reads verdicts only). */
  lean?: boolean;
  validateProtocol?: boolean;
  walkTimeoutMs?: number;
}

export interface ScenarioMeta {
  name: string;
  uri: string;
  tags: string[];
}

/** A rule failure: the unwinder under test did not meet the requirement (not a harness error). */
export class ConformanceFailure extends Error {}

/** A scenario that cannot run for this profile (requirement condition, arch, workload support). */
export class NotApplicable extends Error {}

interface Walked {
  scene: Scene;
  loaded: LoadedSnapshot;
  judgement: Judgement;
  /** Set when the walk broke a rule. */
  failed?: string;
  skipped?: string;
}

// One long-lived walker per external command for the whole run.
const externalWalkers = new Map<string, Promise<Walker>>();

/** Close every external walker started in this process (the runner calls this at the end). */
export async function closeAllWalkers(): Promise<void> {
  const ws = [...externalWalkers.values()];
  externalWalkers.clear();
  for (const w of ws) await (await w.catch(() => undefined))?.close();
}

/** The run's walker for an external command (started on first use, shared by every scenario and generated scene). */
export async function externalWalker(params: WorldParameters): Promise<Walker> {
  const cmd = params.unwinder!;
  let w = externalWalkers.get(cmd);
  if (!w) {
    // Imported lazily: the protocol module is only needed for external unwinders.
    const { startExternalWalker } = require('../protocol/external-walker') as typeof import('../protocol/external-walker');
    w = startExternalWalker(cmd, {
      ...(params.walkTimeoutMs !== undefined ? { timeoutMs: params.walkTimeoutMs } : {}),
      ...(params.validateProtocol !== undefined ? { validate: params.validateProtocol } : {}),
    });
    externalWalkers.set(cmd, w);
  }
  return w;
}

const inProcess = new Map<string, InProcessWalker>();

/** Loaded form of each scene's snapshot: scenes are shared by the profiles of an arch, and walks only read memory. */
const LOADED = new WeakMap<Scene['snapshot'], LoadedSnapshot>();

/** Failing walks of one sweep kept in its record, each with a stack dump and its snapshot file. */
export const MAX_FAILING_KEPT = 20;

/** Kinds of code named in features, and the symbol kind that identifies them in any kernel image. */
const CODE_KINDS: Record<string, SymbolKind> = {
  'BPF program': 'bpf',
  'EFI runtime service': 'foreign',
  'PLT veneer': 'plt',
  'ftrace trampoline': 'ftrace-trampoline',
  'optprobe trampoline': 'optprobe-trampoline',
};

/**
 * Points of a C-like function, by the instruction an exception is taken before (first execution):
 * prologue = the return address is saved but the frame pointer not yet set; epilogue = the frame is
 * popped and the return is next; body = the first body instruction, with the frame in place.
 */
const POINTS: Record<string, Record<Arch, string>> = {
  prologue: { arm64: 'MOV X29, SP', x86_64: 'movq %rsp, %rbp', riscv64: 'addi s0, sp, 16', loongarch64: 'addi.d $fp, $sp, 16', s390x: 'stg %r1,152(%r15)', powerpc64: 'stdu r1, -32(r1)' },
  body: { arm64: 'BODY', x86_64: 'BODY', riscv64: 'BODY', loongarch64: 'BODY', s390x: 'BODY', powerpc64: 'BODY' },
  epilogue: { arm64: 'RET', x86_64: 'ret', riscv64: 'ret', loongarch64: 'jr $ra', s390x: 'br %r14', powerpc64: 'blr' },
};


/** Claims as features name them. */
const CLAIM_PHRASES: Record<string, keyof Profile['claims']> = {
  'unwinds across IRQs': 'unwindsAcrossIrq',
  'unwinds across NMIs': 'unwindsAcrossNmi',
  'unwinds inside return_to_handler': 'unwindsInsideReturnToHandler',
};

type Tables = Scene['snapshot']['unwind'];
type MetaEntry = NonNullable<Tables['orc']>[number] | NonNullable<Tables['arm64']>[number] | NonNullable<Tables['loongarchOrc']>[number];

/** The snapshot's build-time unwind table, whichever arch's it is. */
const metadataTable = (t: Tables): MetaEntry[] => t.orc ?? t.arm64 ?? t.loongarchOrc ?? [];

/** Each metadata table's entries ordered by ip (the later of equal ips last), with their ips as numbers. */
const BY_IP = new WeakMap<MetaEntry[], { ips: number[]; entries: MetaEntry[] }>();

/** The build-time metadata entry covering `at` (the one with the greatest ip at or below it; of equal ips, the last). */
function metadataAt(scene: Scene, at: number): MetaEntry | undefined {
  const table = metadataTable(scene.snapshot.unwind);
  let t = BY_IP.get(table);
  if (!t) {
    const entries = table.map((e, i) => ({ e, ip: unhex(e.ip), i })).sort((a, b) => a.ip - b.ip || a.i - b.i);
    BY_IP.set(table, (t = { ips: entries.map((x) => x.ip), entries: entries.map((x) => x.e) }));
  }
  // The last index whose ip is at or below `at`.
  let lo = 0;
  let hi = t.ips.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t.ips[mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo ? t.entries[lo - 1] : undefined;
}

/** The loaded form of a scene's snapshot (built once: scenes are shared by the profiles of an arch). */
function loadedOf(scene: Scene): LoadedSnapshot {
  let loaded = LOADED.get(scene.snapshot);
  if (!loaded) LOADED.set(scene.snapshot, (loaded = loadSnapshot(scene.snapshot, scene.snapshot.id)));
  return loaded;
}

/** Whether the build-time metadata entry covering the task's interrupted PC says the unwind state is undefined. */
function interruptedUndefined(scene: Scene): boolean {
  const exc = scene.truth.frames.filter((f) => f.why === 'exception');
  const at = exc[exc.length - 1]?.addr;
  return at !== undefined && metadataAt(scene, at)?.type === 'undefined';
}

/** The kind of the symbol holding the task's interrupted PC (the outermost exception frame). */
function interruptedKind(scene: Scene): SymbolKind | undefined {
  const exc = scene.truth.frames.filter((f) => f.why === 'exception');
  const at = exc[exc.length - 1]?.addr;
  if (at === undefined) return undefined;
  return loadedOf(scene).syms.lookup(at)?.kind;
}

const NO_ANALYSER =
  'the profile supplies no build-time analyser ("analyser" in the profile), so what its build reports or generates was not observed';

/** Walk outcomes, worst first (the order reports list them in). */
const SEVERITY: readonly Outcome[] = ['unsafe', 'faulted', 'runaway', 'errored', 'undetected-corruption', 'imprecise', 'correctly-unreliable', 'sound-reliable'];
const severity = (o: Outcome): number => (SEVERITY.includes(o) ? SEVERITY.indexOf(o) : SEVERITY.length);

/** What `<snapshot>.truth.json` holds: the walk's ground truth and how it was judged (src/protocol/replay.ts reads it). */
function truthRecord(w: Walked, r: WalkReport, s: ConformanceSession) {
  return {
    kind: 'reliable-stacktrace ground truth',
    version: 1,
    snapshot: `${w.scene.snapshot.id}`,
    profile: s.profile.name,
    scenario: s.exampleId,
    requirement: s.requirement?.id,
    level: s.requirement?.level,
    moment: w.scene.moment,
    truth: {
      frames: w.scene.truth.frames.map((f) => ({ ...f, addr: hex(f.addr) })),
      ...(w.scene.truth.redirected ? { redirected: w.scene.truth.redirected.map((x) => ({ index: x.index, addr: hex(x.addr), ...(x.abandons ? { abandons: true } : {}) })) } : {}),
    },
    judgement: { outcome: r.outcome, explanation: r.explanation, rc: r.rc, trace: r.trace, missing: r.missing, extra: r.extra, inverted: r.inverted, faults: r.faults },
    ...(w.failed ? { rule: w.failed } : {}),
  };
}

const tagValue = (tags: string[], prefix: string): string[] => tags.filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length));

export class ConformanceSession {
  readonly profile: Profile;
  readonly requirement: Requirement | undefined;
  readonly exampleId: string;
  private workload: Workload | undefined;
  private instrument: Instrumentation = {};
  private exception: { kind: ExceptionKind; at: InstructionPoint } | undefined;
  private nested = false;
  /** An NMI at every instruction boundary of the exception's handling, instead of at its handler's walk point. */
  private nestedEvery = false;
  private sweepOver: { kind: ExceptionKind; functions?: string[]; codeKind?: SymbolKind; undefinedOnly?: boolean } | undefined;
  private beforeInsn: { kind: ExceptionKind; fn: string; insn: string } | undefined;
  private corruption: Corruption | undefined;
  private corruptionDepth: number | undefined;
  /** A generated program's scene (Given the generated kernel program:): built as it is, with the walk the When step asks for. */
  private generated: SceneSpec | undefined;
  private findings: Finding[] | undefined;
  readonly walks: Walked[] = [];
  sweep: SweepSummary | undefined;
  private shareRecorded = false;
  /** Whether any step checked something it observed: a scenario that observed nothing is not run, never passed. */
  private observed = false;
  /** Why a check could not observe what it judges (e.g. an external unwinder that reports no memory accesses). */
  private unobserved: string | undefined;
  /** Status forced by the session (not-applicable, skipped by the implementation). */
  private forced: { status: ScenarioStatus; message: string } | undefined;
  private failure: string | undefined;
  private readonly started = Date.now();

  constructor(
    readonly params: WorldParameters,
    readonly meta: ScenarioMeta,
    /** A walker to use instead of the run's (tests). */
    private readonly walkerOverride?: Walker,
  ) {
    if (!params || !params.profile) throw new Error('worldParameters.profile is required (run features through `npm run conformance`)');
    this.profile = params.profile;
    const reqs = tagValue(meta.tags, '@req:');
    this.requirement = reqs.length === 1 ? byId(reqs[0]!) : undefined;
    this.exampleId = tagValue(meta.tags, '@id:')[0] ?? meta.name.replace(/\W+/g, '-').toLowerCase();
  }

  // ------------------------------------------------------------------ applicability (Before hook)

  /** Undefined when the scenario applies to the profile, else the reason it does not. */
  notApplicableReason(): string | undefined {
    if (!this.requirement) return `scenario has no single known @req: tag (${this.meta.tags.join(' ')})`;
    const a = applicability(this.requirement, this.profile);
    if (!a.applies) return a.reason;
    const arches = tagValue(this.meta.tags, '@arch:');
    if (arches.length && !arches.includes(this.profile.arch)) return `the example is specific to ${arches.join(', ')}; profile ${this.profile.name} is ${this.profile.arch}`;
    return undefined;
  }

  markNotApplicable(reason: string): void {
    this.forced = { status: 'not-applicable', message: reason };
  }

  // ------------------------------------------------------------------ Given: the scene

  useWorkload(w: Workload): void {
    const kit = kitFor(this.profile.arch);
    if (!kit.workloads.includes(w)) {
      // An example with no @arch: tag claims to hold on every arch: a kit that cannot build it is a gap
      // in the suite, not a reason to excuse the profile.
      if (!tagValue(this.meta.tags, '@arch:').length) throw new Error(`the ${this.profile.arch} kit does not build workload ${w}, yet the example has no @arch: tag`);
      throw new NotApplicable(`the ${this.profile.arch} kit does not build workload ${w}`);
    }
    this.workload = w;
  }

  /**
   * A generated kernel program and its moment (src/generate), as a shrunk failure prints them: the
   * program becomes the workload `generated:<id>`, its instrumentation and the moment's exception,
   * step and corruption are the scene's. A moment at an instruction step names its arch.
   */
  useGenerated(docstring: string): void {
    const d = parseSceneDoc(docstring);
    if (d.arch && d.arch !== this.profile.arch) throw new NotApplicable(`the generated scene is an ${d.arch} one (its moment is an instruction step of the ${d.arch} image)`);
    if (!GENERATED_ARCHES.includes(this.profile.arch)) throw new NotApplicable(`generated programs are emitted for ${GENERATED_ARCHES.join(', ')} only`);
    this.generated = specOf(d.program, d.moment);
    this.workload = this.generated.workload;
  }

  /** The spec's code example `name`, quoted verbatim in the feature. */
  useSpecExample(name: string, docstring: string): void {
    const ex = specExample(name, docstring);
    if (ex.workload) this.useWorkload(ex.workload);
  }

  /**
   * The profile's arch form of a spec code example (`function:`, `caller:`, `ftrace call site`), quoted
   * in the feature: checked against the text the arch's kit builds, then its workload is used.
   */
  useArchExample(name: string, docstring: string): void {
    const ex = kitFor(this.profile.arch).examples?.[name];
    if (!ex) throw new NotApplicable(`the ${this.profile.arch} kit has no form of the spec's "${name}" example`);
    const norm = (t: string) => t.replace(/\s+/g, ' ').trim();
    if (norm(docstring) !== norm(ex.text)) throw new Error(`the docstring is not the ${this.profile.arch} kit's "${name}" example:\n${ex.text}`);
    if (ex.workload) this.useWorkload(ex.workload);
  }

  /** A docstring quoting the spec (a stage of return_to_handler, say): checked verbatim. */
  quoteSpec(docstring: string): void {
    if (!isSpecQuote(docstring)) throw new Error(`the docstring is not a verbatim quote of the spec:\n${docstring}`);
  }

  exceptionAt(kind: ExceptionKind, fn: string, index: number, occurrence?: number): void {
    this.exception = { kind, at: { fn, index, ...(occurrence !== undefined ? { occurrence } : {}) } };
  }

  nestedNmi(): void {
    if (!this.exception && !this.sweepOver && !this.beforeInsn) throw new Error('an NMI inside the IRQ handler needs an IRQ first');
    this.nested = true;
  }

  /** An NMI before every instruction the CPU executes handling the exception: its vector, entry code, stack switch, handler and exit. */
  nmiAtEveryBoundaryOfException(): void {
    if (!this.exception && !this.beforeInsn) throw new Error('an NMI at every boundary of an exception\'s handling needs the exception first (Given an IRQ is taken ...)');
    this.nestedEvery = true;
  }

  everyBoundary(kind: ExceptionKind, functions?: string[]): void {
    this.sweepOver = { kind, ...(functions ? { functions } : {}) };
  }

  /** Every boundary inside code of one kind (the BPF program, the PLT veneer, ...), found by symbol kind. */
  everyBoundaryOfKind(kind: ExceptionKind, phrase: string): void {
    const codeKind = CODE_KINDS[phrase];
    if (!codeKind) throw new Error(`unknown kind of code "${phrase}" (known: ${Object.keys(CODE_KINDS).join(', ')})`);
    this.sweepOver = { kind, codeKind };
  }

  /** Every boundary where the build-time metadata says the unwind state is undefined (UNWIND_HINT_UNDEFINED). */
  everyUndefinedBoundary(kind: ExceptionKind): void {
    this.sweepOver = { kind, undefinedOnly: true };
  }

  /** An exception at a named point of a function (prologue, body, epilogue), whatever the arch's instructions. */
  exceptionIn(kind: ExceptionKind, point: string, fn: string): void {
    const insn = POINTS[point]?.[this.profile.arch];
    if (!insn) throw new Error(`unknown point "${point}" (known: ${Object.keys(POINTS).join(', ')})`);
    this.exceptionBefore(kind, insn, fn);
  }

  /**
   * An exception just before the first execution of the instruction written `insn` in `fn`
   * ("MOV X29, SP", "movq %rsp, %rbp"): examples name instructions, not arch-specific indices.
   */
  exceptionBefore(kind: ExceptionKind, insn: string, fn: string): void {
    this.beforeInsn = { kind, fn, insn };
  }

  trace(kind: 'fgraph' | 'kretprobe' | 'ftraceRegs', fn: string, times = 1): void {
    for (let i = 0; i < times; i++) (this.instrument[kind] ??= []).push(fn);
  }

  optprobe(fn: string, index: number): void {
    (this.instrument.optprobe ??= []).push({ fn, index });
  }

  corrupt(c: Corruption): void {
    this.corruption = c;
  }

  /** The frame-record corruption edits the record `depth` links up the chain (1: the innermost). */
  corruptDepth(depth: number): void {
    if (!this.corruption) throw new Error('a corruption depth needs a corruption first (Given a saved frame pointer ...)');
    this.corruptionDepth = depth;
  }

  // ------------------------------------------------------------------ When: walks and analysis

  private need(): Workload {
    if (!this.workload) throw new Error('no workload: a Given step must describe what the task runs');
    return this.workload;
  }

  private spec(walk: 'in-handler' | 'preempted'): SceneSpec {
    if (!this.workload) throw new Error('no workload: a Given step must describe what the task runs');
    const moment: SceneSpec['moment'] = this.exception
      ? { kind: 'exception', exception: this.exception.kind, at: this.exception.at, walk, ...(this.nested ? { nested: 'nmi' as const } : {}) }
      : { kind: 'blocked' };
    return {
      workload: this.workload,
      ...(Object.keys(this.instrument).length ? { instrument: this.instrument } : {}),
      moment,
      ...(this.corruption ? { corrupt: this.corruption } : {}),
      ...(this.corruptionDepth !== undefined ? { corruptDepth: this.corruptionDepth } : {}),
    };
  }

  private async walker(): Promise<Walker> {
    if (this.walkerOverride) return this.walkerOverride;
    if (this.params.unwinder) return externalWalker(this.params);
    let w = inProcess.get(this.profile.name);
    if (!w) inProcess.set(this.profile.name, (w = new InProcessWalker(this.profile)));
    return w;
  }

  private async walkScene(scene: Scene): Promise<Walked> {
    const loaded = loadedOf(scene);
    let record: WalkRecord & { skipped?: string };
    record = await (await this.walker()).walk(scene.snapshot, loaded);
    const w: Walked = { scene, loaded, judgement: judge(loaded, scene.truth, record) };
    if (record.skipped !== undefined) w.skipped = record.skipped;
    this.walks.push(w);
    return w;
  }

  /**
   * Walk the task: blocked, or preempted by the exception and then blocked (walk: preempted).
   * Resolves to 'skipped' when an external implementation declined a walk (the scenario is skipped).
   */
  async requestForTask(): Promise<'skipped' | undefined> {
    return this.request('preempted');
  }

  /** Walk current from inside the exception handler. */
  async requestFromHandler(): Promise<'skipped' | undefined> {
    return this.request('in-handler');
  }

  /** Walk current from the first kretprobe return handler that runs (no exception in between). */
  async requestFromKretprobeHandler(): Promise<'skipped' | undefined> {
    if (this.exception || this.sweepOver || this.beforeInsn) throw new Error('a walk from a kretprobe return handler takes no exception');
    await this.walkScene(kitFor(this.profile.arch).buildScene({ ...this.spec('in-handler'), moment: { kind: 'kretprobe-handler' } }));
    return this.skippedWalk();
  }

  private skippedWalk(): 'skipped' | undefined {
    const skipped = this.walks.find((w) => w.skipped !== undefined);
    if (!skipped) return undefined;
    this.forced = { status: 'skipped', message: `the implementation skipped the walk: ${skipped.skipped}` };
    return 'skipped';
  }

  private async request(walk: 'in-handler' | 'preempted'): Promise<'skipped' | undefined> {
    const kit = kitFor(this.profile.arch);
    const kinds = [this.sweepOver?.kind, this.exception?.kind, this.beforeInsn?.kind, this.nested || this.nestedEvery ? 'nmi' : undefined];
    const lacking = kit.exceptions && kinds.find((k) => k !== undefined && !kit.exceptions!.includes(k as ExceptionKind));
    if (lacking) {
      this.markNotApplicable(`${this.profile.arch} has no ${lacking === 'nmi' ? 'NMI' : lacking} exception`);
      return 'skipped';
    }
    if (this.sweepOver) {
      if (!this.workload) throw new Error('no workload: a Given step must describe what the task runs');
      if (this.corruption) throw new Error('a sweep does not apply corruption: describe one moment (an IRQ is taken in/before ...)');
      const spec: SweepSpec = {
        workload: this.workload,
        ...(Object.keys(this.instrument).length ? { instrument: this.instrument } : {}),
        exception: this.sweepOver.kind,
        walk,
        ...(this.nested ? { nested: 'nmi' as const } : {}),
        ...(this.sweepOver.functions ? { functions: this.sweepOver.functions } : {}),
      };
      const codeKind = this.sweepOver.codeKind;
      const undefinedOnly = this.sweepOver.undefinedOnly === true;
      for (const scene of kit.sweep(spec)) {
        if (codeKind && interruptedKind(scene) !== codeKind) continue;
        if (undefinedOnly && !interruptedUndefined(scene)) continue;
        await this.walkScene(scene);
      }
      if (!this.walks.length) throw new Error(`the sweep produced no walks (${JSON.stringify(spec)}${codeKind ? `, code kind ${codeKind}` : ''})`);
      this.sweep = this.summary();
    } else if (this.beforeInsn) {
      // The instruction is named by its text; the kit gives its index in this image, so the scene
      // (with any corruption) is built like any other exception moment.
      const { kind: exc, fn, insn } = this.beforeInsn;
      const norm = (t: string) => t.replace(/\s+/g, ' ').trim().toLowerCase();
      const texts = kit.instructions(this.need(), Object.keys(this.instrument).length ? this.instrument : undefined, fn);
      // "BODY" names any body pseudo-op ("BODY 1/1"): the text, or its mnemonic followed by operands.
      const index = texts.findIndex((t) => norm(t) === norm(insn) || norm(t).startsWith(`${norm(insn)} `));
      if (index < 0) throw new Error(`${fn} has no instruction "${insn}" (it has: ${texts.join('; ')})`);
      this.exception = { kind: exc, at: { fn, index } };
      if (this.nestedEvery) await this.walkNmiDuringException(walk);
      else await this.walkScene(kit.buildScene(this.spec(walk)));
    } else if (this.generated) {
      const g = this.generated;
      await this.walkScene(kit.buildScene(g.moment.kind === 'blocked' || g.moment.kind === 'kretprobe-handler' ? g : { ...g, moment: { ...g.moment, walk } }));
    } else if (this.nestedEvery) {
      await this.walkNmiDuringException(walk);
    } else {
      if (walk === 'in-handler' && !this.exception) throw new Error('a walk from the handler needs an exception (Given an IRQ is taken ...)');
      await this.walkScene(kit.buildScene(this.spec(walk)));
    }
    return this.skippedWalk();
  }

  /** One walk from an NMI taken before each instruction of the exception's handling (a sweep). */
  private async walkNmiDuringException(walk: 'in-handler' | 'preempted'): Promise<void> {
    if (walk !== 'in-handler') throw new Error('an NMI inside the handling of an exception is walked from the NMI handler');
    for (const scene of nmiAtEachStepOfException(this.spec(walk), (s) => kitFor(this.profile.arch).buildScene(s))) await this.walkScene(scene);
    if (!this.walks.length) throw new Error('the exception took no instruction to handle');
    this.sweep = this.summary();
  }

  /**
   * Build-time analysis of the kernel image, by the analyser the profile supplies. A profile that does
   * not claim compile-time analysis has none in its build: it gets no findings, and the rules that
   * expect one fail saying so. One that claims it but supplies no analyser is not judged: the
   * suite's own analyser running proves nothing about the unwinder's build (not run).
   */
  analyse(): void {
    if (!this.workload) throw new Error('no workload: a Given step must describe the kernel image');
    if (!this.profile.claims.usesCompileTimeAnalysis) this.findings = [];
    else if (this.profile.analyser === 'builtin') this.findings = kitFor(this.profile.arch).analyse(this.workload);
    else this.unobserved = NO_ANALYSER;
  }

  /** The build rejects this kernel: its compile-time validation reports a frame-pointer protocol violation. */
  private buildRejects(): boolean {
    if (!this.profile.claims.usesCompileTimeAnalysis || this.profile.analyser !== 'builtin' || !this.workload) return false;
    return kitFor(this.profile.arch).analyse(this.workload).some((f) => f.kind === 'fp-protocol');
  }

  /** The findings to judge, or undefined when the profile supplies no analyser (the check is not run). */
  private judgedFindings(): Finding[] | undefined {
    if (this.findings) {
      this.observed = true;
      return this.findings;
    }
    if (this.unobserved === NO_ANALYSER) return undefined;
    throw new Error('no analysis yet: a When step must analyse the kernel image');
  }

  /**
   * The core contract for a kernel that may hold code breaking the frame-pointer protocol: graded
   * unless the profile's build-time validation rejects the kernel, which this profile then never ships
   * (the walk is recorded, and the scenario is not applicable).
   */
  expectUnlessBuildRejects(rule: Rule): void {
    if (this.profile.claims.usesCompileTimeAnalysis && this.profile.analyser !== 'builtin') {
      // Whether this profile's build would reject the kernel is not observed: judge nothing.
      this.needWalks();
      this.unobserved = NO_ANALYSER;
      return;
    }
    if (this.buildRejects()) {
      this.needWalks();
      this.forced = { status: 'not-applicable', message: "the profile's build-time validation rejects this kernel (a frame-pointer protocol violation), so it never runs it" };
      return;
    }
    this.expect(rule);
  }

  private summary(): SweepSummary {
    const outcomes: Partial<Record<Outcome, number>> = {};
    for (const w of this.walks) outcomes[w.judgement.outcome] = (outcomes[w.judgement.outcome] ?? 0) + 1;
    return { walks: this.walks.length, reliable: outcomes['sound-reliable'] ?? 0, outcomes };
  }

  // ------------------------------------------------------------------ Then: rules

  private fail(message: string): never {
    this.failure = this.failure ? `${this.failure}\n${message}` : message;
    throw new ConformanceFailure(message);
  }

  private needWalks(): Walked[] {
    if (!this.walks.length) throw new Error('no walk yet: a When step must request a reliable stacktrace');
    return this.walks;
  }

  /**
   * Apply `rule` to every walk of the scenario (one walk, or each walk of a sweep). Memory safety is
   * judged only on walks whose accesses were observed; with none, the check is not run.
   */
  expect(ruleOf: Rule | ((w: Walked) => Rule)): void {
    const bad: string[] = [];
    const ruleFor = typeof ruleOf === 'string' ? () => ruleOf : ruleOf;
    let walks = this.needWalks();
    if (ruleOf === 'memory-safe') {
      walks = walks.filter((w) => w.judgement.accessesObserved);
      if (!walks.length) {
        this.unobserved = 'memory safety was not observed: the unwinder reported none of the memory accesses its walk made (the protocol\'s "accesses")';
        return;
      }
    }
    this.observed = true;
    for (const w of walks) {
      const v = applyRule(ruleFor(w), w.judgement);
      if (!v.pass) {
        w.failed = v.message!;
        bad.push(`${w.scene.moment}: ${v.message}`);
      }
    }
    if (bad.length) {
      const n = walks.length;
      const head = n > 1 ? `${bad.length} of ${n} walks broke the rule (${this.requirement?.id ?? '?'}):\n` : '';
      this.fail(head + bad.slice(0, 10).join('\n') + (bad.length > 10 ? `\n... and ${bad.length - 10} more` : ''));
    }
  }

  /** The scene's ground truth holds `fn` (so the walk is judged against a chain that includes it). */
  expectTruthHolds(fn: string): void {
    for (const w of this.needWalks()) {
      if (!w.judgement.truth.some((f) => f.fn === fn)) throw new Error(`${w.scene.moment}: the ground truth does not hold ${fn} (${w.judgement.truth.map((f) => f.fn).join(' <- ')})`);
    }
  }

  /** The task's true call chain ends in `fn`, and every trace reported reliable (rc 0) ends there too. */
  expectEndsIn(fn: string): void {
    for (const w of this.needWalks()) {
      const outer = w.judgement.truth[w.judgement.truth.length - 1];
      if (outer?.fn !== fn) throw new Error(`${w.scene.moment}: the task's call chain ends in ${outer?.fn}, not ${fn}`);
      if (w.judgement.rc !== 0 || w.judgement.outcome === 'errored') continue;
      this.observed = true;
      const last = w.judgement.trace[w.judgement.trace.length - 1];
      // An omissible base frame (entry code) left out: the trace ends with the frame just inside it.
      const inside = outer.omissible ? w.judgement.truth[w.judgement.truth.length - 2] : undefined;
      if (last?.fn !== fn && !(inside && last?.fn === inside.fn)) {
        this.fail(`${w.scene.moment}: the reliable trace ends in ${last?.fn ?? '(nothing)'}, not ${fn}${inside ? ` (nor, with ${fn} left out, in ${inside.fn})` : ''}`);
      }
    }
    if (!this.observed) this.unobserved = `no walk was reported reliable, so where a reliable trace ends was not observed`;
  }

  /** The task's true call chain ends in kernel entry code (a symbol marked as an entry point), and so does a reliable trace. */
  expectEndsAtEntry(): void {
    for (const w of this.needWalks()) {
      const outer = w.judgement.truth[w.judgement.truth.length - 1];
      const sym = outer ? w.loaded.syms.lookup(outer.addr) : undefined;
      if (!sym?.entry) throw new Error(`${w.scene.moment}: the task's call chain ends in ${outer?.fn}, which is not marked as kernel entry code`);
      this.expectEndsIn(sym.name);
    }
  }

  /** A claim of the profile, named in the spec's words ("unwinds across NMIs"). */
  claims(phrase: string): boolean {
    const key = CLAIM_PHRASES[phrase];
    if (!key) throw new Error(`unknown claim "${phrase}" (known: ${Object.keys(CLAIM_PHRASES).join(', ')})`);
    return this.profile.claims[key];
  }

  /**
   * Section 3.3 / 3.6: reject exception boundaries unless the unwinder can identify when unwinding them is
   * reliable. The claim selects the rule and never switches it off: without it every walk must be
   * rejected; with it each walk must be the exact call chain or rejected (a duplicated, inverted or
   * missing entry at the boundary is a misidentification).
   */
  expectRejectedUnlessIdentified(): void {
    this.expect((w) => (this.identifies(w.scene) ? 'exact-or-unreliable' : 'reported-unreliable'));
  }

  /**
   * Whether the profile claims to identify reliable unwinds across every exception of this walk. The
   * identification claim covers the exception kinds the profile says it unwinds: an IRQ needs
   * "unwinds across IRQs", an NMI (taken alone or nested) "unwinds across NMIs". For the others it has
   * declared it cannot or will not tell, so the spec's "must reject" applies to them.
   */
  private identifies(scene: Scene): boolean {
    return this.profile.claims.identifiesReliableExceptionUnwind && this.claimsItsExceptions(scene);
  }

  /** The profile claims to unwind every IRQ / NMI this walk crosses (walks across neither need no claim). */
  private claimsItsExceptions(scene: Scene): boolean {
    const c = this.profile.claims;
    const m = scene.spec.moment;
    if (!('exception' in m)) return true;
    if (m.exception === 'irq' && !c.unwindsAcrossIrq) return false;
    return !(m.exception === 'nmi' || m.nested === 'nmi') || c.unwindsAcrossNmi;
  }

  /** Reliable if the profile makes the claim, else reported unreliable: the profile's promise is checked. */
  expectPerClaim(phrase: string): void {
    this.expect(this.claims(phrase) ? 'reliable' : 'reported-unreliable');
  }

  /** Some walk is a sound reliable one when the profile makes the claim (nothing is asserted otherwise). */
  expectSomeReliableIfClaimed(phrase: string): void {
    if (!this.claims(phrase)) return;
    this.observed = true;
    const s = this.summary();
    if (s.reliable === 0) this.fail(`none of ${s.walks} walks was a sound reliable one (${JSON.stringify(s.outcomes)}), though the profile claims it ${phrase}`);
  }

  /**
   * "When able": judged walk by walk over the walks the model knows to be unwindable (unwindable()),
   * at least the requirement's catalogue share (whenAble.minReliableShare) must be sound reliable walks.
   */
  expectUnwindableWalksReliable(): void {
    const min = this.requirement?.whenAble?.minReliableShare;
    if (min === undefined) throw new Error(`requirement ${this.requirement?.id ?? '?'} has no whenAble threshold in the catalogue`);
    const able = this.needWalks().filter((w) => this.unwindable(w.scene));
    if (!able.length) {
      this.unobserved = 'no walk of this scenario is one the model knows to be unwindable';
      return;
    }
    this.observed = true;
    const rejected = able.filter((w) => w.judgement.outcome !== 'sound-reliable');
    const share = (able.length - rejected.length) / able.length;
    if (share < min) {
      for (const w of rejected) w.failed ??= `not unwound although the model knows this walk to be unwindable (${w.judgement.outcome})`;
      this.fail(
        `${able.length - rejected.length} of ${able.length} unwindable walks were reliable (${(share * 100).toFixed(1)}%, the catalogue asks at least ${(min * 100).toFixed(0)}%); not unwound:\n` +
          rejected.slice(0, 10).map((w) => `${w.scene.moment}: ${w.judgement.outcome}: ${w.judgement.explanation}`).join('\n') +
          (rejected.length > 10 ? `\n... and ${rejected.length - 10} more` : ''),
      );
    }
  }

  /**
   * Whether the model knows the walk to be unwindable: every exception boundary in the true chain is
   * in an ordinary function (not entry code, a trampoline, generated or foreign code, not
   * STACK_FRAME_NON_STANDARD) whose build-time metadata describes the frame at that instruction, the
   * chain holds no return trampoline, and it crosses only exceptions the profile claims to unwind.
   */
  private unwindable(scene: Scene): boolean {
    if (!this.claimsItsExceptions(scene)) return false;
    const frames = scene.truth.frames;
    const syms = loadedOf(scene).syms;
    const symAt = (a: number) => syms.lookup(a);
    if (frames.some((f) => f.why !== 'pc' && symAt(f.addr)?.kind === 'return-trampoline')) return false;
    const boundaries = frames.filter((f) => f.why === 'exception');
    if (!boundaries.length) return false;
    return boundaries.every((f) => {
      const sym = symAt(f.addr);
      if (!sym || sym.kind !== 'func' || sym.nonStandard) return false;
      const e = metadataAt(scene, f.addr);
      if (!e || e.type !== 'call') return false;
      return !('ra' in e) || e.ra !== 'unknown';
    });
  }

  /** The reliable share goes to the report (usefulness); it asserts nothing, so it never makes a scenario pass. */
  recordShare(): void {
    this.sweep = this.summary();
    this.shareRecorded = true;
  }

  expectFinding(kind: Finding['kind'], fn: string): void {
    const findings = this.judgedFindings();
    if (!findings) return;
    const hit = findings.find((f) => f.kind === kind && f.fn === fn);
    if (!hit) {
      if (!this.profile.claims.usesCompileTimeAnalysis) {
        this.fail(`the profile does not claim compile-time analysis (claims.usesCompileTimeAnalysis is false): nothing in its build reports ${kind} in ${fn}`);
      }
      const got = findings.map((f) => `${f.kind} in ${f.fn}: ${f.message}`).join('; ') || 'no findings';
      this.fail(`the analyser did not report ${kind} in ${fn} (it reported: ${got})`);
    }
  }

  /** No finding of `kind` at all (e.g. standard code passes validation). */
  expectNoFinding(kind: Finding['kind']): void {
    const findings = this.judgedFindings();
    if (!findings) return;
    const hit = findings.filter((f) => f.kind === kind);
    if (hit.length) this.fail(`the analyser reported ${kind}: ${hit.map((f) => `${f.fn}: ${f.message}`).join('; ')}`);
  }

  /**
   * The unwind metadata the walk was given covers `fn`, and it was generated at build time: the tables
   * come from the analyser, so a profile that claims no compile-time analysis has nothing in its build
   * that generates them, and fails; one that supplies no analyser is not judged (as analyse()).
   */
  expectMetadataCovers(fn: string): void {
    if (!this.profile.claims.usesCompileTimeAnalysis) {
      this.fail(`the profile relies on unwind metadata but does not claim compile-time analysis (claims.usesCompileTimeAnalysis is false): nothing in its build generates metadata for ${fn}`);
    }
    if (this.profile.analyser !== 'builtin') {
      this.unobserved = NO_ANALYSER;
      return;
    }
    this.observed = true;
    for (const w of this.needWalks()) {
      const sym = w.loaded.syms.byName(fn);
      if (!sym) throw new Error(`no symbol ${fn} in the snapshot`);
      const table = metadataTable(w.scene.snapshot.unwind);
      const ips = table.map((e) => unhex(e.ip)).sort((a, b) => a - b);
      // An entry covers [ip, next ip): the function's start must be covered by an entry at or below it.
      const cover = ips.filter((ip) => ip <= sym.start);
      if (!ips.length || !cover.length) this.fail(`no build-time unwind metadata covers ${fn} (${hex(sym.start)}): the table has ${ips.length} entries`);
      const entry = table.find((e) => unhex(e.ip) === cover[cover.length - 1]);
      const t = entry && 'type' in entry ? entry.type : undefined;
      if (t === 'undefined') this.fail(`the metadata entry covering ${fn} says its unwind state is undefined`);
    }
  }

  // ------------------------------------------------------------------ After hook: the record

  /** Every walk by kind, with the sound reliable ones. */
  private byKind(): NonNullable<ScenarioResult['byKind']> {
    const out: NonNullable<ScenarioResult['byKind']> = {};
    for (const w of this.walks) {
      const m = w.scene.spec.moment;
      const t = (out[m.kind === 'blocked' ? 'blocked' : m.kind === 'kretprobe-handler' ? 'running' : m.walk] ??= { walks: 0, sound: 0 });
      t.walks++;
      if (w.judgement.outcome === 'sound-reliable') t.sound++;
    }
    return out;
  }

  /** The scenario's record, given Cucumber's status and error message. */
  result(cucumberStatus: string, message: string | undefined, uriForReport = this.meta.uri): ScenarioResult {
    let status: ScenarioStatus;
    let msg = message;
    if (this.forced) {
      status = this.forced.status;
      msg = this.forced.message;
    } else if (cucumberStatus === 'PASSED' && !this.observed) {
      status = 'not-run';
      msg = `nothing was observed: ${this.unobserved ?? 'no step of this scenario checked a walk or a finding'}`;
    } else if (cucumberStatus === 'PASSED') status = 'passed';
    else if (cucumberStatus === 'FAILED') status = this.failure !== undefined ? 'failed' : 'errored';
    else if (cucumberStatus === 'UNDEFINED') status = 'undefined';
    else status = 'skipped';
    if (status === 'failed') msg = this.failure;
    const req = this.requirement;
    const failing = (w: Walked) => w.failed !== undefined || status === 'errored' || ['faulted', 'runaway', 'errored', 'unsafe'].includes(w.judgement.outcome);
    // Sweeps keep the first failing walks (with their snapshots) and a few others; the summary counts them all.
    // Worst first (unsafe before imprecise), so a sweep's unsafe walks are kept even when imprecise ones come earlier.
    const worse = (a: Walked, b: Walked) => severity(a.judgement.outcome) - severity(b.judgement.outcome);
    const keep = this.sweep ? [...this.walks.filter(failing).sort(worse).slice(0, MAX_FAILING_KEPT), ...this.walks.filter((w) => !failing(w)).slice(0, 3)] : this.walks;
    const walks: WalkReport[] = [];
    let n = 0;
    for (const w of keep) {
      const r = toWalkReport(w.scene.snapshot.id, w.scene.moment, w.judgement);
      if (failing(w)) {
        if (!this.params.lean) r.stackDump = stackDump(w.loaded);
        if (this.params.reportDir && (status === 'failed' || status === 'errored')) {
          const rel = join('snapshots', `${this.exampleId}-${++n}.json`);
          const file = join(this.params.reportDir, rel);
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, JSON.stringify(w.scene.snapshot, null, 1));
          // The ground truth and the judgement beside it, for `npm run replay` (never sent to an unwinder).
          writeFileSync(file.replace(/\.json$/, '.truth.json'), JSON.stringify(truthRecord(w, r, this), null, 1));
          r.snapshotFile = rel;
        }
      }
      walks.push(r);
    }
    return {
      profile: this.profile.name,
      id: this.exampleId,
      name: this.meta.name,
      uri: uriForReport,
      topic: req?.topic ?? tagValue(this.meta.tags, '@topic:')[0] ?? 'unknown',
      requirement: req?.id ?? tagValue(this.meta.tags, '@req:').join(','),
      level: (req?.level ?? 'must') as Level,
      status,
      ...(msg ? { message: msg } : {}),
      walks,
      ...(this.walks.length ? { byKind: this.byKind() } : {}),
      ...(this.sweep || this.shareRecorded ? { sweep: this.sweep ?? this.summary() } : {}),
      durationMs: Date.now() - this.started,
    };
  }

  /** Append the record to worldParameters.resultsFile (one JSON line). */
  writeResult(r: ScenarioResult): void {
    if (!this.params.resultsFile) return;
    mkdirSync(dirname(this.params.resultsFile), { recursive: true });
    appendFileSync(this.params.resultsFile, JSON.stringify(r) + '\n');
  }
}
