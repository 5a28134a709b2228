/**
 * `npm run conformance`: run the features once per profile through Cucumber's JavaScript API,
 * then turn the collected ScenarioResults into verdicts and reports (src/report decides; Cucumber collects).
 */
import type { IRunConfiguration, ISupportCodeLibrary } from '@cucumber/cucumber/api';
import type { Envelope } from '@cucumber/messages';
import { SingleBar, Presets } from 'cli-progress';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'fs';
import { join, relative, resolve } from 'path';
import { Writable } from 'stream';
import { buildConformance, acceptable, type Conformance } from '../src/report/verdict';
import type { Level, ScenarioResult, ScenarioStatus } from '../src/report/results';
import { buildTraceability } from '../src/report/traceability';
import { checkExpectations, expectationsFrom, expectationsText, loadExpectations, regressed } from '../src/report/compare';
import { readResults, writeCrossReports, writeProfileReports } from '../src/report/write';
import { builtinProfile, builtinProfiles, loadProfile } from '../src/unwinders/profiles';
import type { Profile } from '../src/unwinders/types';
import { referenceUnwinder } from '../src/unwinders/registry';
import { setSceneSharing } from '../src/scene';
import { SchemaError } from '../src/schema/validate';
import { generateAllure, keepRequirementFeatures, writeAllureExtras } from './allure';
import { loadCatalogueView, type CatalogueView } from '../src/report/catalogue-view';
import { catalogueScenarios, featureTags, tagValue } from './features';
import { checkFilters, parseOptions, tagExpression, UsageError, type CliOptions } from './options';
import { summaryTable } from './table';
import { checkFileSlots, checkReplaceable, mark, ours, OutDir, reservedName } from './out-dir';

export const ROOT = resolve(__dirname, '..');

export interface Target {
  profile: Profile;
  /** External unwinder command line (plugin protocol). */
  unwinder?: string;
}

/** The world parameters every scenario sees (steps/support/world.ts reads them). */
export interface ConformanceWorldParameters {
  profile: Profile;
  unwinder?: string;
  resultsFile: string;
  /** Where failing walks' snapshots are written; absent in lean runs. */
  reportDir?: string;
  /** Lean run (mutant scoring): no snapshots or stack dumps of failing walks. */
  lean?: boolean;
  validateProtocol?: boolean;
  walkTimeoutMs?: number;
  /** Whether the Allure formatter is on (steps/support/allure.ts adds labels only then). */
  allure: boolean;
}

type Json = Parameters<typeof JSON.stringify>[0];

/** Ask an external unwinder for its profile (its `start` answer), then let it go; the session starts its own. */
async function externalProfile(command: string, o: CliOptions): Promise<Profile> {
  // Loaded lazily: only external runs need the protocol.
  const { startExternalWalker } = require('../src/protocol/external-walker') as typeof import('../src/protocol/external-walker');
  let w: Awaited<ReturnType<typeof startExternalWalker>>;
  try {
    w = await startExternalWalker(command, { validate: o.validateProtocol, ...(o.walkTimeout ? { timeoutMs: o.walkTimeout } : {}) });
  } catch (e) {
    // An unwinder that cannot even say who it is cannot be judged: refused before anything runs.
    throw new UsageError((e as Error).message ?? String(e));
  }
  try {
    // The suite's own analyser judges nothing about a plugin's build: compile-time requirements are not run.
    const { analyser: _ignored, ...profile } = w.profile;
    return profile;
  } finally {
    await w.close();
  }
}

/** Build a --kernel-tree checkout's unwinder into a plugin (under <out>/kernel-tree-build/) and return its command. */
function kernelTreeCommand(o: CliOptions, out: string): string {
  const { buildKernelTree } = require('../src/kerneltree/build') as typeof import('../src/kerneltree/build');
  let b: ReturnType<typeof buildKernelTree>;
  try {
    b = buildKernelTree(o.kernelTree!, join(out, 'kernel-tree-build'), o.kernelArch);
  } catch (e) {
    // Not a kernel checkout, or a tree the shim cannot build: the user's input to fix (exit 2).
    throw new UsageError(`--kernel-tree: ${(e as Error).message}`);
  }
  if (!o.quiet) process.stderr.write(`kernel tree: built ${b.binary} (${b.arch}); headers from the tree: ${b.treeHeaders.join(', ') || 'none'}\n`);
  return b.command;
}

async function targets(o: CliOptions, out: string): Promise<Target[]> {
  const t: Target[] = [];
  if (o.kernelTree) {
    const cmd = kernelTreeCommand(o, out);
    t.push({ profile: await externalProfile(cmd, o), unwinder: cmd });
  }
  if (o.unwinder) t.push({ profile: await externalProfile(o.unwinder, o), unwinder: o.unwinder });
  for (const f of o.profileFile ?? []) t.push({ profile: loadProfile(resolve(f)) });
  for (const n of o.profile ?? []) t.push({ profile: builtinProfile(n) });
  if (!t.length) for (const p of builtinProfiles()) t.push({ profile: p });
  const seen = new Set<string>();
  for (const x of t) {
    // A profile name becomes a folder at the top of --out: never one of the suite's own names.
    if (reservedName(x.profile.name)) throw new UsageError(`profile name ${x.profile.name} is reserved: the suite writes ${x.profile.name} at the top of --out itself; rename the profile`);
    if (seen.has(x.profile.name)) throw new UsageError(`profile ${x.profile.name} given twice: reports would overwrite each other`);
    seen.add(x.profile.name);
    // An in-process profile must name an unwinder that loads, before anything runs.
    if (!x.unwinder) {
      try {
        referenceUnwinder(x.profile);
      } catch (e) {
        throw new UsageError(`profile ${x.profile.name}: ${(e as Error).message}`);
      }
    }
  }
  return t;
}

const nullStream = () => new Writable({ write: (_c, _e, cb) => cb() });

interface PickleInfo {
  name: string;
  uri: string;
  tags: string[];
}

/** Map Cucumber's final status of a test case to a ScenarioStatus (used only when the After hook wrote nothing). */
function statusOf(s: string): ScenarioStatus {
  switch (s) {
    case 'PASSED':
      return 'passed';
    case 'FAILED':
      return 'errored';
    case 'UNDEFINED':
      return 'undefined';
    case 'PENDING':
    case 'SKIPPED':
      return 'skipped';
    default:
      return 'errored';
  }
}

export interface RunOutcome {
  results: ScenarioResult[];
  /** Feature paths (globs) Cucumber was given. */
  paths: string[];
  support: ISupportCodeLibrary;
  success: boolean;
}

/** What runProfile reports progress to: cli-progress's bar on a terminal, LineProgress elsewhere. */
interface Progress {
  start(total: number, value: number, payload?: object): void;
  setTotal(total: number): void;
  update(value: number, payload?: object): void;
  stop(): void;
}

/** Progress for CI logs (no TTY): a line when the profile starts, then at most every few seconds, and at the end. */
class LineProgress implements Progress {
  private total = 0;
  private done = 0;
  private last = 0;
  constructor(
    private readonly label: string,
    private readonly name: string,
    private readonly everyMs = 3000,
  ) {}
  private line(what: string): void {
    process.stderr.write(`${this.label} ${this.name}: ${what}\n`);
    this.last = Date.now();
  }
  start(): void {
    this.line('starting');
  }
  setTotal(n: number): void {
    this.total = n;
  }
  update(done: number): void {
    this.done = done;
    if (Date.now() - this.last >= this.everyMs) this.line(`${done}/${this.total} scenarios`);
  }
  stop(): void {
    this.line(`done, ${this.done}/${this.total} scenarios`);
  }
}

/** Run the features for one profile (Cucumber), returning its scenario results; `loaded` reuses the support code of an earlier run. */
export async function runProfile(
  target: Target,
  dir: string,
  out: string,
  o: CliOptions,
  cat: CatalogueView,
  loaded: ISupportCodeLibrary | undefined,
  bar: Progress | undefined,
): Promise<RunOutcome> {
  // Never delete what the suite did not create (src: cli/out-dir.ts).
  if (existsSync(dir)) {
    if (!ours(dir)) throw new UsageError(`${dir} exists and was not written by this suite: not replacing it`);
    rmSync(dir, { recursive: true, force: true });
  }
  mark(dir);
  mkdirSync(join(dir, 'snapshots'), { recursive: true });
  const resultsFile = join(dir, 'results.ndjson');
  const worldParameters: ConformanceWorldParameters = {
    profile: target.profile,
    ...(target.unwinder ? { unwinder: target.unwinder } : {}),
    resultsFile,
    ...(o.lean ? { lean: true } : { reportDir: dir }),
    ...(o.validateProtocol ? { validateProtocol: true } : {}),
    ...(o.walkTimeout ? { walkTimeoutMs: o.walkTimeout } : {}),
    allure: o.html,
  };
  // Loaded here: a run whose profiles are all judged in worker threads never needs Cucumber in the main thread.
  const { loadConfiguration, runCucumber } = require('@cucumber/cucumber/api') as typeof import('@cucumber/cucumber/api');
  const tags = tagExpression(o);
  const { runConfiguration } = await loadConfiguration({ ...(o.cucumberConfig ? { file: o.cucumberConfig } : {}), provided: { worldParameters: worldParameters as unknown as Record<string, Json> as never, ...(tags ? { tags } : {}) } }, { cwd: ROOT });
  const files: Record<string, string> = o.lean
    ? {}
    : {
        [join(dir, 'cucumber-messages.ndjson')]: 'message',
        [join(dir, 'junit.xml')]: 'junit',
        [join(dir, 'cucumber-summary.txt')]: 'summary',
      };
  if (o.html) files[join(dir, 'allure-reporter.log')] = 'allure-cucumberjs/reporter';
  // Cucumber require()s requireModules from its own folder: make relative ones absolute (from the project root).
  const support = runConfiguration.support;
  if (support.requireModules) support.requireModules = support.requireModules.map((m) => (m.startsWith('.') ? resolve(ROOT, m) : m));
  const config: IRunConfiguration = {
    ...runConfiguration,
    support,
    formats: {
      stdout: 'summary',
      files,
      publish: false,
      options: { ...runConfiguration.formats.options, resultsDir: join(out, 'allure-results'), junit: { suiteName: target.profile.name } },
    },
  };
  // Count pickles and collect their tags, so scenarios the After hook never recorded are still reported.
  const pickles = new Map<string, PickleInfo>();
  const caseToPickle = new Map<string, string>();
  const startedToCase = new Map<string, string>();
  const finalStatus = new Map<string, string>();
  let total = 0;
  let done = 0;
  const onMessage = (m: Envelope) => {
    if (m.pickle) pickles.set(m.pickle.id, { name: m.pickle.name, uri: m.pickle.uri, tags: m.pickle.tags.map((t) => t.name) });
    if (m.testCase) {
      caseToPickle.set(m.testCase.id, m.testCase.pickleId);
      bar?.setTotal(++total);
    }
    if (m.testCaseStarted) startedToCase.set(m.testCaseStarted.id, m.testCaseStarted.testCaseId);
    if (m.testStepFinished) {
      const pid = caseToPickle.get(startedToCase.get(m.testStepFinished.testCaseStartedId) ?? '');
      const s = m.testStepFinished.testStepResult.status;
      if (pid && (finalStatus.get(pid) ?? 'PASSED') === 'PASSED') finalStatus.set(pid, s);
    }
    if (m.testCaseFinished && !m.testCaseFinished.willBeRetried) bar?.update(++done, { profile: target.profile.name });
  };
  const result = await runCucumber(
    { ...config, support: loaded ?? config.support },
    { cwd: ROOT, stdout: nullStream(), stderr: process.stderr },
    onMessage,
  );

  const results = readResults(resultsFile).filter((r) => r.profile === target.profile.name);
  const recorded = new Set(results.map((r) => `${r.uri}\u0000${r.name}`));
  const levelOf = new Map(cat.requirements.map((r) => [r.id, r.level]));
  const ranPickles = new Set(caseToPickle.values());
  for (const [pid, p] of pickles) {
    if (!ranPickles.has(pid)) continue; // filtered out
    if (recorded.has(`${p.uri}\u0000${p.name}`)) continue;
    const req = tagValue(p.tags, 'req') ?? '(untagged)';
    const lv = (['must', 'should', 'may'] as Level[]).find((l) => p.tags.includes(`@${l}`)) ?? levelOf.get(req) ?? 'must';
    const status = statusOf(finalStatus.get(pid) ?? 'SKIPPED');
    results.push({
      profile: target.profile.name,
      id: tagValue(p.tags, 'id') ?? `${p.uri}:${p.name}`,
      name: p.name,
      uri: p.uri,
      topic: tagValue(p.tags, 'topic') ?? '(untagged)',
      requirement: req,
      level: lv,
      status: status === 'passed' ? 'errored' : status,
      message: `no result was recorded by the After hook (Cucumber status ${finalStatus.get(pid) ?? 'unknown'})`,
      walks: [],
      durationMs: 0,
    });
  }
  return { results, paths: runConfiguration.sources.paths, support: result.support, success: result.success };
}

export async function main(argv: readonly string[]): Promise<number> {
  const o = parseOptions(argv);
  const out = resolve(o.out);
  const cat = loadCatalogueView();
  if (cat.problem && !o.quiet) process.stderr.write(`note: requirement catalogue not loaded (${cat.problem}); reports use the scenarios' tags only\n`);
  if (o.unwinder !== undefined && !o.unwinder.trim()) throw new UsageError('--unwinder needs a command line; it was empty');
  if (o.kernelArch && !o.kernelTree) throw new UsageError('--kernel-arch needs --kernel-tree');
  const known = { requirements: cat.requirements.map((r) => r.id), topics: [...new Set(cat.requirements.map((r) => r.topic))] };
  checkFilters(o, known, () => featureTags(join(ROOT, 'features'), ROOT));
  const expected = o.expectations ? loadExpectations(resolve(o.expectations)) : undefined;
  // A second run into the same --out fails here, fast (exit 2).
  const dest = new OutDir(out);
  dest.open();
  // An interrupted run removes only its staging folder: the previous report stays whole.
  const onSignal = (sig: NodeJS.Signals) => {
    dest.close();
    process.stderr.write(`\nconformance: interrupted by ${sig}; the reports in ${out} are unchanged\n`);
    process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143);
  };
  const sigs = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of sigs) process.on(s, onSignal);
  try {
    const list = await targets(o, out);
    // Nothing at <out>/<name> the suite did not write is ever replaced: refused before anything runs.
    for (const t of list) checkReplaceable(out, t.profile.name);
    checkFileSlots(out);
    if (o.html) {
      checkReplaceable(out, 'allure-results', 'allure-results');
      checkReplaceable(out, 'allure-report', 'allure-report');
    }
    return await runAll(o, out, dest, list, cat, expected);
  } finally {
    for (const s of sigs) process.removeListener(s, onSignal);
    dest.close();
  }
}

/** What judging one target gives the cross-profile reports. */
export interface Judged {
  conformance: Conformance;
  featureDirs: string[];
  cucumberBroke: boolean;
}

/** A target and its place in the run (labels count over the whole run). */
export interface Numbered {
  t: Target;
  i: number;
}

/** Arches with several profiles in `list` share one build of each scene; a lone profile keeps sweeps lazy. */
function shareScenes(list: readonly Target[]): void {
  const perArch = new Map<string, number>();
  for (const t of list) perArch.set(t.profile.arch, (perArch.get(t.profile.arch) ?? 0) + 1);
  setSceneSharing([...perArch].filter(([, n]) => n > 1).map(([a]) => a as Profile['arch']));
}

/** Run the features (and --generate) for `items` one after another in this thread, writing each profile's reports under `stage`. */
export async function judgeGroup(items: readonly Numbered[], total: number, stage: string, o: CliOptions, cat: CatalogueView): Promise<Judged[]> {
  shareScenes(items.map((x) => x.t));
  const { generatedResults } = require('./generated') as typeof import('./generated');
  const { closeAllWalkers, externalWalker } = require('../src/conformance/session') as typeof import('../src/conformance/session');
  const filter = tagExpression(o) || undefined;
  const out: Judged[] = [];
  let support: ISupportCodeLibrary | undefined;
  for (const { t, i } of items) {
    const label = `[${i + 1}/${total}]`;
    const bar: Progress | undefined = o.quiet
      ? undefined
      : process.stderr.isTTY
        ? new SingleBar({ format: `${label} {profile} {bar} {value}/{total} scenarios`, hideCursor: true, clearOnComplete: false }, Presets.shades_classic)
        : new LineProgress(label, t.profile.name);
    bar?.start(0, 0, { profile: t.profile.name });
    const dir = join(stage, t.profile.name);
    const r = await runProfile(t, dir, stage, o, cat, support, bar);
    bar?.stop();
    support = r.support;
    const featureDirs = r.paths.map((p) => resolve(ROOT, p.split('*')[0]!.replace(/\/[^/]*\.feature$/, '')));
    const cucumberBroke = !r.results.length && !r.success;
    if (o.generate) {
      const extra = { ...(o.timeBudget ? { budgetMs: o.timeBudget / (o.runArches ?? 1) } : {}), saveDir: dir };
      // A lone in-process profile of its arch gets its programs built and judged across the cores (a
      // time budget keeps them in seed order here: the programs judged must not depend on the machine).
      const alone = !t.unwinder && !o.timeBudget && (o.jobs ?? 1) > 1 && (require('../src/generate/run') as typeof import('../src/generate/run')).GENERATED_ARCHES.includes(t.profile.arch) && items.filter((x) => x.t.profile.arch === t.profile.arch).length === 1;
      const g = alone
        ? await (require('./generated-parallel') as typeof import('./generated-parallel')).generatedResultsParallel(t.profile, o.seed ?? 1, o.generate, o.jobs!, o, extra)
        : await generatedResults(t.profile, t.unwinder ? await externalWalker({ profile: t.profile, unwinder: t.unwinder, ...(o.validateProtocol ? { validateProtocol: true } : {}), ...(o.walkTimeout ? { walkTimeoutMs: o.walkTimeout } : {}) }) : undefined, o.seed ?? 1, o.generate, o, extra);
      r.results.push(...g.results);
      // Saved in the staging folder, which becomes --out when the run ends: print the final paths.
      const final = (f: string) => join(resolve(o.out), relative(stage, f));
      for (const [k, sp] of g.shrunk.entries()) {
        const s = g.saved[k];
        const saved = s ? { ...s, snapshot: final(s.snapshot), spec: final(s.spec), feature: final(s.feature) } : undefined;
        process.stderr.write(`${label} ${t.profile.name}: a generated failure, shrunk${saved ? ` (snapshot ${saved.snapshot}, replay it with npm run replay; spec ${saved.spec} for scripts/generate-replay.ts)` : ''}:\n${sp}\n`);
        process.stderr.write(`${label} ${t.profile.name}: as a Gherkin example (paste it under the Rule named in its first line${saved ? `, or run ${saved.feature}` : ''}):\n${g.gherkin[k]}\n`);
      }
      const judged = `${g.programs}${g.programs < o.generate ? ` of ${o.generate}` : ''} programs${g.budgetSpent ? ` (time budget spent)` : ''}`;
      if (!o.quiet || o.timeBudget) process.stderr.write(`${label} ${t.profile.name}: ${g.note ?? `generated seed ${o.seed ?? 1}: ${judged}, ${g.buildMs > 1 ? `scenes built in ${(g.buildMs / 1000).toFixed(1)} s, ` : ''}${g.walks} walks judged in ${(g.ms / 1000).toFixed(1)} s, ${g.failed} failed scenario results`}\n`);
    }
    const c = buildConformance({
      profile: t.profile,
      requirements: cat.requirements,
      results: r.results,
      ...(cat.applies ? { applies: cat.applies } : {}),
      ...(filter ? { filter } : {}),
      ...(t.unwinder ? { external: { command: t.unwinder } } : {}),
    });
    writeProfileReports(dir, c, { html: o.html });
    out.push({ conformance: c, featureDirs, cucumberBroke });
  }
  await closeAllWalkers();
  return out;
}

/**
 * Split the targets into at most `jobs` groups of about equal work. Profiles of one arch stay together
 * where they can (they share scene builds); an arch is split only when there are fewer arches than jobs.
 */
export function groupTargets(list: readonly Target[], jobs: number): Numbered[][] {
  const byArch = new Map<string, Numbered[]>();
  list.forEach((t, i) => byArch.set(t.profile.arch, [...(byArch.get(t.profile.arch) ?? []), { t, i }]));
  let units = [...byArch.values()];
  // Building an arch's scenes costs about as much as judging two of its profiles.
  const cost = (u: Numbered[]) => 2 + u.length;
  while (units.length < jobs) {
    units.sort((a, b) => b.length - a.length);
    const big = units[0]!;
    if (big.length < 2) break;
    const half = Math.ceil(big.length / 2);
    units = [big.slice(0, half), big.slice(half), ...units.slice(1)];
  }
  const groups: Numbered[][] = Array.from({ length: Math.min(jobs, units.length) }, () => []);
  const load = groups.map(() => 0);
  for (const u of units.sort((a, b) => cost(b) - cost(a))) {
    const k = load.indexOf(Math.min(...load));
    groups[k]!.push(...u);
    load[k]! += cost(u);
  }
  return groups.filter((g) => g.length).map((g) => g.sort((a, b) => a.i - b.i));
}

/** Judge one group in a worker thread (cli/conformance-worker.ts). */
function judgeInWorker(items: Numbered[], total: number, stage: string, o: CliOptions, cat: CatalogueView): Promise<Judged[]> {
  const { Worker } = require('worker_threads') as typeof import('worker_threads');
  const code = `require(${JSON.stringify(join(ROOT, 'scripts', 'ts-register.js'))}); require(${JSON.stringify(join(ROOT, 'cli', 'conformance-worker.ts'))});`;
  const w = new Worker(code, { eval: true, workerData: { items, total, stage, o, requirements: cat.requirements, catalogued: !!cat.applies } });
  return new Promise((resolveJudged, reject) => {
    let answer: { judged?: Judged[]; error?: string; usage?: boolean } | undefined;
    w.on('message', (m: typeof answer) => (answer = m));
    w.on('error', reject);
    w.on('exit', (code) => {
      if (answer?.judged) resolveJudged(answer.judged);
      else if (answer?.error) reject(answer.usage ? new UsageError(answer.error) : new Error(answer.error));
      else reject(new Error(`conformance worker exited (${code}) without an answer`));
    });
  });
}

async function runAll(o: CliOptions, out: string, dest: OutDir, list: Target[], cat: CatalogueView, expected: ReturnType<typeof loadExpectations> | undefined): Promise<number> {
  const stage = dest.staging;
  if (o.html) mark(join(stage, 'allure-results'));
  const filter = tagExpression(o) || undefined;
  // --time-budget is split between the arches of the run.
  o = { ...o, runArches: new Set(list.map((t) => t.profile.arch)).size };
  // Groups of profiles judged in parallel, one worker thread each (--jobs); one group runs here.
  const groups = groupTargets(list, o.jobs ?? 1);
  const judged = (
    groups.length > 1
      ? (await Promise.all(groups.map((g) => judgeInWorker(g, list.length, stage, o, cat)))).flatMap((js, k) => js.map((j, n) => ({ j, i: groups[k]![n]!.i })))
      : (await judgeGroup(groups[0] ?? [], list.length, stage, o, cat)).map((j, n) => ({ j, i: groups[0]![n]!.i }))
  )
    .sort((a, b) => a.i - b.i)
    .map((x) => x.j);
  const conformances = judged.map((j) => j.conformance);
  const cucumberBroke = judged.some((j) => j.cucumberBroke);
  const featureDirs = new Set(judged.flatMap((j) => j.featureDirs));

  if (!featureDirs.size) featureDirs.add(join(ROOT, 'features'));
  const written = [...featureDirs].flatMap((d) => catalogueScenarios(d, ROOT));
  const trace = buildTraceability(cat.requirements, written, conformances);
  writeCrossReports(stage, trace, conformances, { html: o.html });
  let allureNote = '';
  if (o.html) {
    keepRequirementFeatures(join(stage, 'allure-results'));
    writeAllureExtras(join(stage, 'allure-results'), {
      'node': process.version,
      ...Object.fromEntries(conformances.map((c) => [`profile.${c.profile.name}`, `${c.profile.arch} ${c.profile.unwinder}: ${c.verdict}`])),
      ...(filter ? { filter } : {}),
    });
    const a = generateAllure(join(stage, 'allure-results'), join(stage, 'allure-report'));
    if (a.ok) mark(join(stage, 'allure-report'));
    else rmSync(join(stage, 'allure-report'), { recursive: true, force: true });
    allureNote = a.ok ? `Allure report: ${join(out, 'allure-report', 'index.html')}` : `Allure report NOT generated: ${a.message}`;
  }
  // Complete: move everything into place at once.
  dest.publish();

  process.stdout.write('\n' + summaryTable(conformances) + '\n');
  process.stdout.write(`\nReports: ${out}/<profile>/conformance.{json,md${o.html ? ',html' : ''}}, ${out}/traceability.*, ${out}/summary.*\n`);
  if (allureNote) process.stdout.write(allureNote + '\n');
  // Every judged profile counts, reference or not: a port in CI gates on its own verdict.
  const failing = conformances.filter((c) => !acceptable(c));
  if (failing.length) process.stdout.write(`\nNot conformant: ${failing.map((c) => `${c.profile.name}${c.profile.reference ? ' (reference)' : ''} (${c.verdict})`).join(', ')}\n`);
  if (cucumberBroke) process.stdout.write('\nCucumber ran no scenario for at least one profile (see errors above).\n');
  if (o.writeExpectations) {
    writeFileSync(resolve(o.writeExpectations), JSON.stringify(expectationsFrom(conformances), null, 2) + '\n');
    process.stdout.write(`\nExpectations written: ${resolve(o.writeExpectations)}\n`);
  }
  if (expected) {
    // With known failures, the gate is regressions only.
    const checks = checkExpectations(conformances, expected);
    process.stdout.write(`\nAgainst the expectations ${o.expectations}:\n${expectationsText(checks)}\n`);
    return regressed(checks) || cucumberBroke ? 1 : 0;
  }
  return failing.length || cucumberBroke ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      // A usage error is the user's to fix (exit 2); anything else broke the run.
      process.stderr.write(`conformance: ${(e as Error).message ?? String(e)}\n`);
      process.exit(e instanceof UsageError || e instanceof SchemaError ? 2 : 1);
    },
  );
}
