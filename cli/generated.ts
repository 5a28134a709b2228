/**
 * `npm run conformance -- --generate N --seed S`: N generated programs per arch (src/generate), each run to
 * random moments, walked by every selected profile of that arch and judged with the core rule
 * (trace-complete-or-nonzero) and exact-or-unreliable (reliable-trace-in-true-order). Their ScenarioResults
 * (ids `generated-<seed>-<n>`) join the profile's feature results before its conformance record is built.
 * Cases are built once per arch and shared by every profile of it.
 */
import { caseResults, forgetGeneratedImagesBefore, GENERATED_ARCHES, generatedCase, judgeCaseWith, scenarioId, type GeneratedCase, type GeneratedWalker } from '../src/generate/run';
import { generateProgram } from '../src/generate/program';
import type { ScenarioResult } from '../src/report/results';
import type { Arch } from '../src/snapshot/types';
import { failureOf, shrink, shrunkSpec } from '../src/generate/shrink';
import { GENERATED_RULES } from '../src/generate/run';
import { referenceUnwinder } from '../src/unwinders/registry';
import { Budget } from '../src/generate/budget';
import { gherkinExample, saveShrunk, type SavedShrunk } from '../src/generate/artifacts';
import type { Profile } from '../src/unwinders/types';
import type { Walker } from '../src/unwinders/walker';
import type { Rule } from '../src/conformance/expect';

type Built = { c: GeneratedCase; ms: number } | { error: string; id: string };
const cache = new Map<string, { cases: Built[]; budgetSpent: boolean }>();

/**
 * Cases 0, 1, ... of `seed` on `arch`: `count` of them, or fewer when `budgetMs` is spent first (a budgeted
 * run judges a prefix of the seed's programs: the same scenes on any machine, as many as time allows).
 */
function casesFor(arch: Arch, seed: number, count: number, budgetMs?: number): { cases: Built[]; budgetSpent: boolean } {
  const key = `${arch}/${seed}/${count}/${budgetMs ?? ''}`;
  let e = cache.get(key);
  if (!e) {
    const cs: Built[] = [];
    const budget = new Budget(budgetMs);
    let budgetSpent = false;
    for (let n = 0; n < count; n++) {
      forgetGeneratedImagesBefore(n);
      if (budget.spent()) {
        budgetSpent = true;
        break;
      }
      const t0 = performance.now();
      try {
        cs.push({ c: generatedCase(arch, seed, n), ms: performance.now() - t0 });
      } catch (e) {
        // A program the machine cannot run is the generator's bug: reported as an errored scenario, with its seed.
        cs.push({ error: (e as Error).message, id: scenarioId(generateProgram(seed, n)) });
      }
    }
    e = { cases: cs, budgetSpent };
    cache.set(key, e);
  }
  return e;
}

export interface GeneratedRun {
  results: ScenarioResult[];
  walks: number;
  failed: number;
  /** Judging time, and the time spent building this arch's cases (0 once built for an earlier profile). */
  ms: number;
  buildMs: number;
  note?: string;
  /** The first failing case of each rule, shrunk, as a JSON spec with its seed. */
  shrunk: string[];
  /** The same, as printed Gherkin examples, and the files saved (with `save`). */
  gherkin: string[];
  saved: SavedShrunk[];
  /** Programs judged (fewer than asked when the time budget was spent). */
  programs: number;
  budgetSpent: boolean;
}

export interface GeneratedExtra {
  /** --time-budget for this arch's programs (building them; every profile of the arch judges the same ones). */
  budgetMs?: number;
  /** The profile's report folder: shrunk failures are saved under generated/ there. */
  saveDir?: string;
}

/** --requirement / --topic: only the rows they select. */
export function selectedRows(results: ScenarioResult[], only?: { requirement?: string[]; topic?: string[] }): ScenarioResult[] {
  return results.filter((r) => (!only?.requirement?.length || only.requirement.includes(r.requirement)) && (!only?.topic?.length || only.topic.includes(r.topic)));
}

/** A program the machine cannot run is the generator's bug: an errored row per core rule, with its seed. */
export function erroredRows(profile: Profile, seed: number, id: string, error: string): ScenarioResult[] {
  return (
    [
      ['trace-complete-or-nonzero', 'must'],
      ['reliable-trace-in-true-order', 'should'],
    ] as const
  ).map(([requirement, level]) => ({ profile: profile.name, id, name: `generated program ${id} on ${profile.arch}`, uri: `generated/${profile.arch}/seed-${seed}`, topic: 'core-contract', requirement, level, status: 'errored' as const, message: `the generated program could not be run: ${error}`, walks: [], durationMs: 0 }));
}

/** Shrink the failure of `rule` in case `c`, and keep it as a JSON spec, a Gherkin example and (with `saveDir`) saved files. */
export async function shrinkFailure(c: GeneratedCase, rule: Rule, profile: Profile, unwinder: GeneratedWalker, saveDir: string | undefined, out: Pick<GeneratedRun, 'shrunk' | 'gherkin' | 'saved'>): Promise<void> {
  const f = await failureOf(c, unwinder, rule);
  if (!f) return;
  const s = await shrink(c, unwinder, f);
  out.shrunk.push(shrunkSpec(s));
  out.gherkin.push(gherkinExample(s, profile.name));
  if (saveDir) out.saved.push(await saveShrunk(saveDir, s, profile.name, unwinder));
}

/**
 * The generated scenarios of one profile: walked in process, or by `external` (an unwinder judged through
 * the plugin protocol, which also walks every candidate while a failure is shrunk).
 */
export async function generatedResults(profile: Profile, external: Walker | undefined, seed: number, count: number, only?: { requirement?: string[]; topic?: string[] }, extra: GeneratedExtra = {}): Promise<GeneratedRun> {
  if (!GENERATED_ARCHES.includes(profile.arch)) return { results: [], walks: 0, failed: 0, ms: 0, buildMs: 0, shrunk: [], gherkin: [], saved: [], programs: 0, budgetSpent: false, note: `generated programs are not emitted for ${profile.arch} yet` };
  const tb = performance.now();
  const { cases, budgetSpent } = casesFor(profile.arch, seed, count, extra.budgetMs);
  const buildMs = performance.now() - tb;
  const t0 = performance.now();
  const unwinder: GeneratedWalker = external ?? referenceUnwinder(profile);
  const results: ScenarioResult[] = [];
  let walks = 0;
  const shrunk: string[] = [];
  const gherkin: string[] = [];
  const saved: SavedShrunk[] = [];
  const toShrink = new Set(GENERATED_RULES.map((r) => r.rule));
  for (const b of cases) {
    if ('error' in b) {
      results.push(...erroredRows(profile, seed, b.id, b.error));
      continue;
    }
    const t = performance.now();
    const cj = await judgeCaseWith(b.c, unwinder);
    walks += cj.judgements.length;
    results.push(...caseResults(profile, b.c, cj, performance.now() - t + b.ms));
    for (const rule of [...toShrink]) {
      if (cj.firstFailure[rule] < 0) continue;
      toShrink.delete(rule);
      await shrinkFailure(b.c, rule, profile, unwinder, extra.saveDir, { shrunk, gherkin, saved });
    }
  }
  const kept = selectedRows(results, only);
  return { results: kept, walks, failed: kept.filter((r) => r.status !== 'passed').length, ms: performance.now() - t0, buildMs, shrunk, gherkin, saved, programs: cases.length, budgetSpent };
}
