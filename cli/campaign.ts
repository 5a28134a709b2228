/**
 * `npm run campaign -- --time-budget 10m --seed S`: the nightly-style campaign of issue 13. Generated
 * programs (src/generate) of both arches, in seed order, are judged for the time budget by every reference
 * profile and by every mutant of the catalogue (src/mutants); then each mutant's verdict is built twice,
 * from the feature scenarios alone (what `npm run mutants` scores) and with the generated scenes' results
 * added, and scored both ways.
 *
 * Prints: programs and walks judged; walks and bad walks (unsafe, imprecise, faulted, runaway, errored) per
 * reference profile, which must be zero; the mutants caught only by generated scenes; the catalogue's score
 * with and without them. Exit 1 when a reference profile had a bad walk or a correct mutant failed a MUST.
 *
 * The budget covers the generated phase (building programs and judging them); the features then run once
 * per mutant on top of it, as `npm run mutants` runs them (about 100 s for the catalogue).

 */
import { Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import type { ISupportCodeLibrary } from '@cucumber/cucumber/api';
import { closeAllWalkers } from '../src/conformance/session';
import { Budget } from '../src/generate/budget';
import { caseResults, forgetGenerated, generatedCase, GENERATED_ARCHES, GENERATED_RULES, judgeCase } from '../src/generate/run';
import { CATALOGUE, mutantProfile, type MutantEntry } from '../src/mutants';
import { loadCatalogueView } from '../src/report/catalogue-view';
import type { ScenarioResult } from '../src/report/results';
import { buildConformance } from '../src/report/verdict';
import type { Arch } from '../src/snapshot/types';
import { builtinProfiles } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
import type { Unwinder } from '../src/unwinders/types';
import { generateSeed, timeBudget } from './generate-options';
import { judgeMutant, outcomeTable, scoreLine, type MutantOutcome } from './mutants';
import { runProfile } from './conformance';
import type { CliOptions } from './options';

const GOOD = new Set(['sound-reliable', 'correctly-unreliable', 'undetected-corruption']);
/** Failing generated results kept per mutant and requirement: enough to decide its outcome, bounded in memory. */
const KEEP_FAILURES = 3;

interface CampaignOptions {
  timeBudget: number;
  seed: number;
  out: string;
  json?: string;
  only?: string[];
}

export interface GeneratedPhase {
  programs: Partial<Record<Arch, number>>;
  walks: number;
  /** Per reference profile: walks judged and bad ones (first few described). */
  references: Record<string, { walks: number; bad: number; examples: string[] }>;
  /** Per mutant: the failing generated results kept, and how many programs failed each rule. */
  mutants: Record<string, { results: ScenarioResult[]; failedPrograms: Record<string, number>; walks: number }>;
  seconds: number;
}

/** Judge generated programs of every generated arch (alternating, in seed order) until the budget is spent. */
export function generatedPhase(seed: number, budgetMs: number, mutants: readonly MutantEntry[], log: (s: string) => void = () => {}): GeneratedPhase {
  const budget = new Budget(budgetMs);
  const arches = GENERATED_ARCHES;
  const refs = Object.fromEntries(arches.map((a) => [a, builtinProfiles().filter((p) => p.arch === a && p.reference).map((p) => [p.name, referenceUnwinder(p)] as const)])) as Record<Arch, (readonly [string, Unwinder])[]>;
  const muts = Object.fromEntries(arches.map((a) => [a, mutants.filter((m) => m.arch === a).map((m) => [m, referenceUnwinder(mutantProfile(m))] as const)])) as Record<Arch, (readonly [MutantEntry, Unwinder])[]>;
  const profiles = new Map(mutants.map((m) => [m.id, mutantProfile(m)]));
  const out: GeneratedPhase = { programs: Object.fromEntries(arches.map((a) => [a, 0])), walks: 0, references: {}, mutants: {}, seconds: 0 };
  let lastLog = budget.elapsed();
  for (let n = 0; !budget.spent(); n++) {
    for (const arch of arches) {
      if (budget.spent()) break;
      const c = generatedCase(arch, seed, n);
      out.programs[arch] = (out.programs[arch] ?? 0) + 1;
      for (const [name, u] of refs[arch]) {
        const cj = judgeCase(c, u);
        const r = (out.references[name] ??= { walks: 0, bad: 0, examples: [] });
        cj.judgements.forEach((j, i) => {
          r.walks++;
          out.walks++;
          if (GOOD.has(j.outcome)) return;
          r.bad++;
          if (r.examples.length < 5) r.examples.push(`program ${c.program.id}, ${c.scenes[i]!.scene.moment}: ${j.outcome} (${j.explanation})`);
        });
      }
      for (const [m, u] of muts[arch]) {
        const cj = judgeCase(c, u);
        const e = (out.mutants[m.id] ??= { results: [], failedPrograms: {}, walks: 0 });
        e.walks += cj.judgements.length;
        out.walks += cj.judgements.length;
        if (GENERATED_RULES.every(({ rule }) => cj.firstFailure[rule] < 0)) continue;
        for (const r of caseResults(profiles.get(m.id)!, c, cj, 0)) {
          if (r.status === 'passed') continue;
          e.failedPrograms[r.requirement] = (e.failedPrograms[r.requirement] ?? 0) + 1;
          if (e.results.filter((x) => x.requirement === r.requirement).length < KEEP_FAILURES) e.results.push(r);
        }
      }
    }
    if (n % 100 === 99) forgetGenerated();
    if (budget.elapsed() - lastLog > 30_000) {
      lastLog = budget.elapsed();
      log(`campaign: ${Object.values(out.programs).reduce((a, b) => a + (b ?? 0), 0)} programs, ${out.walks} walks judged, ${(lastLog / 1000).toFixed(0)} s\n`);
    }
  }
  forgetGenerated();
  out.seconds = budget.elapsed() / 1000;
  return out;
}

/** The feature scenarios' results for every mutant (the same run as `npm run mutants`), in process. */
async function featureResults(list: readonly MutantEntry[], out: string, log: (s: string) => void): Promise<Map<string, ScenarioResult[]>> {
  const cat = loadCatalogueView();
  const o: CliOptions = { out, html: false, quiet: true, validateProtocol: false };
  let support: ISupportCodeLibrary | undefined;
  const res = new Map<string, ScenarioResult[]>();
  for (const [i, m] of list.entries()) {
    const profile = mutantProfile(m);
    const r = await runProfile({ profile }, join(out, profile.name), out, o, cat, support, undefined);
    support = r.support;
    res.set(m.id, r.results);
    log(`[${i + 1}/${list.length}] features: ${m.id}\n`);
  }
  await closeAllWalkers();
  return res;
}

export interface CampaignReport {
  seed: number;
  budgetSeconds: number;
  generated: Omit<GeneratedPhase, 'mutants'> & { mutants: Record<string, { failedPrograms: Record<string, number>; walks: number }> };
  without: MutantOutcome[];
  with: MutantOutcome[];
  scoreWithout: string;
  scoreWith: string;
  /** Faulty mutants caught on their named requirement only with generated scenes. */
  caughtOnlyByGenerated: string[];
  /** Faulty mutants the features do not catch on any requirement that generated scenes catch on some. */
  detectedOnlyByGenerated: string[];
  /** Faulty mutants generated scenes catch on some requirement (whatever the features do). */
  detectedByGenerated: string[];
}

function program(): Command {
  return new Command('campaign')
    .description('Judge generated kernel programs for a time budget against every reference profile and the mutant catalogue; score the catalogue with and without them')
    .addOption(new Option('--time-budget <duration>', 'time for the generated phase (60s, 10m, 1h)').argParser(timeBudget).default(600_000, '10m'))
    .addOption(new Option('--seed <s>', 'seed of the generated programs').argParser(generateSeed).default(1))
    .option('--out <dir>', 'report folder of the mutants\' feature runs', '/tmp/campaign-reports')
    .option('--json <file>', 'also write the campaign report as JSON')
    .option('--only <id...>', 'only these mutants')
    .showHelpAfterError();
}

export async function main(argv: readonly string[]): Promise<number> {
  const p = program();
  p.parse([...argv], { from: 'user' });
  const o = p.opts<CampaignOptions>();
  o.out = resolve(o.out);
  mkdirSync(o.out, { recursive: true });
  const list = o.only?.length ? o.only.map((id) => CATALOGUE.find((m) => m.id === id) ?? (() => { throw new Error(`no mutant ${id}`); })()) : [...CATALOGUE];
  const log = (s: string) => process.stderr.write(s);
  const t0 = Date.now();

  log(`campaign seed ${o.seed}: generated programs for ${(o.timeBudget / 1000).toFixed(0)} s against ${builtinProfiles().filter((x) => x.reference).length} reference profiles and ${list.length} mutants\n`);
  const g = generatedPhase(o.seed, o.timeBudget, list, log);

  log(`campaign: generated phase done (${g.walks} walks in ${g.seconds.toFixed(0)} s); the features once per mutant\n`);
  const features = await featureResults(list, o.out, log);

  const cat = loadCatalogueView();
  const without: MutantOutcome[] = [];
  const withGen: MutantOutcome[] = [];
  for (const m of list) {
    const profile = mutantProfile(m);
    const base = features.get(m.id)!;
    const conf = (results: ScenarioResult[]) => buildConformance({ profile, requirements: cat.requirements, results, ...(cat.applies ? { applies: cat.applies } : {}) });
    without.push(judgeMutant(m, conf(base), 0));
    withGen.push(judgeMutant(m, conf([...base, ...(g.mutants[m.id]?.results ?? [])]), 0));
  }
  const sw = scoreLine(without);
  const sg = scoreLine(withGen);
  const byId = new Map(without.map((r) => [r.id, r]));
  const caughtOnly = withGen.filter((r) => r.kind === 'faulty' && r.caughtOnNamed && !byId.get(r.id)!.caughtOnNamed).map((r) => r.id);
  const detectedBy = list.filter((m) => m.kind === 'faulty' && Object.keys(g.mutants[m.id]?.failedPrograms ?? {}).length).map((m) => m.id);
  const detectedOnly = detectedBy.filter((id) => !byId.get(id)!.caughtBy.length);
  const falseAlarms = list.filter((m) => m.kind === 'correct' && g.mutants[m.id]?.results.some((r) => r.level === 'must'));

  const lines: string[] = [];
  const refs = Object.entries(g.references);
  lines.push(`campaign seed ${o.seed}, time budget ${(o.timeBudget / 1000).toFixed(0)} s: ${Object.entries(g.programs).map(([a, k]) => `${k} ${a}`).join(' + ')} generated programs, ${g.walks} walks judged (${refs.reduce((s, [, r]) => s + r.walks, 0)} by reference profiles, the rest by mutants) in ${g.seconds.toFixed(0)} s`);
  lines.push('', 'reference profile   walks      bad walks (unsafe, imprecise, faulted, runaway, errored)');
  for (const [name, r] of refs) {
    lines.push(`${name.padEnd(18)}  ${String(r.walks).padEnd(9)}  ${r.bad}${r.bad ? '  <- MUST be zero' : ''}`);
    for (const e of r.examples) lines.push(`    ${e}`);
  }
  lines.push('', 'mutants, feature scenarios and generated scenes:', outcomeTable(withGen));
  lines.push('', 'faulty mutants generated scenes catch (programs failing, per requirement):');
  for (const id of detectedBy) {
    const fp = g.mutants[id]!.failedPrograms;
    lines.push(`- ${id}: ${Object.entries(fp).map(([req, k]) => `${req} ${k}`).join(', ')}${caughtOnly.includes(id) ? '  (caught on its named requirement only with generated scenes)' : ''}${detectedOnly.includes(id) ? '  (no feature scenario catches it at all)' : ''}`);
  }
  for (const m of falseAlarms) lines.push(`- correct mutant ${m.id} fails a MUST on generated scenes`);
  lines.push('', `mutants caught only by generated scenes (on their named requirement): ${caughtOnly.length ? caughtOnly.join(', ') : 'none'}`);
  lines.push(`mutants detected only by generated scenes (no feature scenario fails them): ${detectedOnly.length ? detectedOnly.join(', ') : 'none'}`);
  lines.push(`without generated scenes (npm run mutants): ${sw.text}`);
  lines.push(`with generated scenes:                      ${sg.text}`);
  lines.push(`campaign took ${((Date.now() - t0) / 1000).toFixed(0)} s; mutant reports in ${o.out}`);
  process.stdout.write(lines.join('\n') + '\n');

  const report: CampaignReport = {
    seed: o.seed,
    budgetSeconds: o.timeBudget / 1000,
    generated: { ...g, mutants: Object.fromEntries(Object.entries(g.mutants).map(([k, v]) => [k, { failedPrograms: v.failedPrograms, walks: v.walks }])) },
    without,
    with: withGen,
    scoreWithout: sw.text,
    scoreWith: sg.text,
    caughtOnlyByGenerated: caughtOnly,
    detectedOnlyByGenerated: detectedOnly,
    detectedByGenerated: detectedBy,
  };
  if (o.json) writeFileSync(resolve(o.json), JSON.stringify(report, null, 1));
  const refBad = refs.some(([, r]) => r.bad > 0);
  return refBad || withGen.some((r) => r.kind === 'correct' && !r.ok) ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`campaign: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(2);
    },
  );
}
