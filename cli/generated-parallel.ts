/**
 * `--generate N` for a profile whose arch no other profile of its group shares, without --time-budget:
 * the N programs are built and judged in worker threads (cli/generated-worker.ts), `jobs` shares of
 * them, instead of one after another. Results are those of cli/generated.ts: the same rows in the same
 * order, and the first failing program of each rule (in program order) shrunk and saved here.
 */
import { Worker } from 'worker_threads';
import { join, resolve } from 'path';
import type { ScenarioResult } from '../src/report/results';
import type { Profile } from '../src/unwinders/types';
import type { Rule } from '../src/conformance/expect';
import { selectedRows, shrinkFailure, type GeneratedExtra, type GeneratedRun } from './generated';
import { generatedCase, GENERATED_RULES } from '../src/generate/run';
import { referenceUnwinder } from '../src/unwinders/registry';

const ROOT = resolve(__dirname, '..');

/** What a worker sends back for each program of its share. */
export interface ShareCase {
  n: number;
  results: ScenarioResult[];
  walks: number;
  buildMs: number;
  judgeMs: number;
  /** Rules this program failed (its first failing walk), for shrinking. */
  failedRules: Rule[];
}

function share(profile: Profile, seed: number, ns: number[]): Promise<ShareCase[]> {
  const code = `require(${JSON.stringify(join(ROOT, 'scripts', 'ts-register.js'))}); require(${JSON.stringify(join(ROOT, 'cli', 'generated-worker.ts'))});`;
  const w = new Worker(code, { eval: true, workerData: { profile, seed, ns } });
  return new Promise((res, rej) => {
    let answer: ShareCase[] | undefined;
    w.on('message', (m: ShareCase[]) => (answer = m));
    w.on('error', rej);
    w.on('exit', (c) => (answer ? res(answer) : rej(new Error(`generate worker exited (${c}) without an answer`))));
  });
}

export async function generatedResultsParallel(profile: Profile, seed: number, count: number, jobs: number, only?: { requirement?: string[]; topic?: string[] }, extra: GeneratedExtra = {}): Promise<GeneratedRun> {
  const t0 = performance.now();
  const shares = Array.from({ length: Math.min(jobs, count) }, (_, k) => Array.from({ length: count }, (_, n) => n).filter((n) => n % jobs === k));
  const cases = (await Promise.all(shares.map((ns) => share(profile, seed, ns)))).flat().sort((a, b) => a.n - b.n);
  const ms = performance.now() - t0;
  const results = cases.flatMap((c) => c.results);
  const out: GeneratedRun = { results: [], walks: cases.reduce((t, c) => t + c.walks, 0), failed: 0, ms: 0, buildMs: 0, shrunk: [], gherkin: [], saved: [], programs: count, budgetSpent: false };
  // Shrinking runs here, on the first failing program of each rule (rare: only a failing unwinder has any).
  if (cases.some((c) => c.failedRules.length)) await shrinkFirsts(profile, seed, cases, extra.saveDir, out);
  out.results = selectedRows(results, only);
  out.failed = out.results.filter((r) => r.status !== 'passed').length;
  // The wall time, split between building and judging as the workers' own times were.
  const build = cases.reduce((t, c) => t + c.buildMs, 0);
  out.buildMs = (ms * build) / Math.max(1e-9, build + cases.reduce((t, c) => t + c.judgeMs, 0));
  out.ms = ms - out.buildMs;
  return out;
}

/** The first failing program of each rule, in program order, shrunk as cli/generated.ts does. */
async function shrinkFirsts(profile: Profile, seed: number, cases: ShareCase[], saveDir: string | undefined, out: GeneratedRun): Promise<void> {
  const unwinder = referenceUnwinder(profile);
  const toShrink = new Set(GENERATED_RULES.map((r) => r.rule));
  for (const c of cases) {
    for (const rule of [...toShrink]) {
      if (!c.failedRules.includes(rule)) continue;
      toShrink.delete(rule);
      await shrinkFailure(generatedCase(profile.arch, seed, c.n), rule, profile, unwinder, saveDir, out);
    }
  }
}
