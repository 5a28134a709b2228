/** One worker thread of cli/generated-parallel.ts: builds and judges its share of the generated programs. */
import { parentPort, workerData } from 'worker_threads';
import { caseResults, forgetGeneratedImagesBefore, generatedCase, judgeCase, scenarioId, GENERATED_RULES } from '../src/generate/run';
import { generateProgram } from '../src/generate/program';
import { referenceUnwinder } from '../src/unwinders/registry';
import type { Profile } from '../src/unwinders/types';
import { erroredRows } from './generated';
import type { ShareCase } from './generated-parallel';

const { profile, seed, ns } = workerData as { profile: Profile; seed: number; ns: number[] };
const unwinder = referenceUnwinder(profile);
const out: ShareCase[] = [];
for (const [k, n] of ns.entries()) {
  forgetGeneratedImagesBefore(k);
  const t0 = performance.now();
  let c: ReturnType<typeof generatedCase>;
  try {
    c = generatedCase(profile.arch, seed, n);
  } catch (e) {
    out.push({ n, results: erroredRows(profile, seed, scenarioId(generateProgram(seed, n)), (e as Error).message), walks: 0, buildMs: performance.now() - t0, judgeMs: 0, failedRules: [] });
    continue;
  }
  const buildMs = performance.now() - t0;
  const t1 = performance.now();
  const cj = judgeCase(c, unwinder);
  const judgeMs = performance.now() - t1;
  out.push({ n, results: caseResults(profile, c, cj, judgeMs + buildMs), walks: cj.judgements.length, buildMs, judgeMs, failedRules: GENERATED_RULES.filter(({ rule }) => cj.firstFailure[rule] >= 0).map(({ rule }) => rule) });
}
parentPort!.postMessage(out);
