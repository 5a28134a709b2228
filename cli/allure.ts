/**
 * Allure HTML from allure-results with allure-commandline 2.x: one file, so it opens from file://,
 * and no analytics (the HTML template needs ALLURE_NO_ANALYTICS=true, not 1: allure2 PR #3333).
 */
import { spawnSync } from 'child_process';
import { randomUUID } from 'crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { basename, dirname, join, resolve } from 'path';
import { failureGroups, messageLines, pictureHtml, rerunCommand } from '../src/report/conformance-render';
import { page } from '../src/report/html';
import { pictureText } from '../src/report/picture';
import type { Conformance, ScenarioVerdict } from '../src/report/verdict';
import { breachedMusts, effectiveLevel, worstOutcome } from '../src/report/views';

export function allureBin(): string {
  return resolve(__dirname, '..', 'node_modules', '.bin', process.platform === 'win32' ? 'allure.cmd' : 'allure');
}

/**
 * Generate the Allure report. First the results are made to agree with the conformance records
 * (prepareAllureResults), the history of the previous report in `reportDir` is carried over (so
 * trends fill across runs in the same --out) and an executor entry is written.
 */
/** A run of a few seconds: the client compiler only and one GC thread halve the JVM's CPU and wall time (ALLURE_OPTS overrides). */
const SHORT_JVM = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto';

export function generateAllure(resultsDir: string, reportDir: string): { ok: boolean; message: string } {
  if (!existsSync(resultsDir) || !readdirSync(resultsDir).some((f) => f.endsWith('-result.json'))) {
    return { ok: false, message: `no Allure results in ${resultsDir}` };
  }
  prepareAllureResults(resultsDir);
  keepHistory(resultsDir, reportDir);
  writeExecutor(resultsDir, reportDir);
  const bin = allureBin();
  if (!existsSync(bin)) return { ok: false, message: `${bin} not found (allure-commandline)` };
  const r = spawnSync(bin, ['generate', resultsDir, '-o', reportDir, '--clean', '--single-file'], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ALLURE_NO_ANALYTICS: 'true', ALLURE_OPTS: process.env['ALLURE_OPTS'] ?? SHORT_JVM } });
  if (r.status !== 0) return { ok: false, message: (r.stderr || r.stdout || String(r.error ?? 'failed')).trim().slice(0, 500) };
  return { ok: true, message: reportDir };
}

/** Environment and categories shown on the Allure overview (written into allure-results before generating). */
export function writeAllureExtras(resultsDir: string, env: Record<string, string>): void {
  if (!existsSync(resultsDir)) return;
  const prop = (s: string) => s.replace(/[\\=:\n]/g, (c) => (c === '\n' ? ' ' : `\\${c}`));
  writeFileSync(join(resultsDir, 'environment.properties'), Object.entries(env).map(([k, v]) => `${prop(k)}=${prop(v)}`).join('\n') + '\n');
  const categories = [
    { name: 'Unsafe: a reliable trace omitted a live function', messageRegex: '(?s).*\\bunsafe\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Imprecise: duplicated, spurious or inverted entries', messageRegex: '(?s).*\\bimprecise\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Faulted: unsafe memory access', messageRegex: '(?s).*\\bfaulted\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Runaway walk', messageRegex: '(?s).*\\brunaway\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Other failures', matchedStatuses: ['failed'] },
    { name: 'Broken (errored) scenarios', matchedStatuses: ['broken'] },
  ];
  writeFileSync(join(resultsDir, 'categories.json'), JSON.stringify(categories, null, 2) + '\n');
}

/**
 * allure-cucumberjs labels each test with its Gherkin Feature name as `feature`; ours (steps/support/allure.ts)
 * is the requirement. Keep only ours, so the Behaviors tab is topic → requirement and counts each test once.
 */
export function keepRequirementFeatures(resultsDir: string): number {
  let changed = 0;
  if (!existsSync(resultsDir)) return 0;
  for (const f of readdirSync(resultsDir).filter((x) => x.endsWith('-result.json'))) {
    const file = join(resultsDir, f);
    const r = JSON.parse(readFileSync(file, 'utf8')) as { labels?: { name: string; value: string }[] };
    const req = r.labels?.find((l) => l.name === 'requirement')?.value;
    if (!req || !r.labels) continue;
    const before = r.labels.length;
    r.labels = r.labels.filter((l) => l.name !== 'feature' || l.value.startsWith(req));
    if (r.labels.length !== before) {
      writeFileSync(file, JSON.stringify(r));
      changed++;
    }
  }
  return changed;
}

// ------------------------------------------------------------------ results agree with the verdict

interface AllureAttachment {
  name: string;
  source: string;
  type: string;
}
interface AllureResult {
  uuid: string;
  name?: string;
  status?: string;
  statusDetails?: { message?: string; trace?: string; known?: boolean; muted?: boolean; flaky?: boolean };
  labels?: { name: string; value: string }[];
  attachments?: AllureAttachment[];
  steps?: AllureStep[];
  parameters?: { name: string; value: string }[];
}
interface AllureStep {
  status?: string;
  statusDetails?: { message?: string; trace?: string };
  steps?: AllureStep[];
  attachments?: AllureAttachment[];
}

/** A message without the TypeScript stack frames Cucumber appends ("    at fn (file.ts:1:2)") nor the "Error: " prefix. */
export function withoutStackFrames(m: string): string {
  return m
    .split('\n')
    .filter((l) => !/^\s+at\s/.test(l))
    .join('\n')
    .replace(/^(?:[A-Za-z]*Error|ConformanceFailure|NotApplicable): /, '')
    .trimEnd();
}

const STATUS: Record<ScenarioVerdict['status'], string> = {
  passed: 'passed',
  // An assertion of the suite (ConformanceFailure): the unwinder did not meet the requirement.
  failed: 'failed',
  // The harness or the unwinder process broke: not a verdict on the unwinder's walks.
  errored: 'broken',
  'not-applicable': 'skipped',
  'not-run': 'skipped',
  skipped: 'skipped',
  undefined: 'broken',
};

const SEVERITY = { must: 'critical', should: 'normal', may: 'minor' } as const;

/**
 * Rewrite each Allure result from its scenario's record in `<out>/<profile>/conformance.json`: Failed for
 * a failed rule (ConformanceFailure), Broken for an errored scenario, Skipped for one not applicable or
 * that observed nothing; a SHOULD / MAY scenario whose walks break a section-2 MUST is Failed with
 * critical severity. Messages lose their stack frames; a failed scenario gets its pictures (text and HTML),
 * stack dumps, snapshots and ground truth as attachments. Idempotent.
 */
export function prepareAllureResults(resultsDir: string): number {
  const out = dirname(resolve(resultsDir));
  const records = new Map<string, Conformance | null>();
  const record = (profile: string): Conformance | null => {
    if (!records.has(profile)) {
      const f = join(out, profile, 'conformance.json');
      records.set(profile, existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Conformance) : null);
    }
    return records.get(profile)!;
  };
  let changed = 0;
  for (const f of readdirSync(resultsDir).filter((x) => x.endsWith('-result.json'))) {
    const file = join(resultsDir, f);
    const r = JSON.parse(readFileSync(file, 'utf8')) as AllureResult;
    const labels = r.labels ?? [];
    const profile = labels.find((l) => l.name === 'profile')?.value;
    const id = labels.find((l) => l.name === 'tag' && l.value.startsWith('@id:'))?.value.slice(4);
    const c = profile ? record(profile) : null;
    const s = c && id ? c.scenarios.find((x) => x.id === id) : undefined;
    if (r.statusDetails?.message) r.statusDetails.message = withoutStackFrames(r.statusDetails.message);
    if (!c || !s) {
      cleanSteps(r.steps);
      writeFileSync(file, JSON.stringify(r));
      continue;
    }
    const breaches = breachedMusts(s);
    const failed = s.status === 'failed' || (breaches.length > 0 && s.status === 'passed');
    r.status = failed ? 'failed' : STATUS[s.status];
    const lv = effectiveLevel(s);
    r.labels = labels.filter((l) => l.name !== 'severity' && !(l.name === 'tag' && /^(MUST|SHOULD|MAY)$/.test(l.value)));
    r.labels.push({ name: 'severity', value: SEVERITY[lv] }, { name: 'tag', value: lv.toUpperCase() });
    if (lv !== s.level) r.labels.push({ name: 'tag', value: `breaks MUST ${breaches.join(', ')}` });
    if (r.status !== 'passed') {
      const { first, rest } = messageLines(withoutStackFrames(s.message ?? s.status));
      const why = !breaches.length ? '' : s.level === 'must' ? `\n(its walks also break the MUST ${breaches.join(', ')})` : `\n(filed under ${s.level.toUpperCase()} ${s.requirement}; its walks break the MUST ${breaches.join(', ')})`;
      const worst = worstOutcome(s);
      r.statusDetails = {
        // The worst walk named in the message, so Categories (unsafe, imprecise, faulted, runaway) sort it.
        message: `${first}${why}${worst && worst !== 'sound-reliable' && worst !== 'correctly-unreliable' ? `\nworst walk: ${worst}` : ''}`,
        // No stack frames: the walks that broke the rule, and the command that reruns just this scenario.
        trace: [...rest, '', `Rerun: ${rerunCommand(c, s.id)}`].join('\n').trim(),
      };
    }
    cleanSteps(r.steps, r.status === 'failed' || r.status === 'broken' ? r.status : undefined);
    r.attachments = (r.attachments ?? []).filter((a) => !a.name.startsWith('walk '));
    if (failed || s.status === 'errored') r.attachments.push(...walkAttachments(resultsDir, join(out, c.profile.name), s));
    writeFileSync(file, JSON.stringify(r));
    changed++;
  }
  return changed;
}

/** Step messages lose their stack frames; the step that failed takes the test's status (Failed or Broken). */
function cleanSteps(steps: AllureStep[] | undefined, status?: string): void {
  for (const st of steps ?? []) {
    if (st.statusDetails?.message) st.statusDetails.message = withoutStackFrames(st.statusDetails.message);
    if (st.statusDetails?.trace) st.statusDetails.trace = withoutStackFrames(st.statusDetails.trace);
    if (status && (st.status === 'broken' || st.status === 'failed')) st.status = status;
    cleanSteps(st.steps, status);
  }
}

/** The picture (text and HTML), stack dump, snapshot and ground truth of each failure group's first walk. */
function walkAttachments(resultsDir: string, profileDir: string, s: ScenarioVerdict): AllureAttachment[] {
  const out: AllureAttachment[] = [];
  const add = (name: string, type: string, ext: string, body: string) => {
    const source = `${randomUUID()}-attachment.${ext}`;
    writeFileSync(join(resultsDir, source), body);
    out.push({ name, source, type });
  };
  failureGroups(s, 3).forEach((g, i) => {
    const w = g[0]!;
    const n = `walk ${i + 1}${g.length > 1 ? ` (${g.length} walks alike)` : ''}`;
    const points = g.length > 1 ? `\n\nThe same picture at:\n${g.slice(1).map((x) => `  ${x.sceneId}: ${x.moment}`).join('\n')}` : '';
    add(`${n}: picture`, 'text/plain', 'txt', `${w.sceneId}: ${w.moment}\n${w.outcome}: ${w.explanation}\n\n${pictureText(w)}${points}\n`);
    add(`${n}: picture (HTML)`, 'text/html', 'html', page(`${s.id}: ${w.sceneId}`, pictureHtml({ ...w, snapshotFile: undefined } as typeof w)));
    if (w.stackDump?.length) add(`${n}: stack dump`, 'text/plain', 'txt', w.stackDump.map((d) => `${d.addr}: ${d.value}  ${d.note ?? ''}`.trimEnd()).join('\n') + '\n');
    if (w.snapshotFile) {
      const snap = join(profileDir, w.snapshotFile);
      if (existsSync(snap)) add(`${n}: snapshot ${w.snapshotFile}`, 'application/json', 'json', readFileSync(snap, 'utf8'));
      const truth = snap.replace(/\.json$/, '.truth.json');
      if (existsSync(truth)) add(`${n}: ground truth ${w.snapshotFile.replace(/\.json$/, '.truth.json')}`, 'application/json', 'json', readFileSync(truth, 'utf8'));
    }
  });
  return out;
}

// ------------------------------------------------------------------ history and executor

/**
 * Carry the previous report's history into the results, so Allure's trends grow run after run. A
 * --single-file report has no history/ folder: its files are embedded in index.html as
 * d('history/<name>.json','<base64>'), and are taken from there.
 */
export function keepHistory(resultsDir: string, reportDir: string): number {
  const to = join(resultsDir, 'history');
  const files = new Map<string, Buffer>();
  for (const prev of previousReports(reportDir)) {
    const dir = join(prev, 'history');
    if (existsSync(dir)) for (const f of readdirSync(dir)) files.set(f, readFileSync(join(dir, f)));
    const index = join(prev, 'index.html');
    if (!files.size && existsSync(index)) {
      const html = readFileSync(index, 'utf8');
      for (const m of html.matchAll(/d\('history\/([A-Za-z0-9_.-]+\.json)','([A-Za-z0-9+/=]*)'\)/g)) files.set(m[1]!, Buffer.from(m[2]!, 'base64'));
    }
    if (files.size) break;
  }
  if (!files.size) return 0;
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  for (const [f, body] of files) writeFileSync(join(to, f), body);
  return files.size;
}

/**
 * Where the previous report may be: `reportDir` itself, and, when the run writes into a staging folder
 * (`<out>/.conformance-staging-<pid>/allure-report`, cli/out-dir.ts), the report in place at `<out>/allure-report`.
 */
function previousReports(reportDir: string): string[] {
  const parent = dirname(resolve(reportDir));
  const out = [reportDir];
  if (basename(parent).startsWith('.conformance-staging-')) out.push(join(dirname(parent), basename(reportDir)));
  return out;
}

/** executor.json: who ran this (CI build or a local run), numbered after the previous report's builds. */
export function writeExecutor(resultsDir: string, reportDir: string, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  let last = 0;
  for (const f of [join(resultsDir, 'history', 'history-trend.json'), ...previousReports(reportDir).map((d) => join(d, 'history', 'history-trend.json'))]) {
    try {
      const trend = JSON.parse(readFileSync(f, 'utf8')) as { buildOrder?: number }[];
      for (const t of trend) last = Math.max(last, t.buildOrder ?? 0);
    } catch {
      /* no history yet */
    }
  }
  const ci = env.GITHUB_RUN_NUMBER ?? env.CI_PIPELINE_IID ?? env.BUILD_NUMBER;
  const order = ci && /^\d+$/.test(ci) ? Number(ci) : last + 1;
  const url = env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : env.CI_PIPELINE_URL ?? env.BUILD_URL;
  const executor = {
    name: env.GITHUB_ACTIONS ? 'GitHub Actions' : env.GITLAB_CI ? 'GitLab CI' : env.JENKINS_URL ? 'Jenkins' : env.CI ? 'CI' : 'npm run conformance',
    type: env.GITHUB_ACTIONS ? 'github' : env.GITLAB_CI ? 'gitlab' : env.JENKINS_URL ? 'jenkins' : 'local',
    buildOrder: order,
    buildName: `conformance run #${order}`,
    reportName: 'Reliable stacktrace conformance',
    ...(url ? { buildUrl: url } : {}),
  };
  writeFileSync(join(resultsDir, 'executor.json'), JSON.stringify(executor, null, 2) + '\n');
  return executor;
}
