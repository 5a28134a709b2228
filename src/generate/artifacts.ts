/**
 * What a shrunk generated failure leaves behind (issue 13): the minimal scene as a replayable snapshot
 * (`npm run replay -- --unwinder "<command>" <file>`) with its ground truth and judgement beside it, the
 * spec it was built from (arch, seed, program, moment: `scripts/generate-replay.ts`), and a Gherkin
 * example that can be pasted into a feature: it runs with the step definitions of steps/ (the generic
 * step "Given the generated kernel program:" takes the program and moment as a JSON docstring).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hex } from '../machine/addr';
import { judge, type Judgement } from '../oracle/oracle';
import type { Scene } from '../scene/types';
import { loadSnapshot } from '../snapshot/io';
import type { Arch } from '../snapshot/types';
import type { GenProgram } from './program';
import { failureRequirement, GENERATED_ARCHES, kitOf, specOf, walkScene, type GeneratedWalker, type GenMoment } from './run';
import type { Shrunk } from './shrink';


/** What the Gherkin docstring holds: enough to rebuild the scene on its arch (and, for a blocked task with no step, on both). */
export interface GeneratedSceneDoc {
  arch?: Arch;
  seed: number;
  program: GenProgram;
  moment: GenMoment;
}

/** The scene a shrunk failure names. */
export function shrunkScene(s: Pick<Shrunk, 'arch' | 'program' | 'moment'>): Scene {
  return kitOf(s.arch).buildScene(specOf(s.program, s.moment));
}

/** Whether the moment names an instruction boundary by step count (arch-specific), or only the blocked task (either arch). */
export const momentIsArchSpecific = (mo: GenMoment): boolean => mo.step !== undefined;

/** The docstring of the generic step: compact, one function per line. */
export function sceneDocJson(d: GeneratedSceneDoc): string {
  const { functions, ...rest } = d.program;
  const lines = [
    '{',
    ...(d.arch ? [`  "arch": ${JSON.stringify(d.arch)},`] : []),
    `  "seed": ${d.seed},`,
    `  "moment": ${JSON.stringify(d.moment)},`,
    `  "program": {`,
    ...Object.entries(rest).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)},`),
    '    "functions": [',
    ...functions.map((f, i) => `      ${JSON.stringify(f)}${i < functions.length - 1 ? ',' : ''}`),
    '    ]',
    '  }',
    '}',
  ];
  return lines.join('\n');
}

/** Parse (and check) the generic step's docstring. */
export function parseSceneDoc(text: string): GeneratedSceneDoc {
  const d = JSON.parse(text) as GeneratedSceneDoc;
  if (!d || typeof d !== 'object' || !d.program || !Array.isArray(d.program.functions) || typeof d.program.entry !== 'string') throw new Error('the generated program docstring needs {"seed", "moment", "program": {"entry", "functions", "instrument", ...}}');
  if (d.arch !== undefined && !GENERATED_ARCHES.includes(d.arch)) throw new Error(`unknown arch ${String(d.arch)} (generated programs run on ${GENERATED_ARCHES.join(', ')})`);
  if (d.moment?.step !== undefined && !d.arch) throw new Error('a moment at an instruction step is arch-specific: the docstring must name its "arch"');
  d.program.instrument ??= { fgraph: [], kretprobe: [] };
  d.program.expectFindings ??= [];
  d.program.analysable ??= d.program.expectFindings.length === 0;
  return d;
}

const RULE_STEP: Record<string, string> = {
  'complete-or-unreliable': 'Then the trace is complete or reported unreliable',
  'exact-or-unreliable': 'Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable',
};

/**
 * The shrunk failure as a Gherkin example (indented to sit under its Rule), with the Rule's header as a
 * comment. `profile` is the one that failed it. The example is tagged @arch: when its moment is a step
 * count (steps differ between the arches' images).
 */
export function gherkinExample(s: Shrunk, profile: string): string {
  const rule = failureRequirement(s.failure.rule, s.failure.outcome);
  const archTag = momentIsArchSpecific(s.moment) ? ` @arch:${s.arch}` : '';
  const id = `generated-${s.program.id.replace(/[^\w-]+/g, '-')}`;
  const when = s.moment.step === undefined || s.moment.walk === 'preempted' ? 'When a reliable stacktrace is requested for the task' : 'When a reliable stacktrace is requested from the interrupt handler';
  const doc = sceneDocJson({ ...(momentIsArchSpecific(s.moment) ? { arch: s.arch } : {}), seed: s.program.seed, program: s.program, moment: s.moment });
  return [
    `    # under: @req:${rule.requirement} @${rule.level}`,
    `    @id:${id}${archTag}`,
    `    Example: generated program ${s.program.id} (seed ${s.program.seed}), shrunk from size ${s.from} to ${s.to}: ${profile} was ${s.failure.outcome}`,
    '      Given the generated kernel program:',
    '        """json',
    ...doc.split('\n').map((l) => `        ${l}`),
    '        """',
    `      ${when}`,
    `      ${RULE_STEP[s.failure.rule]}`,
  ].join('\n');
}

/** The example inside a feature of its own (Feature, Rule with the requirement's tags): a document Gherkin parses and Cucumber runs. */
export function gherkinFeature(s: Shrunk, profile: string): string {
  const rule = failureRequirement(s.failure.rule, s.failure.outcome);
  return [
    '@topic:core-contract',
    `Feature: A shrunk generated failure (seed ${s.program.seed})`,
    '',
    `  @req:${rule.requirement} @${rule.level}`,
    `  Rule: ${rule.requirement}`,
    '',
    gherkinExample(s, profile).split('\n').slice(1).join('\n'),
    '',
  ].join('\n');
}

export interface SavedShrunk {
  /** The snapshot file (replayable with `npm run replay`), its truth file, the spec and the feature. */
  snapshot: string;
  truth: string;
  spec: string;
  feature: string;
  judgement: Judgement;
}

/** Save a shrunk failure under `dir` (the profile's report folder): generated/<name>.{json,truth.json,spec.json,feature}. */
export async function saveShrunk(dir: string, s: Shrunk, profile: string, unwinder: GeneratedWalker): Promise<SavedShrunk> {
  const scene = shrunkScene(s);
  const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
  const j = judge(snap, scene.truth, await walkScene(unwinder, scene, snap));
  const base = join(dir, 'generated');
  mkdirSync(base, { recursive: true });
  const name = `seed-${s.program.seed}-${s.program.id.replace(/[^\w-]+/g, '-')}-${s.failure.rule}`;
  const snapshot = join(base, `${name}.json`);
  const truth = join(base, `${name}.truth.json`);
  const spec = join(base, `${name}.spec.json`);
  const feature = join(base, `${name}.feature`);
  writeFileSync(snapshot, JSON.stringify(scene.snapshot, null, 1));
  writeFileSync(
    truth,
    JSON.stringify(
      {
        kind: 'reliable-stacktrace ground truth',
        version: 1,
        snapshot: scene.snapshot.id,
        profile,
        scenario: `generated-${s.program.id}`,
        requirement: failureRequirement(s.failure.rule, s.failure.outcome).requirement,
        seed: s.program.seed,
        moment: scene.moment,
        truth: { frames: scene.truth.frames.map((f) => ({ ...f, addr: hex(f.addr) })), ...(scene.truth.redirected ? { redirected: scene.truth.redirected.map((x) => ({ index: x.index, addr: hex(x.addr) })) } : {}) },
        judgement: { outcome: j.outcome, explanation: j.explanation, rc: j.rc, trace: j.trace.map((e) => ({ ...e, addr: hex(e.addr) })) },
        rule: s.failure.rule,
      },
      null,
      1,
    ),
  );
  writeFileSync(spec, JSON.stringify({ arch: s.arch, seed: s.program.seed, program: s.program, moment: s.moment, fails: { rule: s.failure.rule, outcome: s.failure.outcome, profile }, shrunk: { from: s.from, to: s.to, tries: s.tries } }, null, 2));
  writeFileSync(feature, gherkinFeature(s, profile));
  return { snapshot, truth, spec, feature, judgement: j };
}
